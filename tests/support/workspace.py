"""Builders for the workspace tests (issue 13b): a second community, flags with
reporters, and a current TOTP code for an enrolled account."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from sqlmodel import Session

from modsys.community import ensure_community
from modsys.domain import clock
from modsys.domain.actors import CLI, Actor
from modsys.domain.models import Community, Member, StaffUser
from modsys.infra import totp
from modsys.infra.config import DEFAULT_POLICY
from modsys.services.flags import FlagReportInput, report_flag
from modsys.services.members import get_or_create_member
from modsys.services.staff import create_staff
from tests.conftest import PASSWORD
from tests.factories import reporter


@dataclass
class Other:
    """Another community of the same deployment, with a moderator and a member."""

    community: Community
    mod: Actor
    member: Member


def other_community(session: Session, slug: str = "other") -> Other:
    community = ensure_community(session, DEFAULT_POLICY, slug=slug)
    mod = Actor.staff(create_staff(session, CLI, community.id, f"{slug}_mod", "moderator", PASSWORD))
    member = get_or_create_member(session, community.id, "123456789012345678", "Elsewhere Person")
    session.commit()
    return Other(community, mod, member)


def flag(session: Session, community_id: int, message_id: str = "111", content: str = "you are an idiot",
         reporters: tuple[tuple[str, str], ...] = (("5001", "insult"),), author: str = "100000000000007001"):
    """A flag reported by each (reporter id, reason) in order."""
    row = None
    bot = reporter(session, community_id)
    for who, reason in reporters:
        row, _ = report_flag(session, bot, community_id, FlagReportInput(
            message_id=message_id, channel_id="42", channel_name="general", author_id=author,
            author_name="Rude Person", content=content, reporter=who, reason=reason))
    return row


def current_code(session: Session, user_id: int, steps_ahead: int = 0) -> str:
    """The code the person's app shows now (or `steps_ahead` 30-second steps later)."""
    user = session.get(StaffUser, user_id)
    session.refresh(user)
    return totp.hotp(base64.b32decode(user.totp_secret), totp.step_at(clock.now()) + steps_ahead)


def wrong_code(session: Session, user_id: int) -> str:
    """Six digits that no step inside the accepted window produces right now."""
    near = {current_code(session, user_id, d) for d in range(-totp.WINDOW, totp.WINDOW + 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)
