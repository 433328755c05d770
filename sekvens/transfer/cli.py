"""`sekvens export` and `sekvens import`: move sequences between environments from a shell.

The commands work on the database of SEKVENS_DATABASE_URL directly, as a user of the
organization: `--as EMAIL`, or else its first active system administrator (then sequence
manager). sekvens.cli registers them on the `sekvens` group.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.cli_transaction import run_in_transaction
from sekvens.config import Settings
from sekvens.domain.roles import Actor, Role
from sekvens.domain.transfer import ImportAction, ImportConflictPolicy, ImportMode
from sekvens.plugins.registry import Registry
from sekvens.progress import ProgressBar
from sekvens.storage import organizations, users
from sekvens.storage.tables import User, UserRole
from sekvens.transfer.document import (
    TransferProblem,
    dumps,
    environment_name,
    max_import_bytes,
    too_large,
)
from sekvens.transfer.export import check_transfer_role, export_document, sequences_by_key
from sekvens.transfer.import_ import ImportReport, import_document

T = TypeVar("T")


def _registry(settings: Settings) -> Registry:
    return Registry.from_entry_points(disabled=settings.disabled_step_types)


async def _actor(session: AsyncSession, org_name: str, email: str | None) -> Actor:
    org = await organizations.get_by_name(session, org_name)
    if org is None:
        raise click.ClickException(f"no organization named '{org_name}'")
    if email is not None:
        user = await users.get_by_email(session, org.id, email)
        if user is None or not user.is_active:
            raise click.ClickException(f"no active user {email} in '{org.name}'")
    else:
        user = None
        for role in (Role.SYSTEM_ADMINISTRATOR, Role.SEQUENCE_MANAGER):
            user = await session.scalar(
                select(User)
                .join(UserRole, UserRole.user_id == User.id)
                .where(User.organization_id == org.id, User.is_active, UserRole.role == role)
                .order_by(User.id)
                .limit(1)
            )
            if user is not None:
                break
        if user is None:
            raise click.ClickException(
                f"'{org.name}' has no system administrator or sequence manager to act as;"
                " create one (sekvens user create) or pass --as EMAIL"
            )
    roles = (await users.roles_of(session, [user.id]))[user.id]
    return Actor(user.id, org.id, frozenset(Role(r) for r in roles))


@click.command("export")
@click.option("--org", "org_name", required=True, help="The organization to export from.")
@click.option(
    "--sequence",
    "keys",
    multiple=True,
    metavar="KEY",
    help="A sequence's stable key; repeat for several.",
)
@click.option("--all", "export_all", is_flag=True, help="Export every sequence.")
@click.option(
    "--no-dependencies",
    is_flag=True,
    help="Leave out the sequences these advance to (the target must have them).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, writable=True),
    default="-",
    help="Write the document here (default: standard output).",
)
@click.option("--as", "as_email", metavar="EMAIL", help="Act as this user of the organization.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar on stderr.")
def export_command(
    org_name: str,
    keys: tuple[str, ...],
    export_all: bool,
    no_dependencies: bool,
    output: str,
    as_email: str | None,
    quiet: bool,
) -> None:
    """Export sequences, with what they depend on, as a JSON document (a progress bar of
    the sequences read on stderr, unless --quiet)."""
    if bool(keys) == export_all:
        raise click.UsageError("name sequences with --sequence KEY, or give --all")

    settings = Settings.from_env()
    registry = _registry(settings)
    bar = None if quiet else ProgressBar("export")

    async def work(session: AsyncSession) -> Any:
        actor = await _actor(session, org_name, as_email)
        check_transfer_role(actor)
        rows = await sequences_by_key(session, actor, None if export_all else list(keys))
        if not rows:
            raise click.ClickException(f"'{org_name}' has no sequences")
        return await export_document(
            session,
            registry,
            actor,
            rows,
            not no_dependencies,
            environment_name(settings),
            progress=bar,
        )

    try:
        document = run_in_transaction(settings, work)
    finally:
        if bar is not None:
            bar.close()
    text = dumps(document)
    if output == "-":
        click.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        click.echo(f"exported {len(document['sequences'])} sequence(s) to {output}", err=True)


def _read(path: str, limit: int) -> bytes | TransferProblem:
    """The file's bytes, or the problem of a file over `limit` (found before reading it)."""
    if path == "-":
        data = sys.stdin.buffer.read(limit + 1)
        return too_large(None, limit) if len(data) > limit else data
    size = os.path.getsize(path)
    if size > limit:
        return too_large(size, limit)
    with open(path, "rb") as f:
        return f.read()


