"""modsys in Discord, as a bot over the REST API (no gateway, no privileged intent):
enforcement of cases (`enforcement`, `delivery`, `dm`), the guild's audit log
as part of the record (`audit_log`), the daily comparison of bans (`drift`),
and the setup check (`permissions`); the front door: signed interactions
(`interactions`, `front_door`), slash commands (`commands`) and OAuth2 sign-in
(`oauth`). `client` is the bot's HTTP client.

Which guild a community is: `guild_id_for` (one rule, used everywhere).
"""

from __future__ import annotations

from sqlmodel import Session

from modsys.community import DEFAULT_SLUG
from modsys.config import Settings, settings_of
from modsys.models import Community

NOT_CONFIGURED = "not enforced in Discord (no bot configured)"
NO_GUILD = "not enforced in Discord (no Discord server id set for this community)"


def guild_id_for(community: Community | None, settings: Settings) -> str | None:
    """The community's own guild id; for the default community, MODSYS_DISCORD_GUILD_ID when it has none."""
    if community is None:
        return None
    if community.discord_guild_id:
        return community.discord_guild_id
    return settings.discord_guild_id if community.slug == DEFAULT_SLUG else None


def target(session: Session, community_id: int, settings: Settings | None = None) -> tuple[str | None, str]:
    """(guild id, "") when modsys acts in this community's Discord server, else (None, why not)."""
    settings = settings or settings_of(session)
    if not settings.discord_bot_token:
        return None, NOT_CONFIGURED
    guild = guild_id_for(session.get(Community, community_id), settings)
    return (guild, "") if guild else (None, NO_GUILD)
