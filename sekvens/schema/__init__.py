"""Strawberry types, inputs, enums, scalars and errors, extensions and limits."""
