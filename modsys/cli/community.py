"""`modsys community ...`: the communities one deployment serves, each with its
own policy file, staff, API keys, webhooks and data."""

from __future__ import annotations

from pathlib import Path

import click

from modsys.cli.base import fail, main, open_db
from modsys.infra.config import load_settings


@main.group()
def community() -> None:
    """Communities served by this deployment."""


@community.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="The name staff and members see.")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Its policy file (default: MODSYS_POLICY).")
@click.option("--guild-id", help="The Discord server (guild) id it moderates.")
def community_create(slug: str, name: str, policy_path: Path | None, guild_id: str | None) -> None:
    """Add the community SLUG."""
    from modsys.domain.actors import CLI
    from modsys.domain.errors import DomainError, PolicyError
    from modsys.services.communities import create_community

    settings = load_settings()
    _, session = open_db(settings)
    try:
        created = create_community(session, CLI, slug, name, policy_path or settings.policy_path, guild_id)
    except (DomainError, PolicyError) as e:
        fail(getattr(e, "message", str(e)))
    click.echo(f"community {created.slug!r} ({created.name}) created on policy {created.policy_path}")


@community.command("list")
def community_list() -> None:
    """Every community: slug, name, Discord server, policy file."""
    from modsys.community import all_communities

    _, session = open_db()
    for c in all_communities(session):
        click.echo(f"{c.slug:<20} {c.name:<30} guild={c.discord_guild_id or '-':<20} {c.policy_path}")


@community.command("set-guild")
@click.argument("slug")
@click.argument("guild_id")
def community_set_guild(slug: str, guild_id: str) -> None:
    """Bind community SLUG to the Discord server GUILD_ID ("-" unbinds it)."""
    from modsys.community import by_slug
    from modsys.domain.actors import CLI
    from modsys.domain.errors import DomainError
    from modsys.services.communities import set_guild

    _, session = open_db()
    try:
        target = by_slug(session, slug)
        set_guild(session, CLI, target.id, None if guild_id == "-" else guild_id)
    except DomainError as e:
        fail(e.message)
    click.echo(f"community {slug!r}: Discord server {guild_id if guild_id != '-' else 'unbound'}")
