"""Stable error codes, shared by the API, the engine and step-type plugins.

A code never changes meaning once released; new codes are appended. The GraphQL
`ErrorCode` enum is generated from this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class ErrorCode(StrEnum):
    # Requests and access
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    FEATURE_DISABLED = "FEATURE_DISABLED"
    NOT_FOUND = "NOT_FOUND"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # Generic input problems
    REQUIRED = "REQUIRED"
    INVALID_VALUE = "INVALID_VALUE"
    TOO_LONG = "TOO_LONG"
    TOO_MANY = "TOO_MANY"
    DUPLICATE = "DUPLICATE"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    WRONG_FIELD_TYPE = "WRONG_FIELD_TYPE"
    UNKNOWN_ROLE = "UNKNOWN_ROLE"
    UNKNOWN_RECORD_TYPE = "UNKNOWN_RECORD_TYPE"
    UNKNOWN_USER = "UNKNOWN_USER"
    UNKNOWN_TEAM = "UNKNOWN_TEAM"
    UNKNOWN_STAGE = "UNKNOWN_STAGE"
    WRONG_TEAM_KIND = "WRONG_TEAM_KIND"
    OTHER_ORGANIZATION = "OTHER_ORGANIZATION"
    IN_USE = "IN_USE"
    # Step types and their configuration
    UNKNOWN_STEP_TYPE = "UNKNOWN_STEP_TYPE"
    PLUGIN_ERROR = "PLUGIN_ERROR"
    INVALID_CONFIG = "INVALID_CONFIG"
    UNKNOWN_MERGE_FIELD = "UNKNOWN_MERGE_FIELD"
    TEMPLATE_ERROR = "TEMPLATE_ERROR"
    TEMPLATE_TOO_LARGE = "TEMPLATE_TOO_LARGE"
    NOTHING_TO_TEST = "NOTHING_TO_TEST"
    UNKNOWN_CALL_OUTCOME = "UNKNOWN_CALL_OUTCOME"
    CONDITION_WITHOUT_ACTIVITY = "CONDITION_WITHOUT_ACTIVITY"
    CONDITION_WRONG_ACTIVITY = "CONDITION_WRONG_ACTIVITY"
    ADVANCE_IS_FIRST = "ADVANCE_IS_FIRST"
    ADVANCE_HAS_FOLLOWER = "ADVANCE_HAS_FOLLOWER"
    ADVANCE_TARGETS_ITSELF = "ADVANCE_TARGETS_ITSELF"
    ADVANCE_TARGET_NOT_FOUND = "ADVANCE_TARGET_NOT_FOUND"
    ADVANCE_TARGET_INACTIVE = "ADVANCE_TARGET_INACTIVE"
    ADVANCE_TARGET_RECORD_TYPE = "ADVANCE_TARGET_RECORD_TYPE"
    # Sequences: design and lifecycle
    SEQUENCE_ACTIVE = "SEQUENCE_ACTIVE"
    SEQUENCE_INACTIVE = "SEQUENCE_INACTIVE"
    ACTIVE_LIMIT_REACHED = "ACTIVE_LIMIT_REACHED"
    ENDS_WITH_WAIT = "ENDS_WITH_WAIT"
    NO_ACTIVITY = "NO_ACTIVITY"
    TOO_MANY_STEPS = "TOO_MANY_STEPS"
    START_STEP = "START_STEP"
    BRANCH_NOT_AVAILABLE = "BRANCH_NOT_AVAILABLE"
    KEEP_BRANCH_REQUIRED = "KEEP_BRANCH_REQUIRED"
    STEP_HAS_DEPENDENTS = "STEP_HAS_DEPENDENTS"
    INVALID_TREE = "INVALID_TREE"
    CHANGE_DESCRIPTION_REQUIRED = "CHANGE_DESCRIPTION_REQUIRED"
    NO_DRAFT = "NO_DRAFT"
    DRAFT_EXISTS = "DRAFT_EXISTS"
    TAG_NAME_INVALID = "TAG_NAME_INVALID"
    TAG_TOO_DEEP = "TAG_TOO_DEEP"
    TAG_TOO_MANY_CHILDREN = "TAG_TOO_MANY_CHILDREN"
    # Running sequences
    ALREADY_CONNECTED = "ALREADY_CONNECTED"
    NO_ASSIGNEE = "NO_ASSIGNEE"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    WRONG_RECORD_TYPE = "WRONG_RECORD_TYPE"
    RECORD_INACTIVE = "RECORD_INACTIVE"
    CONNECTION_ENDED = "CONNECTION_ENDED"
    ACTIVITY_CLOSED = "ACTIVITY_CLOSED"
    # Bounce messages fed in (docs/email.md, "Bounces")
    NOT_A_DSN = "NOT_A_DSN"
    NO_BOUNCE = "NO_BOUNCE"
    UNKNOWN_MESSAGE = "UNKNOWN_MESSAGE"
    # Inbound messages fed in (docs/email.md, "Out of office: the recipient")
    MAIL_SYSTEM_MESSAGE = "MAIL_SYSTEM_MESSAGE"
    # Abuse limits (docs/security.md)
    QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
    TOO_MANY_SELECTIONS = "TOO_MANY_SELECTIONS"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    TIMEOUT = "TIMEOUT"
    RATE_LIMITED = "RATE_LIMITED"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    # Import documents (docs/transfer.md)
    INVALID_DOCUMENT = "INVALID_DOCUMENT"
    UNSUPPORTED_FORMAT_VERSION = "UNSUPPORTED_FORMAT_VERSION"
    DOCUMENT_TOO_LARGE = "DOCUMENT_TOO_LARGE"
    PLUGIN_TOO_OLD = "PLUGIN_TOO_OLD"
    ADVANCE_CYCLE = "ADVANCE_CYCLE"
    # Requests GraphQL itself refuses (docs/architecture.md, "Mutations and errors")
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    OPERATION_NAME_REQUIRED = "OPERATION_NAME_REQUIRED"
    SUBSCRIPTION_OVER_HTTP = "SUBSCRIPTION_OVER_HTTP"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, a step or a configuration.

    `field` is the path to the offending value (for example `("template", "subject")`);
    `step_key` names the sequence step it concerns, when it concerns one.
    """

    code: ErrorCode
    message: str
    field: tuple[str, ...] = ()
    step_key: str | None = None


class DomainError(Exception):
    """An expected refusal that the API reports as `UserError`s instead of failing."""

    def __init__(self, problems: Problem | Sequence[Problem]):
        self.problems: list[Problem] = (
            [problems] if isinstance(problems, Problem) else list(problems)
        )
        super().__init__("; ".join(p.message for p in self.problems))

    @classmethod
    def of(
        cls, code: ErrorCode, message: str, field: Sequence[str] = (), step_key: str | None = None
    ) -> DomainError:
        return cls(Problem(code, message, tuple(field), step_key))


@dataclass
class ProblemList:
    """Collects problems; `raise_if_any()` turns them into a `DomainError`."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, code: ErrorCode, message: str, field: Sequence[str] = ()) -> None:
        self.problems.append(Problem(code, message, tuple(field)))

    def raise_if_any(self) -> None:
        if self.problems:
            raise DomainError(self.problems)
