"""Settings, read from `SEKVENS_*` environment variables, with defaults for a laptop."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

Env = Literal["development", "production"]
#: What stands between sekvens and PostgreSQL: nothing, or a pooler that hands a server
#: connection to a client for one transaction at a time (PgBouncer's pool_mode=transaction).
Pooler = Literal["none", "transaction"]
POOLERS: tuple[Pooler, ...] = ("none", "transaction")


def async_database_url(url: str) -> str:
    """Map plain `sqlite://` and `postgresql://` URLs to the async drivers sekvens uses."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///sekvens.db"
    host: str = "127.0.0.1"
    port: int = 8000
    env: Env = "development"
    log_level: str = "INFO"
    max_body_bytes: int = 1024 * 1024
    page_size_max: int = 100
    #: Abuse limits per GraphQL operation (docs/security.md).
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    #: Tokens of a document sent without a token (such a caller can run nothing but
    #: introspection in development and `__typename`): little parsing and validation.
    max_tokens_anonymous: int = 500
    #: Fields, fragment spreads and inline fragments of a document, counted where spread.
    max_selections: int = 1000
    #: Operations and fragments of a document.
    max_definitions: int = 200
    #: Work budget of validation's check that fields of the same name can be merged.
    max_field_comparisons: int = 20000
    max_cost: int = 20000
    #: Operations per HTTP request; 1 turns batching off.
    max_operations: int = 1
    operation_timeout_seconds: float = 60.0
    #: A JSON file {sha256: document}; when set, only those documents run.
    persisted_queries: str | None = None
    #: Origins a browser may call the API from; empty: no CORS headers at all.
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    #: Token bucket per verified API token (else per client address); 0 turns it off.
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 500
    #: Failed authentications per client address (a stricter bucket); 0 turns it off.
    auth_failures_per_second: float = 0.2
    auth_failures_burst: int = 20
    max_subscriptions_per_connection: int = 20
    disabled_step_types: tuple[str, ...] = field(default_factory=tuple)
    auto_migrate: bool | None = None
    #: Email delivery (docs/email.md): smtp://user:pass@host:port or smtps:// for TLS;
    #: unset keeps automated email in the outbox (status STORED).
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = "sekvens@localhost"
    mail_max_attempts: int = 5
    mail_retry_seconds: int = 60
    smtp_timeout_seconds: float = 30.0
    #: Throttles (docs/email.md#throttles): sends per sending mailbox in any 24 hours and per
    #: organization in any hour; 0: no limit.
    mailbox_daily_limit: int = 300
    org_hourly_limit: int = 500
    #: Pacing: seconds between two sends of one mailbox, so a backlog trickles out instead
    #: of bursting when a window opens; 0: as fast as SMTP takes them.
    mailbox_send_interval_seconds: int = 60
    #: Working days the recipient's auto-reply without a return date pauses a connection
    #: (docs/email.md#out-of-office-the-recipient); 0: it pauses nothing.
    auto_reply_pause_days: int = 5
    #: connectSequenceByFilter over more matching records than this runs as a job (docs/jobs.md).
    job_threshold: int = 1000
    #: The address recipients reach the app at (open pixel, click redirects); unset: no tracking.
    public_url: str | None = None
    #: Signs tracking links; generated next to an SQLite database when unset (docs/email.md).
    secret_key: str | None = field(default=None, repr=False)
    #: How long a verified API token is kept in memory (changes drop it at once); 0: off.
    auth_cache_seconds: float = 60.0
    #: PostgreSQL connections each process keeps open, and how many more it may open at peaks.
    db_pool_size: int = 20
    db_max_overflow: int = 10
    #: Test a pooled connection with a round trip before each use (survives a restarted
    #: database unnoticed); off saves that round trip per request.
    db_pre_ping: bool = True
    #: `transaction`: SEKVENS_DATABASE_URL is a transaction pooler (docs/scaling.md).
    db_pooler: Pooler = "none"
    #: A direct (or session-pooled) URL of the same database, for what needs a session of
    #: its own: LISTEN and the delivery claims' advisory locks. Unset: SEKVENS_DATABASE_URL.
    direct_database_url: str | None = None
    #: Move what start-up built out of the garbage collector's way (gc.freeze) once started.
    gc_freeze: bool = True
    #: Webhooks (docs/webhooks.md): the request timeout, the attempts of a message, the
    #: messages in a row that fail every attempt before an endpoint is disabled, and whether
    #: endpoint URLs may reach loopback and private addresses (tests, local development).
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 8
    webhook_disable_after: int = 5
    webhooks_allow_private: bool = False
    #: Days an ended webhook message, and an ended job with its items, are kept (0: for
    #: ever); idle workers delete older ones (sekvens.engine.housekeeping).
    webhook_retention_days: int = 30
    job_retention_days: int = 30
    #: Serve the reference web app (sekvens/webapp) at `/`; default on in development.
    web_app: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.auto_reply_pause_days <= 60:
            raise ValueError("SEKVENS_AUTO_REPLY_PAUSE_DAYS must be 0 to 60 (working days)")
        if self.webhook_retention_days < 0 or self.job_retention_days < 0:
            raise ValueError(
                "SEKVENS_WEBHOOK_RETENTION_DAYS and SEKVENS_JOB_RETENTION_DAYS must be 0 (keep"
                " for ever) or more"
            )
        if self.job_threshold < 0:
            raise ValueError("SEKVENS_JOB_THRESHOLD must be 0 or more (matching records)")
        if self.db_pooler not in POOLERS:
            raise ValueError("SEKVENS_DB_POOLER must be 'none' or 'transaction'")
        pooled = self.db_pooler == "transaction" and not self.is_sqlite
        if pooled and self.session_database_url == self.database_url:
            raise ValueError(
                "SEKVENS_DB_POOLER=transaction needs SEKVENS_DIRECT_DATABASE_URL: a URL of "
                "the same database that is not transaction-pooled (for LISTEN and locks)"
            )

    @property
    def session_database_url(self) -> str:
        """The URL for work that keeps state in its database session."""
        return self.direct_database_url or self.database_url

    @property
    def async_url(self) -> str:
        return async_database_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.async_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def migrate_on_start(self) -> bool:
        """Migrations run by themselves on the embedded default unless switched off."""
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        e = os.environ if environ is None else environ
        env = e.get("SEKVENS_ENV", "development")
        if env not in ("development", "production"):
            raise ValueError("SEKVENS_ENV must be 'development' or 'production'")
        values: dict[str, Any] = {
            "database_url": e.get("SEKVENS_DATABASE_URL", cls.database_url),
            "host": e.get("SEKVENS_HOST", cls.host),
            "port": int(e.get("SEKVENS_PORT", cls.port)),
            "env": env,
            "log_level": e.get("SEKVENS_LOG_LEVEL", cls.log_level).upper(),
            "max_body_bytes": int(e.get("SEKVENS_MAX_BODY_BYTES", cls.max_body_bytes)),
            "page_size_max": int(e.get("SEKVENS_PAGE_SIZE_MAX", cls.page_size_max)),
            "max_depth": int(e.get("SEKVENS_MAX_DEPTH", cls.max_depth)),
            "max_aliases": int(e.get("SEKVENS_MAX_ALIASES", cls.max_aliases)),
            "max_tokens": int(e.get("SEKVENS_MAX_TOKENS", cls.max_tokens)),
            "max_tokens_anonymous": int(
                e.get("SEKVENS_MAX_TOKENS_ANONYMOUS", cls.max_tokens_anonymous)
            ),
            "max_selections": int(e.get("SEKVENS_MAX_SELECTIONS", cls.max_selections)),
            "max_definitions": int(e.get("SEKVENS_MAX_DEFINITIONS", cls.max_definitions)),
            "max_field_comparisons": int(
                e.get("SEKVENS_MAX_FIELD_COMPARISONS", cls.max_field_comparisons)
            ),
            "max_cost": int(e.get("SEKVENS_MAX_COST", cls.max_cost)),
            "max_operations": int(e.get("SEKVENS_MAX_OPERATIONS", cls.max_operations)),
            "operation_timeout_seconds": float(
                e.get("SEKVENS_OPERATION_TIMEOUT_SECONDS", cls.operation_timeout_seconds)
            ),
            "persisted_queries": e.get("SEKVENS_PERSISTED_QUERIES") or None,
            "cors_origins": tuple(
                o.strip().rstrip("/")
                for o in e.get("SEKVENS_CORS_ORIGINS", "").split(",")
                if o.strip()
            ),
            "rate_limit_per_second": float(
                e.get("SEKVENS_RATE_LIMIT_PER_SECOND", cls.rate_limit_per_second)
            ),
            "rate_limit_burst": int(e.get("SEKVENS_RATE_LIMIT_BURST", cls.rate_limit_burst)),
            "auth_failures_per_second": float(
                e.get("SEKVENS_AUTH_FAILURES_PER_SECOND", cls.auth_failures_per_second)
            ),
            "auth_failures_burst": int(
                e.get("SEKVENS_AUTH_FAILURES_BURST", cls.auth_failures_burst)
            ),
            "max_subscriptions_per_connection": int(
                e.get(
                    "SEKVENS_MAX_SUBSCRIPTIONS_PER_CONNECTION", cls.max_subscriptions_per_connection
                )
            ),
            "disabled_step_types": tuple(
                k.strip() for k in e.get("SEKVENS_DISABLED_STEP_TYPES", "").split(",") if k.strip()
            ),
            "auto_migrate": (
                _bool(e["SEKVENS_AUTO_MIGRATE"]) if "SEKVENS_AUTO_MIGRATE" in e else None
            ),
            "smtp_url": e.get("SEKVENS_SMTP_URL") or None,
            "mail_from": e.get("SEKVENS_MAIL_FROM", cls.mail_from),
            "mail_max_attempts": int(e.get("SEKVENS_MAIL_MAX_ATTEMPTS", cls.mail_max_attempts)),
            "mail_retry_seconds": int(e.get("SEKVENS_MAIL_RETRY_SECONDS", cls.mail_retry_seconds)),
            "smtp_timeout_seconds": float(e.get("SEKVENS_SMTP_TIMEOUT", cls.smtp_timeout_seconds)),
            "mailbox_daily_limit": int(
                e.get("SEKVENS_MAILBOX_DAILY_LIMIT", cls.mailbox_daily_limit)
            ),
            "org_hourly_limit": int(e.get("SEKVENS_ORG_HOURLY_LIMIT", cls.org_hourly_limit)),
            "mailbox_send_interval_seconds": int(
                e.get("SEKVENS_MAILBOX_SEND_INTERVAL", cls.mailbox_send_interval_seconds)
            ),
            "auto_reply_pause_days": int(
                e.get("SEKVENS_AUTO_REPLY_PAUSE_DAYS", cls.auto_reply_pause_days)
            ),
            "job_threshold": int(e.get("SEKVENS_JOB_THRESHOLD", cls.job_threshold)),
            "public_url": (e.get("SEKVENS_PUBLIC_URL") or "").rstrip("/") or None,
            "secret_key": e.get("SEKVENS_SECRET_KEY") or None,
            "auth_cache_seconds": float(
                e.get("SEKVENS_AUTH_CACHE_SECONDS", cls.auth_cache_seconds)
            ),
            "db_pool_size": int(e.get("SEKVENS_DB_POOL_SIZE", cls.db_pool_size)),
            "db_max_overflow": int(e.get("SEKVENS_DB_MAX_OVERFLOW", cls.db_max_overflow)),
            "db_pre_ping": _bool(e.get("SEKVENS_DB_PRE_PING", "1")),
            "db_pooler": e.get("SEKVENS_DB_POOLER", cls.db_pooler).strip().lower(),
            "direct_database_url": e.get("SEKVENS_DIRECT_DATABASE_URL") or None,
            "gc_freeze": _bool(e.get("SEKVENS_GC_FREEZE", "1")),
            "webhook_timeout_seconds": float(
                e.get("SEKVENS_WEBHOOK_TIMEOUT", cls.webhook_timeout_seconds)
            ),
            "webhook_retention_days": int(
                e.get("SEKVENS_WEBHOOK_RETENTION_DAYS", cls.webhook_retention_days)
            ),
            "job_retention_days": int(e.get("SEKVENS_JOB_RETENTION_DAYS", cls.job_retention_days)),
            "webhook_max_attempts": int(
                e.get("SEKVENS_WEBHOOK_MAX_ATTEMPTS", cls.webhook_max_attempts)
            ),
            "webhook_disable_after": int(
                e.get("SEKVENS_WEBHOOK_DISABLE_AFTER", cls.webhook_disable_after)
            ),
            "webhooks_allow_private": _bool(e.get("SEKVENS_WEBHOOKS_ALLOW_PRIVATE", "0")),
            "web_app": _bool(e.get("SEKVENS_WEB_APP", "0" if env == "production" else "1")),
        }
        values.update(overrides)
        return cls(**values)
