"""Read models for the dashboards and the API: what each audience may see.
No writes here; permission to *see* is still checked (private evidence never
leaves through the member-facing functions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from modsys.domain import clock
from modsys.domain.models import (
    NOT_DELIVERED,
    Action,
    ActionStatus,
    Appeal,
    AppealMessage,
    AppealStatus,
    Evidence,
    Flag,
    FlagStatus,
    Member,
    OfficialStatement,
    OutboxMessage,
    PolicyVersion,
    StaffUser,
    StatementOfReasons,
    ToxicityScore,
    Visibility,
)
from modsys.permissions import conflicted
from modsys.reads.ops_stats import overdue_clauses

PAGE = 50


@dataclass(frozen=True)
class Sla:
    due: datetime
    share: float  # share of the allowed time already used

    @property
    def state(self) -> str:
        return "overdue" if self.share >= 1 else "red" if self.share >= 0.9 else "amber" if self.share >= 0.5 else "ok"


def sla(appeal: Appeal, now: datetime | None = None) -> Sla | None:
    now = now or clock.now()
    if appeal.status == AppealStatus.escalated and appeal.leadership_due_at and appeal.escalated_at:
        start, due = appeal.escalated_at, appeal.leadership_due_at
    elif appeal.status in (AppealStatus.submitted, AppealStatus.in_review):
        start, due = appeal.submitted_at, appeal.review_due_at
    else:
        return None
    total = max((due - start).total_seconds(), 1.0)
    return Sla(due, (now - start).total_seconds() / total)


UNKNOWN_LANGUAGE = "unknown"


def flag_queue(session: Session, community_id: int, *, status: str = FlagStatus.open, channel: str | None = None,
               rule: str | None = None, language: str | None = None, limit: int = PAGE,
               offset: int = 0) -> list[Flag]:
    """Priority flags first, then by model score when scored, then by the weight of
    their reporters' accuracy (modsys/services/reporting.py), then by age."""
    q = select(Flag).where(Flag.community_id == community_id, Flag.status == status)
    if channel:
        q = q.where(sa.or_(Flag.channel_name == channel, Flag.channel_id == channel))
    if language:  # "unknown": not detected (too short) nor declared
        q = q.where(Flag.language.is_(None) if language == UNKNOWN_LANGUAGE else Flag.language == language)
    if rule:  # flags already actioned under a rule (the rule lives on the action)
        q = q.join(Action, Action.flag_id == Flag.id).where(sa.cast(Action.rules, sa.String).contains(f'"{rule}"'))
    # Unscored last, as the index ix_flag_queue_order is built (models.queue_order_index_ddl).
    q = q.order_by(Flag.priority.desc(), Flag.max_score.desc().nulls_last(),  # type: ignore[union-attr]
                   Flag.reporter_weight.desc(), Flag.created_at.asc(), Flag.id.asc())
    return list(session.exec(q.offset(offset).limit(limit)))


def flag_channels(session: Session, community_id: int) -> list[str]:
    """The channels flags came from: a loose index scan over ix_flag_community_channel
    (one index probe per channel, not a pass over every flag)."""
    flag = Flag.__table__
    first = (sa.select(sa.func.min(flag.c.channel_name).label("name"))
             .where(flag.c.community_id == community_id).cte("channels", recursive=True))
    nxt = (sa.select(sa.select(sa.func.min(flag.c.channel_name))
                     .where(flag.c.community_id == community_id, flag.c.channel_name > first.c.name)
                     .scalar_subquery())
           .where(first.c.name.is_not(None)))
    channels = first.union_all(nxt)
    rows = session.execute(sa.select(channels.c.name).where(channels.c.name.is_not(None)))
    return [name for (name,) in rows if name]


def latest_score(session: Session, flag_id: int) -> ToxicityScore | None:
    return session.exec(select(ToxicityScore).where(ToxicityScore.flag_id == flag_id,
                                                    ToxicityScore.shadow.is_(False))  # a shadow never shows
                        .order_by(ToxicityScore.id.desc())).first()


def reviewable_appeals(session: Session, staff: StaffUser, limit: int = PAGE) -> list[tuple[Appeal, bool]]:
    """Open appeals at moderator level, oldest deadline first, each with whether
    `staff` may take it (False: they filed or co-signed the action)."""
    rows = session.exec(
        select(Appeal, Action).join(Action, Action.id == Appeal.action_id)
        .where(Appeal.community_id == staff.community_id,
               Appeal.status.in_((AppealStatus.submitted, AppealStatus.in_review)))
        .order_by(Appeal.review_due_at, Appeal.id).limit(limit)
    ).all()
    return [(appeal, not conflicted(action, staff.id)) for appeal, action in rows]  # type: ignore[arg-type]


def escalated_appeals(session: Session, community_id: int) -> list[Appeal]:
    return list(session.exec(select(Appeal).where(Appeal.community_id == community_id,
                                                  Appeal.status == AppealStatus.escalated)
                             .order_by(Appeal.leadership_due_at)))


