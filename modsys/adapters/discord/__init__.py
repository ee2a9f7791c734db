"""modsys in Discord, as a bot over the REST API (no gateway, no privileged intent):
enforcement of cases (`enforcement`, `delivery`, `dm`), the guild's audit log
as part of the record (`audit_log`), the daily comparison of bans (`drift`),
and the setup check (`permissions`); the front door: signed interactions
(`interactions`, `front_door`), slash commands (`commands`) and OAuth2 sign-in
(`oauth`). `client` is the bot's HTTP client.

Which guild a community is, and which community a guild is: `guild_id_for` and
`community_for_guild`, one rule in both directions, used everywhere (enforcement,
the audit-log sync, drift, interactions, command registration).
"""

from __future__ import annotations

from sqlmodel import Session, select

from modsys.community import DEFAULT_SLUG
from modsys.domain.models import Community
from modsys.infra.config import Settings, settings_of

NOT_CONFIGURED = "not enforced in Discord (no bot configured)"
NO_GUILD = "not enforced in Discord (no Discord server id set for this community)"


def guild_id_for(community: Community | None, settings: Settings) -> str | None:
    """The community's own guild id; for the default community, MODSYS_DISCORD_GUILD_ID when it has none."""
    if community is None:
        return None
    if community.discord_guild_id:
        return community.discord_guild_id
    return settings.discord_guild_id if community.slug == DEFAULT_SLUG else None


def community_for_guild(session: Session, guild_id: str | None, settings: Settings) -> Community | None:
    """The community whose guild (by `guild_id_for`) is `guild_id`, or None."""
    if not guild_id:
        return None
    guild_id = str(guild_id)
    own = session.exec(select(Community).where(Community.discord_guild_id == guild_id)).first()
    if own is not None or guild_id != settings.discord_guild_id:
        return own
    default = session.exec(select(Community).where(Community.slug == DEFAULT_SLUG)).first()
    return default if default is not None and guild_id_for(default, settings) == guild_id else None


def target(session: Session, community_id: int, settings: Settings | None = None) -> tuple[str | None, str]:
    """(guild id, "") when modsys acts in this community's Discord server, else (None, why not)."""
    settings = settings or settings_of(session)
    if not settings.discord_bot_token:
        return None, NOT_CONFIGURED
    guild = guild_id_for(session.get(Community, community_id), settings)
    return (guild, "") if guild else (None, NO_GUILD)
