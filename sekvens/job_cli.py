"""`sekvens job watch ID`: follow a job's progress (docs/jobs.md) with a progress bar until it
ends; exits 0 when it SUCCEEDED, 1 when it FAILED or was CANCELED."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

import click

from sekvens.config import Settings
from sekvens.domain.global_ids import from_global_id
from sekvens.engine.jobs import ENDED
from sekvens.progress import BAR_WIDTH, gauge
from sekvens.storage.db import Database
from sekvens.storage.tables import Job


def progress_line(job: Job, width: int = BAR_WIDTH) -> str:
    """One line: status, a bar of done and skipped against the total, and the counts."""
    skipped = sum((job.skipped or {}).values())
    handled = job.done + skipped + job.error_count
    total = max(job.total or 0, handled)
    line = (
        f"{job.status:<9} {gauge(handled, total, job.status in ENDED, width)}"
        f" {handled}/{total if job.total is not None else '?'}"
        f" done {job.done} skipped {skipped} errors {job.error_count}"
    )
    if skipped:
        line += " (" + ", ".join(f"{c} {n}" for c, n in sorted(job.skipped.items())) + ")"
    return line


def job_id(text: str) -> int:
    """A job's id: its number, or its global id as the API gives it."""
    if text.isdigit():
        return int(text)
    kind, pk = from_global_id(text)
    if kind != "Job" or not pk.isdigit():
        raise click.BadParameter(f"'{text}' is no job id", param_hint="ID")
    return int(pk)


async def watch(
    settings: Settings, pk: int, interval: float, show: Callable[[Job], None]
) -> Job | None:
    """Read the job every `interval` seconds, `show` it when it changed; returns it once it
    has ended (None: no such job)."""
    db = Database(settings)
    seen: tuple[object, ...] | None = None
    try:
        while True:
            async with db.session() as session:
                job = await session.get(Job, pk)
            if job is None:
                return None
            state = (job.status, job.done, job.error_count, job.total, dict(job.skipped or {}))
            if state != seen:
                show(job)
                seen = state
            if job.status in ENDED:
                return job
            await asyncio.sleep(interval)
    finally:
        await db.dispose()


@click.group("job")
def job_command() -> None:
    """Jobs: large operations the workers run in chunks."""


@job_command.command("watch")
@click.argument("id_", metavar="ID")
@click.option("--interval", type=float, default=1.0, show_default=True, help="Seconds.")
def watch_command(id_: str, interval: float) -> None:
    """Show a job's progress until it ends; exit 1 if it FAILED or was CANCELED."""
    tty = sys.stdout.isatty()
    started = time.monotonic()

    def show(job: Job) -> None:
        line = progress_line(job)
        if tty:  # one line, redrawn
            click.echo("\r" + line, nl=job.status in ENDED)
        else:
            click.echo(line)

    job = asyncio.run(watch(Settings.from_env(), job_id(id_), interval, show))
    if job is None:
        raise click.ClickException(f"no job {id_}")
    if job.error:
        click.echo(f"error: {job.error}", err=True)
    click.echo(f"{job.status} after {time.monotonic() - started:.1f}s")
    if job.status != "SUCCEEDED":
        sys.exit(1)
