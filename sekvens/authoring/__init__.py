"""Sequence authoring: design, validation, lifecycle, tags and templates, above storage."""