def recent_actions(session: Session, community_id: int, limit: int = 20) -> list[Action]:
    return list(session.exec(select(Action).where(Action.community_id == community_id)
                             .order_by(Action.created_at.desc(), Action.id.desc()).limit(limit)))


def pending_cosign(session: Session, community_id: int) -> list[Action]:
    return list(session.exec(select(Action).where(Action.community_id == community_id,
                                                  Action.status == ActionStatus.pending_cosign).order_by(Action.id)))


@dataclass
class CaseFile:
    member: Member
    actions: list[Action]
    appeals: list[Appeal]
    flags: list[Flag]
    limit: int


def case_file(session: Session, member: Member, limit: int = 100) -> CaseFile:
    """A member's history, newest first, `limit` of each kind (staff only)."""
    return CaseFile(
        member=member,
        actions=list(session.exec(select(Action).where(Action.member_id == member.id)
                                  .order_by(Action.created_at.desc(), Action.id.desc()).limit(limit))),
        appeals=list(session.exec(select(Appeal).where(Appeal.appellant_id == member.id)
                                  .order_by(Appeal.submitted_at.desc()).limit(limit))),
        flags=list(session.exec(select(Flag).where(Flag.author_id == member.id)
                                .order_by(Flag.created_at.desc()).limit(limit))),
        limit=limit,
    )


def appeal_attachments(session: Session, appeal_id: int) -> list[Evidence]:
    """The files the member attached to their appeal (staff download them like any evidence)."""
    return list(session.exec(select(Evidence).where(Evidence.appeal_id == appeal_id).order_by(Evidence.id)))


def evidence_for(session: Session, action_id: int, *, include_private: bool) -> list[Evidence]:
    q = select(Evidence).where(Evidence.action_id == action_id)
    if not include_private:
        q = q.where(Evidence.visibility == Visibility.public)
    return list(session.exec(q.order_by(Evidence.id)))


def statement_of_reasons(session: Session, action_id: int) -> StatementOfReasons | None:
    return session.exec(select(StatementOfReasons).where(StatementOfReasons.action_id == action_id)).first()


def appeals_of_action(session: Session, action_id: int) -> list[Appeal]:
    return list(session.exec(select(Appeal).where(Appeal.action_id == action_id).order_by(Appeal.id.desc())))


def thread(session: Session, appeal_id: int) -> list[AppealMessage]:
    return list(session.exec(select(AppealMessage).where(AppealMessage.appeal_id == appeal_id)
                             .order_by(AppealMessage.created_at, AppealMessage.id)))


def statements(session: Session, community_id: int, limit: int = PAGE) -> list[OfficialStatement]:
    return list(session.exec(select(OfficialStatement).where(OfficialStatement.community_id == community_id)
                             .order_by(OfficialStatement.published_at.desc()).limit(limit)))


def members_by_id(session: Session, ids: set[int]) -> dict[int, Member]:
    """One query for the members a page lists (not one per row)."""
    if not ids:
        return {}
    return {m.id: m for m in session.exec(select(Member).where(Member.id.in_(ids)))}  # type: ignore[misc]


def staff_accounts(session: Session, community_id: int) -> list[StaffUser]:
    return list(session.exec(select(StaffUser).where(StaffUser.community_id == community_id)
                             .order_by(StaffUser.username)))


def policy_versions(session: Session, community_id: int) -> list[PolicyVersion]:
    return list(session.exec(select(PolicyVersion).where(PolicyVersion.community_id == community_id)
                             .order_by(PolicyVersion.loaded_at.desc())))


def dead_letters(session: Session, community_id: int, limit: int = PAGE) -> list[OutboxMessage]:
    """Notifications that will not be sent unless retried: given up on (dead) or skipped."""
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.community_id == community_id,
                                                         OutboxMessage.status.in_(NOT_DELIVERED))
                             .order_by(OutboxMessage.id.desc()).limit(limit)))


def staff_names(session: Session, community_id: int) -> dict[int, str]:
    return {u.id: u.username for u in session.exec(select(StaffUser).where(StaffUser.community_id == community_id))}


@dataclass
class Counts:
    open_flags: int = 0
    appeals_by_state: dict[str, int] = field(default_factory=dict)
    overdue_appeals: int = 0


def counts(session: Session, community_id: int) -> Counts:
    now = clock.now()
    c = Counts()
    c.open_flags = session.exec(select(sa.func.count()).select_from(Flag).where(
        Flag.community_id == community_id, Flag.status == FlagStatus.open)).one()
    for status, n in session.exec(select(Appeal.status, sa.func.count()).where(Appeal.community_id == community_id)
                                  .group_by(Appeal.status)):
        c.appeals_by_state[status] = n
    review, leadership = overdue_clauses(now)
    c.overdue_appeals = session.exec(select(sa.func.count()).select_from(Appeal).where(
        Appeal.community_id == community_id, review | leadership)).one()
    return c


def flag_evidence(session: Session, flag_id: int) -> list[Evidence]:
    """Evidence candidates kept with a flag's reports (jump link, attachment URLs); staff only."""
    return list(session.exec(select(Evidence).where(Evidence.flag_id == flag_id).order_by(Evidence.id)))
