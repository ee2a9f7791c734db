"""Many appeals at once, by bulk INSERT (a thousand service calls would take
minutes): each on its own ban, all of one member, already past their review
SLA unless told otherwise. Used by the job/scheduler tests and bench/escalation.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modsys.domain.models import Action, Appeal, AppealStatus, Member, StaffUser

STATEMENT = "Bulk-created appeal statement for a scheduler test."


def ensure_people(engine: Engine, community_id: int) -> tuple[int, int]:
    """(moderator id, member id) for bulk rows; created once per database."""
    with engine.begin() as conn:
        staff = conn.execute(sa.select(StaffUser.id).where(StaffUser.username == "bulk_mod")).scalar()
        if staff is None:
            staff = conn.execute(sa.insert(StaffUser).values(
                community_id=community_id, username="bulk_mod", password_hash="!", role="moderator", active=True,
                session_token="x" * 32, created_at=datetime(2026, 1, 1, tzinfo=UTC),
            ).returning(StaffUser.id)).scalar_one()
        member = conn.execute(sa.select(Member.id).where(Member.platform_user_id == "110000000999999999")).scalar()
        if member is None:
            member = conn.execute(sa.insert(Member).values(
                community_id=community_id, platform="discord", platform_user_id="110000000999999999",
                display_name="bulk member", created_at=datetime(2026, 1, 1, tzinfo=UTC),
            ).returning(Member.id)).scalar_one()
    return staff, member


def insert_appeals(engine: Engine, community_id: int, n: int, *, submitted_at: datetime,
                   review_sla: timedelta = timedelta(hours=72), status: str = AppealStatus.submitted,
                   chunk: int = 2000) -> list[int]:
    """`n` open appeals submitted at `submitted_at`; returns their ids in order."""
    moderator, member = ensure_people(engine, community_id)
    when = submitted_at - timedelta(hours=1)
    ids: list[int] = []
    with engine.begin() as conn:
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            action_ids = conn.execute(sa.insert(Action).returning(Action.id, sort_by_parameter_order=True), [{
                "community_id": community_id, "member_id": member, "kind": "ban", "moderator_id": moderator,
                "rules": ["respectful"], "policy_version": "bulk", "public_reason": "Bulk ban for a test.",
                "private_note": "", "starts_at": when, "ends_at": when + timedelta(days=7), "status": "active",
                "source": "moderator", "appealable": True, "appeal_deadline": when + timedelta(days=180),
                "lifted_reason": "", "created_at": when,
            } for _ in range(size)]).scalars().all()
            ids += conn.execute(sa.insert(Appeal).returning(Appeal.id, sort_by_parameter_order=True), [{
                "community_id": community_id, "action_id": action_id, "appellant_id": member,
                "statement": STATEMENT, "status": status, "submitted_at": submitted_at,
                "review_due_at": submitted_at + review_sla, "escalation_reason": "", "recommendation": "",
                "outcome_reasons": "",
            } for action_id in action_ids]).scalars().all()
    return ids
