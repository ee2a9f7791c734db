"""The `modsys` group and what every command shares: opening the database
under the production checks, the community acted on, and failing with a message."""

from __future__ import annotations

import sys

import click

from modsys.infra.config import (
    ConfigError,
    bind_settings,
    check_production,
    load_settings,
)


def open_db(settings=None):
    """Engine + session on the configured database, whose schema must be this
    code's (`modsys init` / `modsys db upgrade` make it so; nothing else does)."""
    from sqlalchemy.exc import OperationalError

    from modsys.infra.db import make_engine, new_session
    from modsys.infra.migrate import MigrationError, require_head

    settings = settings or load_settings()
    try:
        check_production(settings)  # every process refuses unsafe production settings the same way
    except ConfigError as e:
        fail(str(e))
    engine = make_engine(settings.database_url)
    bind_settings(engine, settings)  # the services read this same object (modsys.infra.config.settings_of)
    try:
        require_head(engine)
    except MigrationError as e:
        fail(str(e))
    except OperationalError as e:
        fail(f"cannot reach the database at {settings.database_url.split('@')[-1]}: "
             f"{str(e.orig).strip().splitlines()[0]}")
    session = new_session(engine)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # the command's connection ends with it, also when run in-process (CliRunner)
        ctx.call_on_close(engine.dispose)
        ctx.call_on_close(session.close)  # runs first (last registered, first called)
    return engine, session


def community_of(session, settings, slug: str | None = None):
    """The community a command acts on: `--community SLUG`, else the only one. On a
    database with none yet, the default community is created from MODSYS_POLICY."""
    from modsys.community import choose_community
    from modsys.domain.errors import DomainError

    try:
        return choose_community(session, slug, settings.policy_path)
    except DomainError as e:
        fail(e.message)


def community_option(fn):
    """`--community SLUG` for a command that acts on one community."""
    return click.option("--community", "community_slug", metavar="SLUG", default=None,
                        help="The community to act on (default: the only one).")(fn)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group()
@click.version_option(package_name="modsys")
def main() -> None:
    """Community moderation and ban-appeal system."""
