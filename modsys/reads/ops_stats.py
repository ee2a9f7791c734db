"""Read models for the operations endpoints (/readyz, /metrics): counts across
every community, computed with indexed queries at scrape time. Operational
figures only, never personal data."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from modsys.domain.models import (
    Appeal,
    AppealStatus,
    Community,
    Flag,
    FlagStatus,
    OutboxMessage,
    OutboxStatus,
    ScoreState,
    ToxicityScore,
)

_COUNT = sa.func.count()


def communities(session: Session) -> list[Community]:
    return list(session.exec(select(Community).order_by(Community.id)))


def open_flags(session: Session) -> dict[int, int]:
    return dict(session.exec(select(Flag.community_id, _COUNT).where(Flag.status == FlagStatus.open)
                             .group_by(Flag.community_id)).all())


def unscored_flags(session: Session) -> dict[int, int]:
    return dict(session.exec(select(Flag.community_id, _COUNT).where(Flag.score_state == ScoreState.pending)
                             .group_by(Flag.community_id)).all())


def oldest_unscored(session: Session) -> datetime | None:
    return session.exec(select(sa.func.min(Flag.created_at)).where(Flag.score_state == ScoreState.pending)).one()


def appeals_by_state(session: Session) -> dict[tuple[int, str], int]:
    return {(c, s): n for c, s, n in session.exec(
        select(Appeal.community_id, Appeal.status, _COUNT).group_by(Appeal.community_id, Appeal.status))}


def overdue_clauses(now: datetime) -> tuple[Any, Any]:
    """The one definition of an overdue appeal: (past the review SLA, past the
    leadership SLA). The dashboard and /metrics both count with it."""
    return (Appeal.status.in_((AppealStatus.submitted, AppealStatus.in_review)) & (Appeal.review_due_at < now),
            (Appeal.status == AppealStatus.escalated) & (Appeal.leadership_due_at < now))


def overdue_appeals(session: Session, now: datetime) -> tuple[dict[int, int], dict[int, int]]:
    """(past the review SLA, past the leadership SLA), per community."""
    review, leadership = (dict(session.exec(select(Appeal.community_id, _COUNT).where(clause)
                                            .group_by(Appeal.community_id)).all())
                          for clause in overdue_clauses(now))
    return review, leadership


def outbox_by_channel(session: Session, status: str) -> dict[str, int]:
    return dict(session.exec(select(OutboxMessage.channel, _COUNT).where(OutboxMessage.status == status)
                             .group_by(OutboxMessage.channel)).all())


def oldest_pending_outbox(session: Session) -> datetime | None:
    first_pending = select(sa.func.min(OutboxMessage.id)).where(OutboxMessage.status == OutboxStatus.pending)
    return session.exec(select(OutboxMessage.created_at)
                        .where(OutboxMessage.id == first_pending.scalar_subquery())).first()


def scoring_times(session: Session, now: datetime, window: timedelta,
                  flag_lookback: timedelta) -> list[tuple[datetime, datetime]]:
    """(flag created, score stored) for scores of the last `window`. toxicityscore.created_at
    is found through the indexed flag.created_at, bounded to flags of `window + flag_lookback`."""
    return list(session.exec(
        select(Flag.created_at, ToxicityScore.created_at)
        .join(ToxicityScore, ToxicityScore.flag_id == Flag.id)
        .where(Flag.created_at >= now - window - flag_lookback, ToxicityScore.created_at >= now - window,
               ToxicityScore.shadow.is_(False))).all())  # shadow scores order nothing