def _print_report(report: ImportReport) -> None:
    counts = ", ".join(
        f"{report.count(a)} {word}"
        for a, word in (
            (ImportAction.CREATE, "to create" if not report.applied else "created"),
            (ImportAction.UPDATE, "to update" if not report.applied else "updated"),
            (ImportAction.SKIP, "to skip" if not report.applied else "skipped"),
            (ImportAction.COPY, "to copy" if not report.applied else "copied"),
        )
    )
    if report.applied:
        click.echo(f"imported: {counts}")
    elif report.ok:
        click.echo(f"dry run, nothing written: {counts}")
    else:
        n = len(report.all_problems())
        click.echo(
            f"nothing imported: {n} problem(s)" + (f"; {counts}" if report.sequences else "")
        )
    width = max((len(r.key) for r in report.sequences), default=0)
    for r in report.sequences:
        notes = [
            note
            for note in (
                "unchanged" if r.unchanged else "",
                f"new key {r.new_key}" if r.new_key else "",
                "activated" if r.activated else "",
            )
            if note
        ]
        extra = f" ({', '.join(notes)})" if notes else ""
        click.echo(f"  {r.action:<6}  {r.key:<{width}}  {r.name}{extra}")
    if report.created_tags:
        click.echo(
            f"tags {'created' if report.applied else 'to create'}: {', '.join(report.created_tags)}"
        )
    for _, p in report.all_problems():
        where = f" ({'.'.join(p.path)})" if p.path else ""
        click.echo(f"error: {p.code.value}{where}: {p.message}", err=True)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--org", "org_name", required=True, help="The organization to import into.")
@click.option("--dry-run", is_flag=True, help="Write nothing; report what an import would do.")
@click.option(
    "--on-conflict",
    type=click.Choice([p.lower() for p in ImportConflictPolicy]),
    default="update",
    show_default=True,
    help="For a sequence whose key exists here already.",
)
@click.option(
    "--activate",
    is_flag=True,
    help="Activate what was active at export; make imported revisions current.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--as", "as_email", metavar="EMAIL", help="Act as this user of the organization.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar on stderr.")
def import_command(
    file: str,
    org_name: str,
    dry_run: bool,
    on_conflict: str,
    activate: bool,
    as_json: bool,
    as_email: str | None,
    quiet: bool,
) -> None:
    """Import a sequences document; exits 1 when it has problems (nothing is written then).
    A progress bar of the sequences written is drawn on stderr, unless --quiet."""

    settings = Settings.from_env()
    registry = _registry(settings)
    bar = None if quiet else ProgressBar("import")

    async def work(session: AsyncSession) -> ImportReport:
        actor = await _actor(session, org_name, as_email)
        limit = max_import_bytes(settings)
        data = _read(file, limit)
        mode = ImportMode.DRY_RUN if dry_run else ImportMode.APPLY
        policy = ImportConflictPolicy(on_conflict.upper())
        if isinstance(data, TransferProblem):
            return ImportReport(mode, policy, activate, [data])
        return await import_document(
            session,
            registry,
            actor,
            data,
            mode=mode,
            on_conflict=policy,
            activate=activate,
            max_bytes=limit,
            progress=bar,
        )

    try:
        report = run_in_transaction(settings, work, keep=lambda r: r.applied)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_report(report)
    if not report.ok:
        sys.exit(1)
