"""Pure product rules: no I/O, no imports from the rest of sekvens."""
