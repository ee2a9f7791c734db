"""Community members, keyed by platform and platform user id."""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from modsys import audit
from modsys.domain import clock
from modsys.domain.actors import Actor
from modsys.domain.errors import ValidationFailed
from modsys.domain.models import Member
from modsys.services._base import clean_text

# A snowflake is a 64-bit integer written in decimal: 17-20 ASCII digits for any
# id made since 2015 (discord-api-docs, Reference > Snowflakes). `str.isdigit`
# would also pass "²³¹" and "١٢٣".
DISCORD_ID = re.compile(r"[0-9]{17,20}")


def get_or_create_member(
    session: Session, community_id: int, platform_user_id: str, display_name: str, platform: str = "discord",
    *, rename_by: Actor | None = None,
) -> Member:
    """Find the member or create them (race-safe: a concurrent insert wins, we reuse it).
    An existing member's display name changes only when `rename_by` is given, and
    then with an audit event; the caller audits the rest of what it did."""
    return find_or_add_member(session, community_id, platform_user_id, display_name, platform, rename_by=rename_by)[0]


def find_or_add_member(
    session: Session, community_id: int, platform_user_id: str, display_name: str, platform: str = "discord",
    *, rename_by: Actor | None = None,
) -> tuple[Member, bool]:
    """`get_or_create_member`, also saying whether this call created the row."""
    uid = clean_text(platform_user_id, "platform_user_id", min_len=1, max_len=64, label="platform user id")
    if platform == "discord" and not DISCORD_ID.fullmatch(uid):
        raise ValidationFailed("a Discord user id is a number of 17-20 digits (a snowflake)", field="platform_user_id")
    name = clean_text(display_name, "display_name", min_len=1, max_len=100, label="display name")
    query = select(Member).where(
        Member.community_id == community_id, Member.platform == platform, Member.platform_user_id == uid
    )
    member = session.exec(query).first()
    if member is not None:
        if member.display_name != name and rename_by is not None:
            audit.record(session, rename_by, "member.renamed", member, {"from": member.display_name, "to": name})
            member.display_name = name
            session.add(member)
        return member, False
    try:
        with session.begin_nested():
            member = Member(community_id=community_id, platform=platform, platform_user_id=uid,
                            display_name=name, created_at=clock.now())
            session.add(member)
    except IntegrityError:
        return session.exec(query).one(), False
    return member, True
