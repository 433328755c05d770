"""The words of moving sequences between environments: how an import runs, what it does
with a sequence whose key exists already, and what it does with each sequence."""

from __future__ import annotations

from enum import StrEnum


class ImportMode(StrEnum):
    """DRY_RUN writes nothing and reports exactly what APPLY would do."""

    DRY_RUN = "DRY_RUN"
    APPLY = "APPLY"


class ImportConflictPolicy(StrEnum):
    """What to do with a sequence whose key exists here already."""

    #: Leave the sequence here as it is.
    SKIP = "SKIP"
    #: Replace its steps and properties; an active one gets a draft revision.
    UPDATE = "UPDATE"
    #: Create a copy with a new key.
    COPY = "COPY"


class ImportAction(StrEnum):
    """What an import does with one sequence of the document."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    SKIP = "SKIP"
    COPY = "COPY"
