"""Live triage, opt-in per channel: messages in the policy's `triage.channels`
become flags in a hidden `triage` state, scored by the toxicity worker like any
flag. `settle` (a job) then puts those over the policy's thresholds in the
queue, marked as automated detection (no reporter; a moderator decides, and a
statement of reasons then says automated detection was involved), and deletes
the rest with their scores: modsys keeps no message it was not asked to keep.

The gateway admits at most `triage.max_per_second` messages per community
(a token bucket); the rest are not scored, and counted in the log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from modsys import audit
from modsys.adapters.discord.cases import snowflake_time
from modsys.community import policy_for
from modsys.domain import clock
from modsys.domain.actors import SCHEDULER
from modsys.domain.models import Flag, FlagStatus, ScoreState, ToxicityScore
from modsys.infra.db import writing
from modsys.services.members import get_or_create_member

log = logging.getLogger(__name__)
REASON = "automated detection (live triage)"
CONTENT_MAX = 4000


class Budget:
    """Token buckets per community: `rate` messages per second, bursts of one second."""

    def __init__(self) -> None:
        self.buckets: dict[int, tuple[float, float]] = {}  # community -> (tokens, at)
        self.dropped = 0

    def take(self, community_id: int, rate: float) -> bool:
        now = time.monotonic()
        tokens, at = self.buckets.get(community_id, (rate, now))
        tokens = min(rate, tokens + (now - at) * rate)
        if tokens < 1:
            self.buckets[community_id] = (tokens, now)
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("live triage over its budget (%s/s): %d messages not scored so far", rate, self.dropped)
            return False
        self.buckets[community_id] = (tokens - 1, now)
        return True


def on_message(engine: Engine, budget: Budget, community_id: int, data: dict[str, Any]) -> bool:
    """Queue a message for scoring when its channel is triaged and the budget allows."""
    author = data.get("author") or {}
    content = (data.get("content") or "").strip()
    if author.get("bot") or not content:
        return False
    with Session(engine) as session:
        policy = policy_for(session, community_id).triage
    if str(data.get("channel_id")) not in policy.channels or not budget.take(community_id, policy.max_per_second):
        return False
    now = clock.now()
    try:
        with writing(engine) as session:
            member = get_or_create_member(session, community_id, str(author["id"]),
                                          str(author.get("global_name") or author.get("username") or author["id"])[:100])
            session.add(Flag(community_id=community_id, platform_message_id=str(data["id"]),
                             channel_id=str(data["channel_id"]), author_id=member.id, content=content[:CONTENT_MAX],  # type: ignore[arg-type]
                             message_sent_at=snowflake_time(str(data["id"])), reason=REASON,
                             status=FlagStatus.triage, created_at=now))
    except IntegrityError:
        return False  # already a flag (reported, or a replayed event)
    return True


def settle(engine: Engine, *, batch: int = 500) -> dict[str, int]:
    """Scored triage flags: over the thresholds into the queue, the rest deleted."""
    counts = {"flagged": 0, "deleted": 0}
    with writing(engine) as session:
        rows = list(session.exec(select(Flag).where(Flag.status == FlagStatus.triage,
                                                    Flag.score_state != ScoreState.pending)
                                 .order_by(col(Flag.id)).limit(batch)))
        drop = [f.id for f in rows if not f.priority]
        for flag in rows:
            if flag.priority:
                flag.status = FlagStatus.open
                session.add(flag)
                audit.record(session, SCHEDULER.within(flag.community_id), "flag.automated_detection", flag,
                             {"max_label": flag.max_label, "max_score": flag.max_score})
                counts["flagged"] += 1
        if drop:
            session.execute(delete(ToxicityScore).where(col(ToxicityScore.flag_id).in_(drop)))
            session.execute(delete(Flag).where(col(Flag.id).in_(drop)))
            counts["deleted"] = len(drop)
    return counts
