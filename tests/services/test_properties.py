"""Random sequences of service calls: no appeal ever reaches a forbidden state,
nobody judges their own case, and the audit chain always verifies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from modsys import audit
from modsys.community import ensure_community
from modsys.domain.actors import CLI, SCHEDULER, Actor
from modsys.domain.appeal_flow import TRANSITIONS
from modsys.domain.errors import DomainError
from modsys.domain.models import OPEN_APPEAL_STATES, Action, Appeal, AppealStatus
from modsys.infra.config import DEFAULT_POLICY
from modsys.infra.db import new_session
from modsys.services import appeals as appeal_svc
from modsys.services.actions import expire_due_actions
from modsys.services.decisions import (
    Decision,
    Modification,
    decide_appeal,
    final_decision,
)
from modsys.services.members import get_or_create_member
from modsys.services.staff import create_staff
from tests.conftest import _reset_pg, migrated_sqlite
from tests.factories import ban, timeout

REASONS = "Reasons long enough to be accepted by the service."
STATEMENT = "A statement long enough to be accepted as an appeal."

op = st.one_of(
    st.tuples(st.just("submit"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("review"), st.integers(0, 3), st.integers(0, 5)),
    st.tuples(st.just("escalate"), st.integers(0, 3), st.integers(0, 5)),
    st.tuples(st.just("decide"), st.integers(0, 3), st.integers(0, 5), st.sampled_from(["upheld", "overturned", "modified"])),
    st.tuples(st.just("final"), st.integers(0, 3), st.integers(0, 5), st.sampled_from(["upheld", "overturned", "modified"])),
    st.tuples(st.just("withdraw"), st.integers(0, 2), st.integers(0, 5)),
    st.tuples(st.just("message"), st.integers(0, 3), st.integers(0, 5)),
    st.tuples(st.just("release"), st.integers(0, 3), st.integers(0, 5)),
    st.tuples(st.just("tick"), st.integers(1, 100)),
)


@pytest.fixture
def fresh_world(backend, request, tmp_path, clock):
    """Returns a builder: a new, empty database per hypothesis example."""
    counter = iter(range(10_000))

    def build():
        if backend == "sqlite":
            engine = migrated_sqlite(request.getfixturevalue("sqlite_template"), tmp_path / f"p{next(counter)}.db")
        else:
            engine = request.getfixturevalue("pg_engine")
            _reset_pg(engine)
        session = new_session(engine)
        community = ensure_community(session, DEFAULT_POLICY)
        staff = [Actor.staff(create_staff(session, CLI, community.id, name, role, "correct-horse-battery"))
                 for name, role in [("m0", "moderator"), ("m1", "moderator"), ("m2", "moderator"), ("lead", "leadership")]]
        members = [get_or_create_member(session, community.id, str(110000000000000100 + i), f"member{i}") for i in range(3)]
        session.commit()
        actions = [ban(session, staff[0], members[0]), timeout(session, staff[1], members[1]),
                   ban(session, staff[0], members[2], days=30), timeout(session, staff[2], members[0])]
        return session, staff, members, actions

    return build


def _apply(session, staff, members, actions, step, clock):
    kind = step[0]
    appeals = session.exec(select(Appeal).order_by(Appeal.id)).all()
    pick = lambda i: appeals[i % len(appeals)].id if appeals else 10**6  # noqa: E731
    if kind == "submit":
        appeal_svc.submit_appeal(session, Actor.member(members[step[1]]), actions[step[2]].id, STATEMENT)
    elif kind == "review":
        appeal_svc.start_review(session, staff[step[1]], pick(step[2]))
    elif kind == "escalate":
        appeal_svc.escalate_appeal(session, staff[step[1]], pick(step[2]), "Needs leadership to look.")
    elif kind in ("decide", "final"):
        mod = Modification("warning") if step[3] == "modified" else None
        fn = decide_appeal if kind == "decide" else final_decision
        fn(session, staff[step[1]], pick(step[2]), Decision(step[3], REASONS, mod))
    elif kind == "withdraw":
        appeal_svc.withdraw_appeal(session, Actor.member(members[step[1]]), pick(step[2]))
    elif kind == "message":
        actor = staff[step[1]] if step[1] < 3 else Actor.member(members[0])
        appeal_svc.add_message(session, actor, pick(step[2]), "hello")
    elif kind == "release":
        appeal_svc.release_review(session, staff[step[1]], pick(step[2]))
    elif kind == "tick":
        clock.advance(timedelta(hours=step[1]))
        expire_due_actions(session, SCHEDULER.within(members[0].community_id))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(op, min_size=1, max_size=25))
def test_random_service_calls_keep_every_invariant(fresh_world, clock, steps):
    session, staff, members, actions = fresh_world()
    before: dict[int, str] = {}
    try:
        for step in steps:
            try:
                _apply(session, staff, members, actions, step, clock)
            except DomainError:
                pass  # refusals are fine; they must change nothing (checked below)
            allowed = {(s.value, t.value) for (s, _), t in TRANSITIONS.items()}
            open_per_action: dict[int, int] = {}
            for a in session.exec(select(Appeal).execution_options(populate_existing=True)).all():
                assert a.status in set(AppealStatus)
                old = before.get(a.id)
                assert old is None and a.status == "submitted" or old == a.status or (old, a.status) in allowed, (old, a.status)
                before[a.id] = a.status
                action = session.get(Action, a.action_id)
                if a.status == "decided":
                    assert a.outcome and len(a.outcome_reasons) >= 20
                    assert a.decided_by_id not in (action.moderator_id, action.cosigner_id)
                if a.reviewer_id is not None:
                    assert a.reviewer_id not in (action.moderator_id, action.cosigner_id)
                if a.status in OPEN_APPEAL_STATES:
                    open_per_action[a.action_id] = open_per_action.get(a.action_id, 0) + 1
            assert all(n == 1 for n in open_per_action.values())
        result = audit.verify(session)
        assert result.ok, result.reason
    finally:
        session.close()
