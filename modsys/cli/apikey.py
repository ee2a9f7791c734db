"""API keys for bots and integrations."""

from __future__ import annotations

import click

from modsys.cli.base import community_of, community_option, fail, main, open_db
from modsys.infra.config import load_settings


@main.group()
def apikey() -> None:
    """API keys for bots and integrations (see modsys/services/api_keys.py)."""


@apikey.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["reporter", "moderator", "leadership"]), required=True)
@click.option("--staff", "acts_as", metavar="USERNAME", help="The staff user a moderator/leadership key acts as.")
@community_option
def apikey_create(name: str, role: str, acts_as: str | None, community_slug: str | None) -> None:
    """Issue a key; prints it once."""
    from modsys.domain.actors import CLI
    from modsys.domain.errors import DomainError
    from modsys.services.api_keys import create_api_key

    settings = load_settings()
    _, session = open_db(settings)
    try:
        key, plaintext = create_api_key(session, CLI, community_of(session, settings, community_slug).id, name, role, acts_as)
    except DomainError as e:
        fail(e.message)
    click.echo(f"created {role} key #{key.id} {name!r}" + (f" acting as {acts_as}" if acts_as else ""))
    click.echo(f"key: {plaintext}  (shown once; send it as 'Authorization: Bearer <key>')")


@apikey.command("list")
@community_option
def apikey_list(community_slug: str | None) -> None:
    """List keys (prefix only; the keys themselves are not stored)."""
    from modsys.domain.actors import CLI
    from modsys.services.api_keys import list_api_keys

    settings = load_settings()
    _, session = open_db(settings)
    for k in list_api_keys(session, CLI, community_of(session, settings, community_slug).id):
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        who = f"as {k.acts_as}" if k.acts_as else f"by {k.issued_by or 'cli'}"
        click.echo(f"#{k.id:<4} {k.prefix}…  {k.name:<24} {k.role:<10} {who:<20} {state}")


@apikey.command("revoke")
@click.argument("key_id", type=int)
@community_option
def apikey_revoke(key_id: int, community_slug: str | None) -> None:
    """Revoke a key; it stops working at once."""
    from modsys.domain.actors import CLI
    from modsys.domain.errors import DomainError
    from modsys.services.api_keys import revoke_api_key

    settings = load_settings()
    _, session = open_db(settings)
    try:
        key = revoke_api_key(session, CLI, key_id, community_of(session, settings, community_slug).id)
    except DomainError as e:
        fail(e.message)
    click.echo(f"revoked key #{key.id} {key.name!r}")
