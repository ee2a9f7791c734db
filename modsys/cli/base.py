"""The `modsys` group and what every command shares: opening the database
under the production checks, the community acted on, and failing with a message."""

from __future__ import annotations

import sys

import click

from modsys.config import ConfigError, check_production, load_settings


def open_db(settings=None):
    """Engine + session on the configured database, schema created if missing."""
    from modsys.db import create_schema, make_engine, new_session

    settings = settings or load_settings()
    try:
        check_production(settings)  # every process refuses unsafe production settings the same way
    except ConfigError as e:
        fail(str(e))
    engine = make_engine(settings.database_url)
    create_schema(engine)
    return engine, new_session(engine)


def community_of(session, settings):
    from modsys.community import ensure_community

    return ensure_community(session, settings.policy_path)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group()
@click.version_option(package_name="modsys")
def main() -> None:
    """Community moderation and ban-appeal system."""
