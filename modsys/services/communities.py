"""Communities: creating one and binding it to its Discord server. The operator's
(CLI) business: an admin administers their own community, never the set of them."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from modsys.community import remember_policy_version
from modsys.domain import clock
from modsys.domain.errors import Conflict, PermissionDenied, ValidationFailed
from modsys.domain.models import Community
from modsys.domain.policy import load_policy
from modsys.services._base import clean_text, service
from modsys.uow import UnitOfWork

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_SNOWFLAKE = re.compile(r"^[0-9]{15,21}$")  # Discord ids are 64-bit integers written in decimal


def _operator(uow: UnitOfWork) -> None:
    if uow.actor.kind != "system":
        raise PermissionDenied("communities are managed by the operator (`modsys community ...`)")


def _guild(session, guild_id: str | None, community_id: int | None) -> str | None:
    if guild_id is None:
        return None
    guild_id = guild_id.strip()
    if not _SNOWFLAKE.match(guild_id):
        raise ValidationFailed("a Discord server id is a number of 15 to 21 digits", field="guild_id")
    holder = session.exec(select(Community).where(Community.discord_guild_id == guild_id)).first()
    if holder is not None and holder.id != community_id:
        raise Conflict(f"Discord server {guild_id} already belongs to community {holder.slug!r}", field="guild_id")
    return guild_id


@service
def create_community(uow: UnitOfWork, slug: str, name: str, policy_path: Path | str,
                     guild_id: str | None = None) -> Community:
    """A new community on its own policy file (validated and its version recorded)."""
    _operator(uow)
    if not _SLUG.match(slug or ""):
        raise ValidationFailed("slug: 1-64 lowercase letters, digits or '-', starting with a letter or digit",
                               field="slug")
    name = clean_text(name, "name", min_len=1, max_len=200)
    policy = load_policy(policy_path)  # PolicyError names the file, field and reason
    session = uow.session
    if session.exec(select(Community.id).where(Community.slug == slug)).first():
        raise Conflict(f"a community {slug!r} exists already", field="slug")
    community = Community(slug=slug, name=name, platform=policy.community.platform, policy_path=str(policy_path),
                          discord_guild_id=_guild(session, guild_id, None), created_at=clock.now())
    try:
        with session.begin_nested():
            session.add(community)
            session.flush()
    except IntegrityError:
        raise Conflict(f"a community {slug!r} (or one on that Discord server) exists already") from None
    uow.bind(community.id)
    remember_policy_version(session, community.id, policy)
    uow.record("community.created", community, {"slug": slug, "name": name, "policy_version": policy.version,
                                                "discord_guild_id": community.discord_guild_id})
    return community


@service
def set_guild(uow: UnitOfWork, community_id: int, guild_id: str | None) -> Community:
    """Bind the community to its Discord server (None unbinds); one community per server."""
    _operator(uow)
    community = uow.get(Community, community_id, "community")
    old, community.discord_guild_id = community.discord_guild_id, _guild(uow.session, guild_id, community.id)
    uow.session.add(community)
    uow.record("community.guild_set", community, {"from": old, "to": community.discord_guild_id})
    return community
