"""Strawberry types, inputs, enums, scalars and errors, and the schema assembly."""
