"""Read models for the workspace's lists: cases, appeals, a member's whole
history, claims and "my queue", a flag's reporters, and the audit log browser.

Filters arrive as the strings of a query string and are validated here: a bad
one is an `InvalidFilter` (HTTP 400) that says what is allowed. Pages are
bounded offsets (at most MAX_PAGE pages of PAGE rows), ordered by a unique key
so a row never shows on two pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Mapping, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, select

from modsys.audit import checkpoint as audit_checkpoint
from modsys.domain import clock
from modsys.domain.models import (
    OPEN_APPEAL_STATES,
    Action,
    ActionSource,
    ActionStatus,
    Appeal,
    AppealStatus,
    AuditEvent,
    ClaimSubject,
    Flag,
    FlagReport,
    FlagStatus,
    Member,
    StaffUser,
    WorkClaim,
)
from modsys.domain.policy import SanctionKind
from modsys.reads import query_args
from modsys.runtime.jobs import VERIFY_VERBS

PAGE = 50
MAX_PAGE = 200  # deeper than 10,000 rows: narrow the filters instead
T = TypeVar("T")


InvalidFilter = query_args.InvalidQuery  # a list filter that can't be applied: a plain 400 saying what is allowed


@dataclass
class Page(Generic[T]):
    rows: list[T]
    page: int
    has_next: bool


def _page(args: Mapping[str, str], key: str = "page") -> int:
    return query_args.page(args, key, high=MAX_PAGE)


def _paged(session: Session, query: Any, page: int, per_page: int = PAGE) -> Page:
    rows = list(session.exec(query.offset((page - 1) * per_page).limit(per_page + 1)))
    return Page(rows[:per_page], page, len(rows) > per_page)


def _choice(args: Mapping[str, str], key: str, allowed: list[str]) -> str | None:
    value = (args.get(key) or "").strip()
    if not value:
        return None
    if value not in allowed:
        raise InvalidFilter(f"{key} must be one of {', '.join(allowed)} (got {value[:40]!r})", field=key)
    return value


def _dates(args: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
    since, until = query_args.day(args, "from"), query_args.day(args, "to")
    if since and until and since > until:
        raise InvalidFilter("the 'from' date is after the 'to' date", field="from")
    return since, (until + timedelta(days=1) if until else None)  # 'to' includes that whole day


def _staff_id(session: Session, community_id: int, args: Mapping[str, str], key: str) -> int | None:
    name = query_args.text(args, key, 64)
    if not name:
        return None
    found = session.exec(select(StaffUser.id).where(StaffUser.community_id == community_id,
                                                    StaffUser.username == name)).first()
    if found is None:
        raise InvalidFilter(f"{key}: no staff member called {name[:64]!r} in this community", field=key)
    return found


def _has_rule(rule: str) -> sa.ColumnElement:
    # rules is a JSON list of ids; ids are plain words, so the quoted id is unambiguous.
    return sa.cast(Action.rules, sa.String).contains(f'"{rule}"')


# --- cases --------------------------------------------------------------------------------------

CASE_SORTS = {
    "newest": (Action.created_at.desc(), Action.id.desc()),
    "oldest": (Action.created_at.asc(), Action.id.asc()),
    "ends": (Action.ends_at.is_(None), Action.ends_at.asc(), Action.id.asc()),  # soonest end first
}


def cases(session: Session, community_id: int, args: Mapping[str, str], rule_ids: list[str]) -> Page[Action]:
    """Filters: kind, status, rule, moderator (username), source, from/to (YYYY-MM-DD); sort."""
    q = select(Action).where(Action.community_id == community_id)
    if kind := _choice(args, "kind", [k.value for k in SanctionKind]):
        q = q.where(Action.kind == kind)
    if status := _choice(args, "status", [s.value for s in ActionStatus]):
        q = q.where(Action.status == status)
    if rule := _choice(args, "rule", rule_ids):
        q = q.where(_has_rule(rule))
    if (moderator := _staff_id(session, community_id, args, "moderator")) is not None:
        q = q.where(Action.moderator_id == moderator)
    if source := _choice(args, "source", [s.value for s in ActionSource]):
        q = q.where(Action.source == source)
    since, until = _dates(args)
    if since:
        q = q.where(Action.created_at >= since)
    if until:
        q = q.where(Action.created_at < until)
    sort = _choice(args, "sort", list(CASE_SORTS)) or "newest"
    return _paged(session, q.order_by(*CASE_SORTS[sort]), _page(args))


# --- appeals ------------------------------------------------------------------------------------

APPEAL_SORTS = {
    "due": (Appeal.review_due_at.asc(), Appeal.id.asc()),
    "newest": (Appeal.submitted_at.desc(), Appeal.id.desc()),
    "oldest": (Appeal.submitted_at.asc(), Appeal.id.asc()),
}


def appeals(session: Session, community_id: int, args: Mapping[str, str], me: StaffUser) -> Page[Appeal]:
    """Filters: status, overdue (yes), escalated (yes/no), claimed (me/nobody/USERNAME); sort."""
    q = select(Appeal).where(Appeal.community_id == community_id)
    if status := _choice(args, "status", [s.value for s in AppealStatus]):
        q = q.where(Appeal.status == status)
    if _choice(args, "overdue", ["yes"]):
        now = clock.now()
        q = q.where(sa.or_(
            sa.and_(Appeal.status.in_((AppealStatus.submitted, AppealStatus.in_review)), Appeal.review_due_at < now),
            sa.and_(Appeal.status == AppealStatus.escalated, Appeal.leadership_due_at < now)))
    escalated = _choice(args, "escalated", ["yes", "no"])
    if escalated:
        q = q.where(Appeal.escalated_at.is_not(None) if escalated == "yes" else Appeal.escalated_at.is_(None))
    claimed = (args.get("claimed") or "").strip()
    if claimed:
        holders = select(WorkClaim.subject_id).where(WorkClaim.subject_type == ClaimSubject.appeal)
        if claimed == "nobody":
            q = q.where(Appeal.id.not_in(holders))
        else:
            holder = me.id if claimed == "me" else _staff_id(session, community_id, args, "claimed")
            q = q.where(Appeal.id.in_(holders.where(WorkClaim.staff_id == holder)))
    sort = _choice(args, "sort", list(APPEAL_SORTS)) or "due"
    return _paged(session, q.order_by(*APPEAL_SORTS[sort]), _page(args))


# --- a member's whole history -------------------------------------------------------------------


@dataclass
class History:
    member: Member
    actions: Page[Action]
    appeals: Page[Appeal]
    flags: Page[Flag]


def member_history(session: Session, member: Member, args: Mapping[str, str]) -> History:
    """Every action, appeal and flag of the member, newest first, each paged on its own."""
    return History(
        member=member,
        actions=_paged(session, select(Action).where(Action.member_id == member.id)
                       .order_by(Action.created_at.desc(), Action.id.desc()), _page(args, "actions_page")),
        appeals=_paged(session, select(Appeal).where(Appeal.appellant_id == member.id)
                       .order_by(Appeal.submitted_at.desc(), Appeal.id.desc()), _page(args, "appeals_page")),
        flags=_paged(session, select(Flag).where(Flag.author_id == member.id)
                     .order_by(Flag.created_at.desc(), Flag.id.desc()), _page(args, "flags_page")),
    )


# --- claims -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    staff_id: int
    username: str
    claimed_at: datetime
    touched_at: datetime


def holders(session: Session, subject_type: str, ids: list[int]) -> dict[int, Holder]:
    """Who holds each of these flags or appeals (one query for a whole page)."""
    if not ids:
        return {}
    rows = session.exec(select(WorkClaim, StaffUser.username).join(StaffUser, StaffUser.id == WorkClaim.staff_id)
                        .where(WorkClaim.subject_type == subject_type, WorkClaim.subject_id.in_(ids))).all()
    return {c.subject_id: Holder(c.staff_id, name, c.claimed_at, c.touched_at) for c, name in rows}


@dataclass
class Queue:
    flags: list[Flag] = field(default_factory=list)
    appeals: list[Appeal] = field(default_factory=list)


def my_queue(session: Session, me: StaffUser, limit: int = 100) -> Queue:
    """The open flags and appeals I hold, oldest claim first."""
    def held(model: type, subject: str, still_open: sa.ColumnElement) -> list:
        return list(session.exec(select(model).join(WorkClaim, sa.and_(WorkClaim.subject_type == subject,
                                                                       WorkClaim.subject_id == model.id))
                                 .where(WorkClaim.staff_id == me.id, model.community_id == me.community_id, still_open)
                                 .order_by(WorkClaim.claimed_at, model.id).limit(limit)))

    return Queue(flags=held(Flag, ClaimSubject.flag, Flag.status == FlagStatus.open),
                 appeals=held(Appeal, ClaimSubject.appeal, Appeal.status.in_(OPEN_APPEAL_STATES)))


# --- a flag's reporters -------------------------------------------------------------------------


def reporters(session: Session, flag_id: int, limit: int = 200) -> list[FlagReport]:
    """Who reported the message, first report first, with each one's reason (a
    reporter counts once, so theirs is their first reason)."""
    return list(session.exec(select(FlagReport).where(FlagReport.flag_id == flag_id)
                             .order_by(FlagReport.created_at, FlagReport.id).limit(limit)))


# --- the audit log ------------------------------------------------------------------------------


def audit_events(session: Session, community_id: int, args: Mapping[str, str]) -> Page[AuditEvent]:
    """The community's events, newest first. Filters: actor (name), verb (exact, or
    a prefix ending in '.' such as 'appeal.'), subject ('appeal' or 'appeal:12'), from/to."""
    q = select(AuditEvent).where(AuditEvent.community_id == community_id)
    if actor := query_args.text(args, "actor", 100):
        q = q.where(AuditEvent.actor_name == actor)
    if verb := (args.get("verb") or "").strip():
        if len(verb) > 64 or not all(c.isalnum() or c in "._" for c in verb):
            raise InvalidFilter("verb: letters, digits, '.' and '_' (e.g. appeal.decided, or appeal. for all)",
                                field="verb")
        q = q.where(AuditEvent.verb.startswith(verb) if verb.endswith(".") else AuditEvent.verb == verb)
    if subject := (args.get("subject") or "").strip():
        kind, _, ident = subject.partition(":")
        if not (kind.isascii() and kind.isalpha()) or len(kind) > 32:
            raise InvalidFilter("subject: a type, or type:id (e.g. appeal or appeal:12)", field="subject")
        q = q.where(AuditEvent.subject_type == kind.lower())
        if ident:
            try:
                q = q.where(AuditEvent.subject_id == query_args.whole_number(ident, "subject", low=1))
            except query_args.InvalidQuery:
                raise InvalidFilter("subject: a type, or type:id (e.g. appeal or appeal:12)", field="subject") from None
    since, until = _dates(args)
    if since:
        q = q.where(AuditEvent.created_at >= since)
    if until:
        q = q.where(AuditEvent.created_at < until)
    return _paged(session, q.order_by(AuditEvent.seq.desc()), _page(args))


def last_verification(session: Session) -> AuditEvent | None:
    """The nightly chain check's last result (the job records it in the chain itself)."""
    return session.exec(select(AuditEvent).where(AuditEvent.verb.in_(VERIFY_VERBS))
                        .order_by(AuditEvent.seq.desc()).limit(1)).first()


def last_checkpoint(path: Path) -> audit_checkpoint.Checkpoint | None:
    """The newest line of the external checkpoint log (see modsys.audit.checkpoint)."""
    return audit_checkpoint.last_recorded(path)
