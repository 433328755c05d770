"""The `sekvens` command: serve, migrate, and organization, user, token and demo administration."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.actions import tokens as token_actions
from sekvens.actions import users as user_actions
from sekvens.cli_transaction import run_in_transaction
from sekvens.config import Settings
from sekvens.domain.roles import Role
from sekvens.domain.scopes import Scope
from sekvens.job_cli import job_command
from sekvens.storage import migrate as migrations
from sekvens.storage import organizations, users
from sekvens.storage.db import Database
from sekvens.storage.tables import Organization, User
from sekvens.transfer.cli import export_command, import_command


def _settings() -> Settings:
    return Settings.from_env()


async def _org(session: AsyncSession, name: str) -> Organization:
    org = await organizations.get_by_name(session, name)
    if org is None:
        raise click.ClickException(f"no organization named '{name}'")
    return org


async def _user(session: AsyncSession, org: Organization, email: str) -> User:
    user = await users.get_by_email(session, org.id, email)
    if user is None:
        raise click.ClickException(f"no user {email} in '{org.name}'")
    return user


@click.group()
def main() -> None:
    """sekvens: a self-hostable sales-sequence service."""
    logging.basicConfig(
        level=_settings().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@main.command()
@click.option("--host", default=None, help="Address to bind (SEKVENS_HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (SEKVENS_PORT, default 8000).")
@click.option("--no-worker", is_flag=True, help="Run no engine worker in this process.")
@click.option("--demo", is_flag=True, help="Load demo data into an empty database first.")
def serve(host: str | None, port: int | None, no_worker: bool, demo: bool) -> None:
    """Serve the GraphQL API."""
    import uvicorn

    from sekvens.app import create_app

    settings = _settings()
    if demo:
        _load_demo_if_empty()
    url = f"http://{host or settings.host}:{port or settings.port}/graphql"
    click.echo(f"sekvens serves {url}")
    uvicorn.run(
        create_app(settings, worker=not no_worker),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
    )


@main.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes; more than 1 needs PostgreSQL.",
)
@click.option("--once", is_flag=True, help="Run until nothing is due now, then exit.")
def worker(concurrency: int, once: bool) -> None:
    """Run engine workers against SEKVENS_DATABASE_URL until SIGTERM or SIGINT."""
    from sekvens.engine import processes

    settings = _settings()
    try:
        processes.check_concurrency(settings, concurrency)
    except processes.SingleWriter as e:
        raise click.UsageError(str(e)) from None
    if concurrency == 1:
        done = asyncio.run(processes.run_worker(settings, once))
        if once:
            click.echo(f"processed {done}")
        return
    sys.exit(processes.supervise(settings, concurrency, once))


def _load_demo_if_empty() -> None:
    from sekvens.demo import DEMO_ORG, has_data, load_demo

    async def work(session: AsyncSession) -> Any:
        if await has_data(session):
            return None
        return await load_demo(session)

    created = run_in_transaction(_settings(), work)
    if created is None:
        click.echo(
            "The database has data already; no demo loaded. A token for the demo administrator:\n"
            f"  sekvens token create --org {DEMO_ORG} --email admin@demo.example"
        )
    else:
        _print_demo(created)


def _print_demo(created: list[Any]) -> None:
    click.echo("Demo organization 'Demo' loaded. Tokens (shown once):")
    for u in created:
        roles = ",".join(r.value for r in u.roles)
        click.echo(f"  {u.email:<26} {roles:<22} {u.token}")


@main.command()
def migrate() -> None:
    """Bring the database to the newest schema."""

    async def main_() -> str | None:
        db = Database(_settings())
        try:
            await migrations.upgrade(db.engine)
            return await migrations.current_revision(db.engine)
        finally:
            await db.dispose()

    click.echo(f"database at revision {asyncio.run(main_())}")


@main.command()
@click.option("--org", "org_name", default="Demo", show_default=True)
def demo(org_name: str) -> None:
    """Create a demo organization with users, teams and records; print a token per user."""
    from sekvens.demo import load_demo

    _print_demo(run_in_transaction(_settings(), lambda s: load_demo(s, org_name)))


@main.group()
def org() -> None:
    """Organizations."""


@org.command("create")
@click.argument("name")
def org_create(name: str) -> None:
    """Create an organization with the default record types."""

    async def work(session: AsyncSession) -> str:
        return (await organizations.create_organization(session, name)).name

    click.echo(f"organization '{run_in_transaction(_settings(), work)}' created")


@main.group()
def user() -> None:
    """Users."""


@user.command("create")
@click.option("--org", "org_name", required=True)
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="Repeat for several roles.",
)
@click.option("--time-zone", default=None)
@click.option("--token", "with_token", is_flag=True, help="Also create an API token and print it.")
def user_create(
    org_name: str,
    email: str,
    name: str,
    roles: tuple[str, ...],
    time_zone: str | None,
    with_token: bool,
) -> None:
    """Create a user (and optionally a token)."""

    async def work(session: AsyncSession) -> str | None:
        organization = await _org(session, org_name)
        created = await user_actions.create_user(
            session, None, organization.id, email, name, roles, time_zone
        )
        if with_token:
            return (await token_actions.create_token(session, None, created.id, "cli"))[1]
        return None

    secret = run_in_transaction(_settings(), work)
    click.echo(f"user {email.strip().lower()} created")
    if secret:
        click.echo(secret)


@user.command("login-link")
@click.option("--email", required=True)
@click.option(
    "--org", "org_name", default=None, help="Needed when several organizations have the address."
)
@click.option(
    "--base-url",
    default=None,
    help="Where the web app is served (default http://SEKVENS_HOST:SEKVENS_PORT).",
)
def user_login_link(email: str, org_name: str | None, base_url: str | None) -> None:
    """Print a one-time sign-in link for a user (works once, for 15 minutes)."""
    from sekvens.actions import login_links

    settings = _settings()

    async def work(session: AsyncSession) -> str:
        if org_name is not None:
            found = [await _user(session, await _org(session, org_name), email)]
        else:
            found = await users.get_all_by_email(session, email)
        if not found:
            raise click.ClickException(f"no user {email}")
        if len(found) > 1:
            raise click.ClickException(
                f"{len(found)} organizations have a user {email}: name one with --org"
            )
        return await login_links.create_login_link(session, found[0])

    code = run_in_transaction(settings, work)
    base = (base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    click.echo(f"{base}/#/sign-in?code={code}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--org", "org_name", required=True)
@click.option("--email", required=True)
@click.option("--name", default="cli", show_default=True)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice([s.value for s in Scope]),
    help="What the token may do (repeat for several; default FULL).",
)
def token_create(org_name: str, email: str, name: str, scopes: tuple[str, ...]) -> None:
    """Create an API token for a user and print it (shown once)."""

    async def work(session: AsyncSession) -> str:
        u = await _user(session, await _org(session, org_name), email)
        chosen = tuple(Scope(s) for s in scopes) or (Scope.FULL,)
        return (await token_actions.create_token(session, None, u.id, name, scopes=chosen))[1]

    click.echo(run_in_transaction(_settings(), work))


@main.command()
def plugins() -> None:
    """List the installed step types and the distributions providing them."""
    from sekvens.plugins.registry import Registry

    settings = _settings()
    registry = Registry.from_entry_points(disabled=settings.disabled_step_types)
    rows = [("KEY", "CATEGORY", "VERSION", "PROVIDED BY")]
    for step_type in registry.all():
        provider = registry.provider(step_type.key)
        by = f"{provider[0]} {provider[1]}" if provider else "-"
        rows.append((step_type.key, step_type.category.value, step_type.version, by))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join([*(row[i].ljust(widths[i]) for i in range(3)), row[3]]))
    if settings.disabled_step_types:
        disabled = ", ".join(settings.disabled_step_types)
        click.echo(f"\ndisabled by SEKVENS_DISABLED_STEP_TYPES: {disabled}")
    if registry.load_errors:
        click.echo(f"\n{len(registry.load_errors)} step type(s) could not be loaded:")
        for error in registry.load_errors:
            click.echo(f"  {error}")


@main.command()
def schema() -> None:
    """Print the GraphQL SDL."""
    from sekvens.graphql_schema import build_schema

    click.echo(build_schema().as_str())


main.add_command(export_command)
main.add_command(import_command)
main.add_command(job_command)


if __name__ == "__main__":
    main()
