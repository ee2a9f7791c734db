"""Transparency rollups: the public numbers (modsys.reads.export.transparency) kept per
community and calendar month, so `/transparency`, its CSV and JSON read a few dozen
rows whatever the history.

Maintained incrementally from the audit chain: every change that moves a number
(filing, co-signing, revoking, expiry, a report, its dismissal, an appeal and its
decision, an escalation) writes an audit event in its own transaction. `refresh`
reads the events after its cursor and recounts only the months they can have changed:
from the month of the oldest fact they touch (the case, appeal or flag's creation)
to the current one, within the report's 12 months. One number moves without an
event, the leadership deadline that passes; the months of the deadlines passed since
the last run are recounted too. A month is recounted with the same SQL as the full
report, so the rollups equal a full recount (tests/services/test_transparency_rollups.py).

Medians don't add up, so a month is recounted whole rather than summed from days;
a month is a twelfth of the full report's work, and only changed months are counted.
The scheduler runs `refresh` every minute; a reader that finds the rollups behind the
audit head catches up first, so a page never shows less than what was committed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from modsys.domain import clock
from modsys.domain.models import (
    Action,
    Appeal,
    AuditEvent,
    AuditHead,
    Community,
    Flag,
    TransparencyCursor,
    TransparencyRollup,
)
from modsys.infra.db import writing
from modsys.reads.export.transparency import (
    UNITS,
    Values,
    _month,
    _month_start,
    _next_month,
    count,
    months_back,
)

_LOCK_ID = 0x6D6F_6473_7472_0001  # PostgreSQL advisory lock: one refresher at a time


def read_rollups(session: Session, community_id: int, months: list[str]) -> Values:
    rows = session.execute(sa.select(TransparencyRollup.metric, TransparencyRollup.key, TransparencyRollup.month,
                                     TransparencyRollup.value)
                           .where(TransparencyRollup.community_id == community_id,
                                  TransparencyRollup.month.in_(months)))  # type: ignore[attr-defined]
    out: Values = {}
    for metric, key, month, value in rows:
        out.setdefault((metric, key), {})[month] = value
    return out


def catch_up(engine: Engine, *, now: datetime | None = None) -> dict[str, int] | None:
    """Refresh when the audit chain is ahead of the rollups (one indexed read otherwise)."""
    with Session(engine) as session:
        head = session.get(AuditHead, 1)
        cursor = session.get(TransparencyCursor, 1)
        if head is not None and cursor is not None and cursor.audit_seq >= head.seq and not _deadline_passed(
                session, cursor, now or clock.now()):
            return None
    return refresh(engine, now=now)


def _deadline_passed(session: Session, cursor: TransparencyCursor, now: datetime) -> bool:
    if cursor.counted_at is None or cursor.counted_at > now:
        return True
    return session.execute(sa.select(sa.literal(1)).where(
        Appeal.leadership_due_at > cursor.counted_at, Appeal.leadership_due_at <= now).limit(1)).first() is not None  # type: ignore[operator]


def refresh(engine: Engine, *, now: datetime | None = None) -> dict[str, int]:
    """Recount the months changed since the last run; one transaction, one refresher."""
    now = now or clock.now()
    with writing(engine) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
        cursor = session.get(TransparencyCursor, 1) or TransparencyCursor(id=1, audit_seq=0)
        head = session.get(AuditHead, 1)
        upto = head.seq if head is not None else 0
        window = months_back(now)
        dirty = _dirty_months(session, cursor, upto, now, window)
        for community_id, months in sorted(dirty.items()):
            for month in sorted(months):
                _recount(session, community_id, month, now)
        read = upto - cursor.audit_seq
        cursor.audit_seq, cursor.counted_at = upto, now
        session.add(cursor)
        return {"months": sum(len(m) for m in dirty.values()), "events": read}


def _dirty_months(session: Session, cursor: TransparencyCursor, upto: int, now: datetime,
                  window: list[str]) -> dict[int, set[str]]:
    """community -> months to recount: from the oldest month a new event can have changed
    to the current one, and the months of leadership deadlines passed since the last run."""
    dialect = session.get_bind().dialect.name
    first = cursor.counted_at is None or cursor.counted_at > now  # first run, or the clock went back
    oldest: dict[int, str] = {}

    def touch(rows: Any) -> None:
        for community_id, month in rows:
            if community_id is not None and month is not None:
                oldest[community_id] = min(month, oldest.get(community_id, month))

    if first:
        touch((c, window[0]) for c in session.exec(select(Community.id)))
    else:
        new = (AuditEvent.seq > cursor.audit_seq, AuditEvent.seq <= upto)
        touch(session.execute(sa.select(AuditEvent.community_id, sa.func.min(_month(dialect, AuditEvent.created_at)))
                              .where(*new).group_by(AuditEvent.community_id)))
        for model, *times in ((Action, Action.created_at), (Flag, Flag.created_at),
                              (Appeal, Appeal.submitted_at)):
            subject = sa.and_(AuditEvent.subject_type == model.__tablename__, AuditEvent.subject_id == model.id)
            for when in times:
                touch(session.execute(sa.select(model.community_id, sa.func.min(_month(dialect, when)))
                                      .select_from(AuditEvent).join(model, subject).where(*new)
                                      .group_by(model.community_id)))
        # an appeal's decision can change the numbers of its case's month (a modified sanction)
        appealed = sa.and_(AuditEvent.subject_type == "appeal", AuditEvent.subject_id == Appeal.id)
        touch(session.execute(sa.select(Action.community_id, sa.func.min(_month(dialect, Action.created_at)))
                              .select_from(AuditEvent).join(Appeal, appealed).join(Action, Action.id == Appeal.action_id)
                              .where(*new).group_by(Action.community_id)))
        since = cursor.counted_at
        due = Appeal.leadership_due_at
        touch(session.execute(sa.select(Appeal.community_id, sa.func.min(_month(dialect, due)))
                              .where(due > since, due <= now).group_by(Appeal.community_id)))  # type: ignore[operator]
    current = window[-1]
    return {c: {m for m in window if max(first_month, window[0]) <= m <= current}
            for c, first_month in oldest.items()}


def _recount(session: Session, community_id: int, month: str, now: datetime) -> None:
    end = min(now, _next_month(month) - timedelta(microseconds=1))
    values = count(session, community_id, [month], _month_start(month), end, now)
    session.execute(sa.delete(TransparencyRollup).where(TransparencyRollup.community_id == community_id,
                                                        TransparencyRollup.month == month))
    rows = [{"community_id": community_id, "month": month, "metric": metric, "key": key,
             "unit": UNITS.get(metric, "count"), "value": per_month.get(month)}
            for (metric, key), per_month in values.items() if per_month.get(month) is not None]
    if rows:
        session.execute(sa.insert(TransparencyRollup), rows)
