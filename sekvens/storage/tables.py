"""The tables. One schema for SQLite and PostgreSQL; constraint names follow one convention.

Mapped classes carry no relationships: resolvers load related rows through DataLoaders,
so nothing is ever loaded lazily.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sekvens.domain.assignment import AssignTo
from sekvens.domain.jobs import JobKind, JobStatus
from sekvens.domain.life_cycles import (
    RUNNING,
    ActivityStatus,
    AwayPolicy,
    ConnectionPhase,
    ConnectionReason,
    ConnectionStatus,
    OutboxStatus,
    PauseReason,
    SequenceStatus,
    VersionStatus,
    WaitReason,
)
from sekvens.domain.steps import ActivityKind, Branch, EventKind
from sekvens.domain.suppression import SuppressionSource
from sekvens.domain.teams import TeamKind
from sekvens.domain.webhooks import WebhookMessageStatus
from sekvens.storage.types import Id, Json, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: Json, list[Any]: Json}


def in_list(column: str, values: Iterable[StrEnum]) -> str:
    """SQL that `column` holds one of `values`: "status IN ('CONNECTED', 'PAUSED')"."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def one_of(column: str, enum: type[StrEnum]) -> CheckConstraint:
    """A check that `column` holds a value of `enum` (or null), named after the column."""
    return CheckConstraint(in_list(column, enum), name=column)


