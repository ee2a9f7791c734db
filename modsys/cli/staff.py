"""Staff accounts at the command line: an operator resets a password."""

from __future__ import annotations

import click

from modsys.cli.base import community_of, community_option, fail, main, open_db
from modsys.infra.config import load_settings


@main.group()
def staff() -> None:
    """Staff accounts."""


@staff.command("reset-password")
@click.argument("name")
@community_option
def reset_password(name: str, community_slug: str | None) -> None:
    """Give NAME a generated password (printed once); their sessions end. Audited."""
    from modsys.domain.actors import CLI
    from modsys.domain.errors import DomainError
    from modsys.services.staff import find_staff
    from modsys.services.staff import reset_password as reset

    settings = load_settings()
    _, session = open_db(settings)
    community = community_of(session, settings, community_slug)
    user = find_staff(session, community.id, name)
    if user is None:
        fail(f"no staff account {name!r} in {community.slug}")
    try:
        _, password = reset(session, CLI, user.id)
    except DomainError as e:
        fail(e.message)
    click.echo(f"password of {name!r} in {community.slug} reset; their sessions were logged out")
    click.echo(f"password: {password}  (shown once; they change it under Password after logging in)")
