"""Setting a database up: schema, first community, staff, demo data, migrations."""

from __future__ import annotations

import sys

import click

from modsys.cli.base import community_of, community_option, fail, main, open_db
from modsys.infra.config import load_settings


@main.command()
def init() -> None:
    """Create the schema on DATABASE_URL and load the policy (MODSYS_POLICY)."""
    from modsys.domain.errors import PolicyError

    settings = load_settings()
    try:
        from modsys.community import ensure_community
        from modsys.infra.migrate import init_database

        init_database(settings.database_url)  # migrates to head (stamps a database built before migrations)
        _, session = open_db(settings)
        community = ensure_community(session, settings.policy_path)
    except PolicyError as e:
        fail(str(e))
    click.echo(f"database ready: {settings.database_url.split('@')[-1]}")
    click.echo(f"community {community.slug!r} on policy {settings.policy_path}")


@main.command("create-user")
@click.argument("name")
@click.option("--role", type=click.Choice(["moderator", "leadership", "admin"]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of generating one.")
@community_option
def create_user(name: str, role: str, password_stdin: bool, community_slug: str | None) -> None:
    """Create a staff account; prints the generated password once."""
    from modsys.domain.actors import CLI
    from modsys.domain.errors import DomainError
    from modsys.services.staff import create_staff, generate_password

    settings = load_settings()
    _, session = open_db(settings)
    community = community_of(session, settings, community_slug)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else generate_password()
    try:
        create_staff(session, CLI, community.id, name, role, password)
    except DomainError as e:
        fail(e.message)
    click.echo(f"created {role} {name!r} in {community.slug}")
    if not password_stdin:
        click.echo(f"password: {password}  (shown once; change it under Password after the first login)")


@main.command()
@community_option
def demo(community_slug: str | None) -> None:
    """Fill an empty database with a believable demo community."""
    from modsys.runtime import demo as demo_mod

    settings = load_settings()
    if settings.env == "production":
        fail("demo data has well-known passwords; it is refused when MODSYS_ENV=production")
    _, session = open_db(settings)
    community = community_of(session, settings, community_slug)
    try:
        logins = demo_mod.fill(session, community)
    except RuntimeError as e:
        fail(str(e))
    click.echo("demo community ready. Staff logins (demo only):")
    for username, role, password in logins:
        click.echo(f"  {username:<8} {role:<11} {password}")


@main.group()
def db() -> None:
    """Schema migrations (Alembic; the scripts ship inside the package)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate DATABASE_URL to REVISION (default: the newest). Safe to run on
    every deploy: one migrator at a time, nothing to do when already there."""
    from sqlalchemy.exc import OperationalError

    from modsys.infra import migrate
    from modsys.infra.logging_setup import configure_logging

    settings = load_settings()
    configure_logging(settings)
    where = settings.database_url.split("@")[-1]  # never the password
    try:
        before, after = migrate.upgrade(settings.database_url, revision)
    except migrate.MigrationError as e:
        fail(str(e))
    except OperationalError as e:
        fail(f"cannot reach the database at {where}: {str(e.orig).strip().splitlines()[0]}")
    click.echo(f"{where}: already at {after}" if before == after else f"{where}: migrated {before or 'empty'} -> {after}")