def _org_fk() -> Mapped[int]:
    return mapped_column(Id, ForeignKey("organizations.id", ondelete="CASCADE"), index=True)


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (one_of("away_policy", AwayPolicy),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(160), unique=True)
    sequences_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    max_active_sequences: Mapped[int] = mapped_column(Integer, default=250)
    max_steps: Mapped[int] = mapped_column(Integer, default=100)
    skip_non_working_time: Mapped[bool] = mapped_column(Boolean, default=True)
    holidays: Mapped[list[Any]] = mapped_column(default=list)
    default_time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    call_outcomes: Mapped[list[Any]] = mapped_column(default=list)
    monthly_connection_quota: Mapped[int | None] = mapped_column(Integer)
    #: When automated email may go out (`domain.send_windows.SendWindow`); null: any time.
    send_window: Mapped[dict[str, Any] | None] = mapped_column()
    #: The default sender identity of automated email (a user's own fields win).
    sender_name: Mapped[str | None] = mapped_column(String(160))
    sender_address: Mapped[str | None] = mapped_column(String(254))
    reply_to: Mapped[str | None] = mapped_column(String(254))
    signature: Mapped[str | None] = mapped_column(Text)
    #: What an away seller's due activities do (`AwayPolicy`).
    away_policy: Mapped[str] = mapped_column(
        String(16), default=AwayPolicy.DELEGATE, server_default=AwayPolicy.DELEGATE.value
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("organization_id", "email"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(160))
    time_zone: Mapped[str] = mapped_column(String(64))
    working_hours: Mapped[list[Any]] = mapped_column(default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The user's sender identity for automated email (null: the organization's default;
    #: the address is always `email`).
    sender_name: Mapped[str | None] = mapped_column(String(160))
    reply_to: Mapped[str | None] = mapped_column(String(254))
    signature: Mapped[str | None] = mapped_column(Text)
    #: An away period (leave): [away_from, away_until), and who takes their work meanwhile.
    away_from: Mapped[datetime | None] = mapped_column()
    away_until: Mapped[datetime | None] = mapped_column()
    away_delegate_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    #: What the token may do (domain/scopes.py), on top of its user's roles.
    scopes: Mapped[list[Any]] = mapped_column(default=lambda: ["FULL"])


class LoginLink(Base):
    """A one-time sign-in link's code (stored hashed), exchanged once for a session token."""

    __tablename__ = "login_links"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    #: The session token the link was exchanged for.
    token_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("api_tokens.id", ondelete="SET NULL"), index=True
    )


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (
        UniqueConstraint("organization_id", "name"),
        one_of("kind", TeamKind),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    name: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(
        Id, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    team_role: Mapped[str | None] = mapped_column(String(100))


class RecordType(Base):
    __tablename__ = "record_types"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    name: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(160))
    stages: Mapped[list[Any]] = mapped_column(default=list)
    is_builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecordField(Base):
    __tablename__ = "record_fields"
    __table_args__ = (UniqueConstraint("record_type_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    record_type_id: Mapped[int] = mapped_column(
        Id, ForeignKey("record_types.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(160))
    type: Mapped[str] = mapped_column(String(16))
    options: Mapped[list[Any]] = mapped_column(default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Record(Base):
    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("record_type_id", "external_id"),
        CheckConstraint("(owner_user_id IS NULL) OR (owner_team_id IS NULL)", name="one_owner"),
        Index("ix_records_org_type", "organization_id", "record_type_id", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    record_type_id: Mapped[int] = mapped_column(
        Id, ForeignKey("record_types.id", ondelete="CASCADE")
    )
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(400))
    owner_user_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    owner_team_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    access_team_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("teams.id", ondelete="SET NULL")
    )
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stage: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "organization_id", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        Id, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    actor_user_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Id)
    version: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The API token the change came through (null: the engine, the CLI, or a revoked past).
    token_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("api_tokens.id", ondelete="SET NULL")
    )


class Sequence(Base):
    __tablename__ = "sequences"
    __table_args__ = (
        UniqueConstraint("organization_id", "key"),
        one_of("status", SequenceStatus),
        one_of("assign_to", AssignTo),
        Index("ix_sequences_org_status", "organization_id", "status"),
        Index("ix_sequences_org_name", "organization_id", "name"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text, default="")
    #: Name and description case-folded (Unicode-aware, unlike SQLite's lower()) for search.
    search_text: Mapped[str] = mapped_column(Text, default="")
    record_type_id: Mapped[int] = mapped_column(Id, ForeignKey("record_types.id"))
    status: Mapped[str] = mapped_column(String(16), default=SequenceStatus.INACTIVE)
    is_personal: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_user_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    owner_team_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("teams.id", ondelete="SET NULL")
    )
    assign_to: Mapped[str] = mapped_column(String(16), default=AssignTo.RECORD_OWNER)
    assign_field: Mapped[str | None] = mapped_column(String(64))
    member_condition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    exit_on_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    skip_non_working_time: Mapped[bool] = mapped_column(Boolean, default=True)
    #: An automated email due for an opted-out recipient: skip the step (true) or end the
    #: connection with OPTED_OUT (false).
    skip_opted_out_email: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    #: The sequence's own send window; null: the organization's.
    send_window: Mapped[dict[str, Any] | None] = mapped_column()
    #: Exit criteria beyond "replied" (meeting booked, stages, field conditions); null: none.
    exit_criteria: Mapped[dict[str, Any] | None] = mapped_column()
    #: Automatic enrollment (segment) rules; null: none.
    enrollment_rules: Mapped[list[Any] | None] = mapped_column()
    current_version_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("sequence_versions.id", use_alter=True, ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column()


class SequenceVersion(Base):
    __tablename__ = "sequence_versions"
    __table_args__ = (
        UniqueConstraint("sequence_id", "number"),
        one_of("status", VersionStatus),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sequence_id: Mapped[int] = mapped_column(
        Id, ForeignKey("sequences.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=VersionStatus.DRAFT)
    #: The name and description this version gives the sequence: a draft revision's own until
    #: it is activated (the sequence's row keeps what everyone sees); null on rows from before
    #: migration 0005 that had no sequence to copy them from.
    name: Mapped[str | None] = mapped_column(String(160))
    description: Mapped[str | None] = mapped_column(Text)
    change_description: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column()
    activated_by_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL")
    )


class SequenceStep(Base):
    __tablename__ = "sequence_steps"
    __table_args__ = (UniqueConstraint("version_id", "key"), one_of("branch", Branch))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        Id, ForeignKey("sequence_versions.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(160), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parent_key: Mapped[str | None] = mapped_column(String(64))
    branch: Mapped[str | None] = mapped_column(String(8))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    parent_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("tags.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SequenceTag(Base):
    __tablename__ = "sequence_tags"

    sequence_id: Mapped[int] = mapped_column(
        Id, ForeignKey("sequences.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        Id, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SequenceTemplate(Base):
    """An organization's own template: a named set of steps for a record type."""

    __tablename__ = "sequence_templates"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    name: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text, default="")
    record_type: Mapped[str] = mapped_column(String(64))
    steps: Mapped[list[Any]] = mapped_column(default=list)
    created_by_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GridPreference(Base):
    __tablename__ = "grid_preferences"

    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    view: Mapped[str] = mapped_column(String(64), primary_key=True)
    columns: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Connection(Base):
    """One record running through one sequence version."""

    __tablename__ = "connections"
    __table_args__ = (
        Index("ix_connections_sequence_status", "sequence_id", "status"),
        Index("ix_connections_due", "status", "next_run_at"),
        Index("ix_connections_record", "record_id"),
        Index(
            "uq_connections_running",
            "sequence_id",
            "record_id",
            unique=True,
            postgresql_where=text(in_list("status", RUNNING)),
            sqlite_where=text(in_list("status", RUNNING)),
        ),
        one_of("status", ConnectionStatus),
        one_of("reason", ConnectionReason),
        one_of("phase", ConnectionPhase),
        one_of("pause_reason", PauseReason),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    sequence_id: Mapped[int] = mapped_column(Id, ForeignKey("sequences.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(Id, ForeignKey("sequence_versions.id"))
    record_id: Mapped[int] = mapped_column(Id, ForeignKey("records.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ConnectionStatus.CONNECTED)
    reason: Mapped[str | None] = mapped_column(String(40))
    #: What the connection waits for at its current step (`ConnectionPhase`).
    phase: Mapped[str] = mapped_column(String(16), default=ConnectionPhase.EXECUTE)
    step_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: A paused connection resumes by itself then (null: until someone resumes it).
    resume_at: Mapped[datetime | None] = mapped_column()
    #: Why a PAUSED connection is paused (`PauseReason`); null when it runs.
    pause_reason: Mapped[str | None] = mapped_column(String(16))
    current_step_key: Mapped[str | None] = mapped_column(String(64))
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    step_entered_at: Mapped[datetime | None] = mapped_column()
    next_run_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    #: The error code behind an ERROR (e.g. ALREADY_CONNECTED for a refused hand-over).
    error_code: Mapped[str | None] = mapped_column(String(40))
    connected_by_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL")
    )
    #: The enrollment rule that connected it automatically; null: connected by someone.
    enrolled_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()


class Activity(Base):
    """One step instance of one connection: an email, call, task or LinkedIn action."""

    __tablename__ = "activities"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_activities_connection", "connection_id"),
        Index("ix_activities_sequence_step", "sequence_id", "step_key", "status"),
        one_of("status", ActivityStatus),
        one_of("close_reason", ConnectionReason),
        one_of("activity_kind", ActivityKind),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    connection_id: Mapped[int] = mapped_column(Id, ForeignKey("connections.id", ondelete="CASCADE"))
    sequence_id: Mapped[int] = mapped_column(Id, ForeignKey("sequences.id", ondelete="CASCADE"))
    record_id: Mapped[int] = mapped_column(Id, ForeignKey("records.id", ondelete="CASCADE"))
    step_key: Mapped[str] = mapped_column(String(64))
    step_type: Mapped[str] = mapped_column(String(100))
    activity_kind: Mapped[str | None] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(400), default="")
    instructions: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=ActivityStatus.OPEN)
    #: For a CANCELED activity: the reason its connection ended.
    close_reason: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str] = mapped_column(Text, default="")
    proposed_due_at: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    closed_by_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL")
    )
    #: The away seller whose activity this was before it went to their delegate.
    delegated_from_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL")
    )
    message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    #: Unique and set by the writer, so it is the insert sentinel: a flush of many new
    #: activities is one multi-row INSERT ... RETURNING on SQLite too (SQLAlchemy matches
    #: the returned ids to the rows by it; without one it sends an INSERT per row there).
    idempotency_key: Mapped[str] = mapped_column(String(200), insert_sentinel=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ActivityAssignee(Base):
    __tablename__ = "activity_assignees"

    activity_id: Mapped[int] = mapped_column(
        Id, ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class OutboxMessage(Base):
    """An automated email: stored once per step (idempotency key), then delivered."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        UniqueConstraint("message_id"),
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        #: A connection's messages: its wait (`SequenceTarget.waiting`), stats, cancelling.
        Index("ix_outbox_connection", "connection_id"),
        #: The sends counted against the throttles (`Deliverer`).
        Index("ix_outbox_org_sent", "organization_id", "sent_at"),
        one_of("status", OutboxStatus),
        one_of("wait_reason", WaitReason),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    connection_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("connections.id", ondelete="SET NULL")
    )
    #: The insert sentinel, as `Activity.idempotency_key` is.
    idempotency_key: Mapped[str] = mapped_column(String(200), insert_sentinel=True)
    message_id: Mapped[str] = mapped_column(String(200))
    to_address: Mapped[str] = mapped_column(String(254))
    from_address: Mapped[str | None] = mapped_column(String(254))
    #: The sender's display name and Reply-To (sender identity); null: none.
    from_name: Mapped[str | None] = mapped_column(String(160))
    reply_to: Mapped[str | None] = mapped_column(String(254))
    #: The A/B variant of its step the message was made from ("A" to "D"); null: no test.
    variant: Mapped[str | None] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(400))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: An `OutboxStatus`.
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    #: Why a QUEUED message waits for its `next_attempt_at` (`WaitReason`); null: it doesn't.
    wait_reason: Mapped[str | None] = mapped_column(String(32))
    #: The send window's opening or the throttle's free slot the message waited for (its
    #: `Date`); null: sent at once.
    send_after: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SuppressedAddress(Base):
    """An email address the organization never sends automated email to."""

    __tablename__ = "suppressed_addresses"
    __table_args__ = (
        UniqueConstraint("organization_id", "address"),
        one_of("source", SuppressionSource),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    #: Lower-cased and trimmed.
    address: Mapped[str] = mapped_column(String(254))
    source: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(400), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EngagementEvent(Base):
    """What a customer did with an email: delivered, opened, replied, clicked, bounced..."""

    __tablename__ = "engagement_events"
    __table_args__ = (
        UniqueConstraint("organization_id", "event_id"),
        Index("ix_engagement_events_activity", "activity_id", "kind"),
        one_of("kind", EventKind),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        Id, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    activity_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("activities.id", ondelete="SET NULL")
    )
    connection_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("connections.id", ondelete="SET NULL")
    )
    message_id: Mapped[str | None] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(Base):
    """Where an organization's webhooks go (docs/webhooks.md), with the secret that signs them."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(400), default="")
    #: `WebhookEventType` values it wants; empty: every type.
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    #: `whsec_` + base64; signs every message.
    secret: Mapped[str] = mapped_column(String(200))
    #: The secret before the last rotation, which signs too until `previous_secret_until`.
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret_until: Mapped[datetime | None] = mapped_column()
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Why it was disabled (by the deliverer after repeated failure); null when enabled.
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    #: Messages in a row that failed every attempt; a delivered one resets it.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookMessage(Base):
    """One event for one endpoint: written in the transaction of the change it tells of,
    then delivered (`engine/webhooks.py`); also the endpoint's delivery log."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        UniqueConstraint("message_id"),
        Index("ix_webhook_messages_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_messages_endpoint", "endpoint_id", "id"),
        one_of("status", WebhookMessageStatus),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    endpoint_id: Mapped[int] = mapped_column(
        Id, ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    #: `msg_...`: the `webhook-id` header, the same on every attempt.
    message_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    #: The event's `data`.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: When the event happened: the body's `timestamp`.
    occurred_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=WebhookMessageStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    response_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A large operation run in chunks by the workers, with its progress (`domain.jobs`)."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        one_of("kind", JobKind),
        one_of("status", JobStatus),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = _org_fk()
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    #: What to do (the mutation's input, as the job needs it).
    input: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Where to go on: written with each chunk, so a restarted job never does a thing twice.
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    total: Mapped[int | None] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    #: Skipped items by reason (code -> count).
    skipped: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The first errors (a few), each {index or id, code, message}.
    errors: Mapped[list[Any]] = mapped_column(default=list)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Why a FAILED job stopped.
    error: Mapped[str | None] = mapped_column(Text)
    #: The job's result when it has one (an import's report).
    result: Mapped[dict[str, Any] | None] = mapped_column()
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    #: The running worker's last sign of life (a job whose heartbeat stops is taken over).
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class JobItem(Base):
    """One item of a job that takes its items from its caller (a record sync), with its
    result once a chunk has done it: the per-item results of the job."""

    __tablename__ = "job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "position"),
        Index("ix_job_items_job_external", "job_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    job_id: Mapped[int] = mapped_column(Id, ForeignKey("jobs.id", ondelete="CASCADE"))
    #: The item's index in what the caller sent (0-based).
    position: Mapped[int] = mapped_column(Integer)
    #: The item's key (a record's external id), to find what a full sync did not hold.
    external_id: Mapped[str | None] = mapped_column(String(200))
    input: Mapped[dict[str, Any]] = mapped_column(default=dict)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    record_id: Mapped[int | None] = mapped_column(Id, ForeignKey("records.id", ondelete="SET NULL"))
    created: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The item's problems, each {code, message, field}; empty when it was done.
    problems: Mapped[list[Any]] = mapped_column(default=list)
