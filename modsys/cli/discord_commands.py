"""`modsys discord register-commands`: the front door's commands in a guild."""

from __future__ import annotations

import click

from modsys.cli.base import fail, main, open_db
from modsys.config import load_settings


@main.group("discord")
def discord_group() -> None:
    """Discord: commands and interactions (see docs/discord_front_door.md)."""


@discord_group.command("register-commands")
@click.option("--community", "slug", default="default", show_default=True, help="The community (its guild).")
def register_commands(slug: str) -> None:
    """Register (bulk overwrite) the modsys commands in the community's guild."""
    from modsys.community import policy_for
    from modsys.discord import commands
    from modsys.services.discord_front_door import community_by_slug

    settings = load_settings()
    _, session = open_db(settings)
    community = community_by_slug(session, slug)
    if community is None:
        fail(f"there is no community {slug!r}")
    if not community.discord_guild_id:
        fail(f"community {slug!r} has no Discord guild id; set it with `modsys community set-guild {slug} GUILD_ID`")
    definitions = commands.definitions(policy_for(session, community.id))
    try:
        registered = commands.register(settings, community.discord_guild_id, definitions)
    except commands.RegistrationFailed as e:
        fail(str(e))
    kinds = {commands.CHAT_INPUT: "slash", commands.USER_COMMAND: "user menu", commands.MESSAGE_COMMAND: "message menu"}
    click.echo(f"registered {len(registered)} commands in guild {community.discord_guild_id} ({slug}):")
    for c in registered:
        name = f"/{c['name']}" if c.get("type") == commands.CHAT_INPUT else c["name"]
        who = "staff" if c.get("default_member_permissions") else "everyone"
        click.echo(f"  {name:<24} {kinds.get(c.get('type'), '?'):<13} {who}  id {c.get('id')}")
