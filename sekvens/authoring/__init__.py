"""Sequence authoring: design, validation, lifecycle and templates, above storage."""
