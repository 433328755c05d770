"""sekvens: a self-hostable sales-sequence service."""

__version__ = "0.1.0"
