"""`modsys discord ...`: the bot's setup check, staff accounts' Discord ids, command registration, drift now."""

from __future__ import annotations

import click

from modsys.cli.base import community_of, community_option, fail, main, open_db
from modsys.infra.config import load_settings


@main.group()
def discord() -> None:
    """modsys in Discord: enforcement, audit-log sync, drift, commands (docs/discord.md)."""


@discord.command("check")
@community_option
def check(community_slug: str | None) -> None:
    """Verify the token, the server, the bot's permissions and its role position."""
    from modsys.adapters.discord import guild_id_for
    from modsys.adapters.discord.client import DiscordClient
    from modsys.adapters.discord.permissions import check as run_check

    settings = load_settings()
    if not settings.discord_bot_token:
        fail("MODSYS_DISCORD_BOT_TOKEN is not set: create a bot and copy its token (docs/discord.md)")
    _, session = open_db(settings)
    community = community_of(session, settings, community_slug)
    guild = guild_id_for(community, settings)
    if not guild:
        fail(f"community {community.slug!r} has no Discord server id: set it with `modsys community set-guild` "
             "(or MODSYS_DISCORD_GUILD_ID for the default community)")
    findings = run_check(DiscordClient.from_settings(settings), guild)
    for finding in findings:
        click.echo(finding.line())
    missing = [f for f in findings if not f.ok]
    click.echo(f"\n{len(missing)} problem(s)" if missing else "\nall set: modsys can act in this server")
    raise SystemExit(1 if missing else 0)


@discord.command("link-staff")
@click.argument("username")
@click.argument("discord_user_id")
def link_staff(username: str, discord_user_id: str) -> None:
    """Link USERNAME to a Discord user id ("-" unlinks): cases they do in Discord are attributed to them."""
    from sqlmodel import select

    from modsys.domain.actors import CLI
    from modsys.domain.errors import DomainError
    from modsys.domain.models import StaffUser
    from modsys.services.staff import set_discord_user_id

    _, session = open_db()
    user = session.exec(select(StaffUser).where(StaffUser.username == username)).first()
    if user is None:
        fail(f"no staff account {username!r}")
    try:
        set_discord_user_id(session, CLI, user.id, None if discord_user_id == "-" else discord_user_id)
    except DomainError as e:
        fail(e.message)
    click.echo(f"{username}: Discord user {discord_user_id}" if discord_user_id != "-" else f"{username}: unlinked")


@discord.command("register-commands")
@community_option
def register_commands(community_slug: str | None) -> None:
    """Register (bulk overwrite) the modsys commands in the community's guild."""
    from modsys.adapters.discord import commands, guild_id_for
    from modsys.community import policy_for

    settings = load_settings()
    _, session = open_db(settings)
    community = community_of(session, settings, community_slug)
    slug = community.slug
    guild = guild_id_for(community, settings)
    if not guild:
        fail(f"community {slug!r} has no Discord guild id; set it with `modsys community set-guild {slug} GUILD_ID` "
             "(or MODSYS_DISCORD_GUILD_ID for the default community)")
    definitions = commands.definitions(policy_for(session, community.id))
    try:
        registered = commands.register(settings, guild, definitions)
    except commands.RegistrationFailed as e:
        fail(str(e))
    kinds = {commands.CHAT_INPUT: "slash", commands.USER_COMMAND: "user menu", commands.MESSAGE_COMMAND: "message menu"}
    click.echo(f"registered {len(registered)} commands in guild {guild} ({slug}):")
    for c in registered:
        name = f"/{c['name']}" if c.get("type") == commands.CHAT_INPUT else c["name"]
        who = "staff" if c.get("default_member_permissions") else "everyone"
        click.echo(f"  {name:<24} {kinds.get(c.get('type'), '?'):<13} {who}  id {c.get('id')}")


@discord.command("drift")
@community_option
def drift_now(community_slug: str | None) -> None:
    """Run the drift check now (every community with a server, or --community SLUG) and list what differs."""
    from sqlmodel import select

    from modsys.adapters.discord import drift
    from modsys.domain.models import Community

    settings = load_settings()
    if not settings.discord_bot_token:
        fail("MODSYS_DISCORD_BOT_TOKEN is not set: without a bot there is nothing to compare (docs/discord.md)")
    engine, session = open_db(settings)
    chosen = community_of(session, settings, community_slug) if community_slug else None
    counts = drift.check_drift(engine, settings=settings, community_id=chosen.id if chosen else None)
    if not counts.get("checked") and not counts.get("errors"):
        fail("no community has a Discord server id: set one with `modsys community set-guild` "
             "(or MODSYS_DISCORD_GUILD_ID for the default community)")
    session.rollback()  # end the read snapshot taken before the check: read what it stored
    for community in ([chosen] if chosen else session.exec(select(Community).order_by(Community.id))):
        for d in drift.open_findings(session, community.id):  # type: ignore[arg-type]
            what = (f"banned in Discord without a case (Discord's reason: {d.discord_reason or 'none'})"
                    if d.problem == "missing_case" else f"case #{d.action_id}: {d.kind} missing in Discord")
            click.echo(f"{community.slug}: {d.platform_user_id} {d.user_name}: {what}")
    click.echo(f"{counts['open']} difference(s) open; fix them on /admin (Discord section)"
               + (f"; {counts['errors']} community check(s) failed, see the log" if counts["errors"] else ""))
    raise SystemExit(1 if counts["errors"] else 0)
