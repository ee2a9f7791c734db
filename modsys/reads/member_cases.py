"""A member's own cases, found by their platform identity (read model for
"My cases" after Sign in with Discord). Only what the appeal portal would show:
cases in force or decided, never a note or an action awaiting co-signature."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from modsys.domain.models import (
    Action,
    ActionStatus,
    Appeal,
    Member,
    StatementOfReasons,
)
from modsys.domain.policy import SanctionKind
from modsys.infra import portal_links


@dataclass(frozen=True)
class MemberCase:
    action: Action
    statement: StatementOfReasons | None
    appeals: list[Appeal]
    portal_url: str  # the same portal page as the signed link


def cases_of(session: Session, community_id: int, platform_user_id: str, *, secret: str, base_url: str,
             link_expires_at: datetime, platform: str = "discord") -> list[MemberCase]:
    """Every case of this person in this community, newest first, each with a
    fresh signed portal link (bound to that case and member, expiring with the
    sign-in) so the portal's own rules decide what they may do there."""
    member = session.exec(select(Member).where(Member.community_id == community_id, Member.platform == platform,
                                               Member.platform_user_id == platform_user_id)).first()
    if member is None:
        return []
    actions = session.exec(select(Action).where(
        Action.member_id == member.id, Action.kind != SanctionKind.note,
        Action.status != ActionStatus.pending_cosign).order_by(Action.created_at.desc(), Action.id.desc())).all()
    ids = [a.id for a in actions]
    statements = {s.action_id: s for s in session.exec(
        select(StatementOfReasons).where(StatementOfReasons.action_id.in_(ids)))} if ids else {}  # type: ignore[attr-defined]
    appeals: dict[int, list[Appeal]] = {}
    if ids:
        for ap in session.exec(select(Appeal).where(Appeal.action_id.in_(ids)).order_by(Appeal.id.desc())):  # type: ignore[attr-defined]
            appeals.setdefault(ap.action_id, []).append(ap)
    return [MemberCase(a, statements.get(a.id), appeals.get(a.id, []),  # type: ignore[arg-type]
                       portal_links.portal_url(base_url, portal_links.make_token(secret, a.id, member.id, link_expires_at)))  # type: ignore[arg-type]
            for a in actions]
