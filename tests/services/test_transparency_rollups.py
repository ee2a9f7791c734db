"""The transparency rollups equal a full recount after every kind of change: filing,
co-signing, revoking, overturning, modifying, expiry, a dismissed report reopened, an
escalation and a leadership deadline that passes with nobody acting (issue 23, item 4).
Several changes reach back into an earlier month, where an incremental count goes wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modsys.reads.export import rollups
from modsys.reads.export.transparency import recount_report, transparency_report
from modsys.runtime import jobs
from modsys.services.actions import NewAction, cosign_action, revoke_action
from modsys.services.appeals import start_review
from modsys.services.decisions import Decision, Modification, decide_appeal
from modsys.services.flags import (
    FlagReportInput,
    act_on_flag,
    dismiss_flag,
    report_flag,
)
from tests.factories import appeal, ban, reporter, timeout
from tests.support.transparency import REASONS, at, flag


def same_numbers(session, engine, community_id, clock) -> dict:
    """Refresh as the scheduler does, then the page's numbers must be the recount's."""
    rollups.refresh(engine, now=clock.now())
    assert rollups.catch_up(engine, now=clock.now()) is None  # nothing left for a reader to do
    got = transparency_report(session, community_id, now=clock.now())
    want = recount_report(session, community_id, now=clock.now())
    assert got.rows() == want.rows()
    assert got.as_json() == want.as_json()
    session.rollback()  # end the read snapshot: the test writes next (SQLite)
    return {(m, metric, key): v for m, metric, key, v in want.rows() if v}


@pytest.fixture
def check(session, engine, community, clock):
    return lambda: same_numbers(session, engine, community.id, clock)


def test_rollups_equal_a_full_recount_after_every_change(session, engine, community, mod_a, mod_b, leader,
                                                         make_member, clock, check):
    at(clock, 2026, 1, 10, 10)
    assert check() == {}
    f1, f2 = flag(session, community, 1), flag(session, community, 2, author="100000000000007002")
    act_on_flag(session, mod_a, f1.id, NewAction(member_id=f1.author_id, kind="timeout", rules=["respectful"],
                                                 public_reason="Insulting another member.",
                                                 duration=timedelta(hours=24)))
    dismiss_flag(session, mod_a, f2.id)
    banned, modified_member = make_member("Banned"), make_member("Modified")
    week = ban(session, mod_a, banned, days=7, rules=["respectful", "spam"])
    long = timeout(session, mod_a, modified_member, hours=72)
    pending = ban(session, mod_a, make_member("Permanent"), days=None)  # awaits a second signature
    revoked_later = ban(session, mod_a, make_member("Revoked"), days=None)
    numbers = check()  # filing
    assert numbers[("2026-01", "actions", "")] == 3 and numbers[("2026-01", "flags", "dismissed")] == 1

    at(clock, 2026, 2, 3, 9)
    cosign_action(session, mod_b, pending.id)  # counted in January, when it was filed
    assert check()[("2026-01", "actions", "")] == 4
    revoke_action(session, leader, revoked_later.id, "Filed against the wrong member, sorry.")
    check()  # revoke
    for member, action, decision in ((banned, week, Decision("overturned", REASONS)),
                                     (modified_member, long, Decision("modified", REASONS,
                                                                      Modification("timeout", timedelta(hours=1))))):
        a = appeal(session, member, action)
        start_review(session, mod_b, a.id)
        decide_appeal(session, mod_b, a.id, decision)
    numbers = check()  # overturn and modify
    assert numbers[("2026-02", "appeals_decided", "overturned")] == 1
    assert numbers[("2026-02", "appeals_decided", "modified")] == 1

    at(clock, 2026, 2, 20, 9)
    assert jobs.expire_sanctions(engine)["expired"] >= 1
    check()  # expiry

    slow_member = make_member("Slow")
    slow = appeal(session, slow_member, timeout(session, mod_a, slow_member, hours=100))
    at(clock, 2026, 2, 24, 9)
    assert jobs.escalate_overdue_appeals(engine) == {"escalated": 1}
    assert check()[("2026-02", "escalations", "")] == 1  # escalated by the scheduler: an audit event
    at(clock, 2026, 3, 4, 9)  # the leadership deadline passes: no event says so
    assert check()[("2026-03", "sla_missed", "leadership")] == 1

    for n in range(3):  # new reporters reopen the flag dismissed in January
        report_flag(session, reporter(session, community.id, f"bot{n}"), community.id, FlagReportInput(
            message_id="2", channel_id="42", channel_name="general", author_id="100000000000007002",
            author_name="Someone", content="you are an idiot", reporter=f"60{n}"))
    numbers = check()
    assert ("2026-01", "flags", "dismissed") not in numbers
    assert slow.id


def test_a_reader_catches_up_when_the_scheduler_has_not_run(session, engine, community, mod_a, make_member, clock):
    at(clock, 2026, 1, 10, 10)
    rollups.refresh(engine, now=clock.now())
    timeout(session, mod_a, make_member(), hours=1)
    report = transparency_report(session, community.id, now=clock.now())
    (series,) = [s for s in report.all_series() if s.metric == "actions"]
    assert series.values["2026-01"] == 1


def test_the_scheduler_runs_the_refresh(engine, community, clock):
    at(clock, 2026, 1, 10, 10)
    assert "count_transparency" in jobs.JOBS
    assert jobs.JOBS["count_transparency"](engine)["events"] >= 0
