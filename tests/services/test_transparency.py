"""The transparency numbers against values computed by hand, on both databases."""

from datetime import UTC, datetime, timedelta

import pytest

from modsys import jobs
from modsys.actors import CLI, Actor
from modsys.community import ensure_community
from modsys.config import DEFAULT_POLICY
from modsys.export.transparency import months_back, public_log, transparency_report
from modsys.models import Flag
from modsys.services.actions import NewAction, file_action
from modsys.services.appeals import start_review
from modsys.services.decisions import Decision, decide_appeal, final_decision
from modsys.services.flags import FlagReportInput, act_on_flag, dismiss_flag, report_flag
from modsys.services.members import get_or_create_member
from modsys.services.staff import create_staff
from tests.conftest import PASSWORD
from tests.factories import appeal, ban

BOT = Actor("api", 1, "api:chatbot")
REASONS = "The context shows the member was quoting the insult to report it."


def at(clock, *ymdh):
    clock.set(datetime(*ymdh, tzinfo=UTC))


def flag(session, community, n, author="7001"):
    f, _ = report_flag(session, BOT, community.id, FlagReportInput(
        message_id=str(n), channel_id="42", channel_name="general", author_id=author, author_name="Someone",
        content="you are an idiot", reporter="5001"))
    return f


@pytest.fixture
def history(session, engine, community, mod_a, mod_b, leader, make_member, clock):
    """Three months of one community (see the test for the numbers), and a second
    community whose ban must never be counted."""
    at(clock, 2025, 11, 10, 10)
    f1, f2 = flag(session, community, 1), flag(session, community, 2, author="7002")
    at(clock, 2025, 11, 10, 12)
    a1 = act_on_flag(session, mod_a, f1.id, NewAction(member_id=f1.author_id, kind="timeout", rules=["respectful"],
                                                      public_reason="Insulting another member.", duration=timedelta(hours=24)))
    at(clock, 2025, 11, 10, 14)
    dismiss_flag(session, mod_a, f2.id)
    m2 = make_member()
    a2 = ban(session, mod_a, m2, days=7, rules=["respectful", "spam"])
    file_action(session, mod_a, NewAction(member_id=make_member().id, kind="note", rules=["spam"], public_reason="",
                                          private_note="Watch the link posting."))
    ban(session, mod_a, make_member(), days=None)  # awaits a second signature: not counted

    at(clock, 2025, 12, 3, 9)
    f3 = flag(session, community, 3, author="7003")
    f3 = session.get(Flag, f3.id)
    f3.priority = True  # the model put it at the top: automated detection was involved
    session.add(f3)
    session.commit()
    act_on_flag(session, mod_b, f3.id, NewAction(member_id=f3.author_id, kind="warning", rules=["spam"],
                                                 public_reason="Please stop posting the same link."))
    overturned = appeal(session, m2, a2)
    slow = appeal(session, session.get(type(m2), a1.member_id), a1)
    start_review(session, mod_b, overturned.id)
    at(clock, 2025, 12, 3, 19)
    decide_appeal(session, mod_b, overturned.id, Decision("overturned", REASONS))
    at(clock, 2025, 12, 6, 10)
    assert jobs.escalate_overdue_appeals(engine) == {"escalated": 1}  # nobody reviewed it in 72 hours
    session.expire_all()  # the scheduler wrote through its own session
    at(clock, 2026, 1, 2, 10)
    final_decision(session, leader, slow.id, Decision("upheld", REASONS))  # 7-day leadership SLA long past

    other = ensure_community(session, DEFAULT_POLICY, slug="other")
    other_mod = Actor.staff(create_staff(session, CLI, other.id, "other_mod", "moderator", PASSWORD))
    at(clock, 2025, 11, 12, 10)
    stranger = get_or_create_member(session, other.id, "555", "Stranger")
    session.commit()
    ban(session, other_mod, stranger, days=7)
    at(clock, 2026, 1, 5, 12)
    return {"a1": a1, "a2": a2}


def values(report, metric, key=""):
    (series,) = [s for s in report.all_series() if s.metric == metric and s.key == key]
    return {m: v for m, v in series.values.items() if v not in (0, None)}


def test_numbers_match_the_hand_count(session, community, history):
    r = transparency_report(session, community.id)
    assert r.months == months_back(datetime(2026, 1, 5, tzinfo=UTC)) and r.months[0] == "2025-02" and r.months[-1] == "2026-01"
    assert values(r, "actions_by_kind", "timeout") == {"2025-11": 1}
    assert values(r, "actions_by_kind", "ban") == {"2025-11": 1}
    assert values(r, "actions_by_kind", "warning") == {"2025-12": 1}
    assert {s.key for s in r.all_series() if s.metric == "actions_by_kind"} == {"warning", "timeout", "ban"}
    assert values(r, "actions_by_rule", "respectful") == {"2025-11": 2}
    assert values(r, "actions_by_rule", "spam") == {"2025-11": 1, "2025-12": 1}
    assert values(r, "actions") == {"2025-11": 2, "2025-12": 1}
    assert values(r, "automated_detection") == {"2025-12": 1}
    share = next(s for s in r.all_series() if s.metric == "automated_detection_share").values
    assert share["2025-11"] == 0.0 and share["2025-12"] == 1.0 and share["2026-01"] is None
    assert values(r, "flags", "received") == {"2025-11": 2, "2025-12": 1}
    assert values(r, "flags", "actioned") == {"2025-11": 1, "2025-12": 1}
    assert values(r, "flags", "dismissed") == {"2025-11": 1}
    assert values(r, "appeals", "filed") == {"2025-12": 2}
    assert values(r, "appeals_decided", "overturned") == {"2025-12": 1}
    assert values(r, "appeals_decided", "upheld") == {"2026-01": 1}
    rate = next(s for s in r.all_series() if s.metric == "overturn_rate").values
    assert rate["2025-12"] == 1.0 and rate["2026-01"] == 0.0 and rate["2025-11"] is None
    first = next(s for s in r.all_series() if s.metric == "median_hours_to_first_decision").values
    assert first["2025-11"] == 3.0 and first["2025-12"] == 0.0 and first["2026-01"] is None  # (2 h + 4 h) / 2
    final = next(s for s in r.all_series() if s.metric == "median_hours_to_final_decision").values
    assert final["2025-12"] == 10.0 and final["2026-01"] == 721.0  # 30 days and 1 hour
    assert values(r, "escalations") == {"2025-12": 1}
    assert values(r, "sla_missed", "review") == {"2025-12": 1}
    assert values(r, "sla_missed", "leadership") == {"2025-12": 1}  # due on 13 December


def test_median_of_an_odd_count_is_the_middle(session, community, mod_a, clock):
    at(clock, 2025, 12, 1, 0)
    flags = [flag(session, community, n, author=str(8000 + n)) for n in range(3)]
    for hours, f in zip((1, 5, 30), flags):
        at(clock, 2025, 12, 1, 0)
        clock.advance(hours=hours)
        dismiss_flag(session, mod_a, f.id)
    at(clock, 2026, 1, 5, 12)
    first = next(s for s in transparency_report(session, community.id).all_series()
                 if s.metric == "median_hours_to_first_decision").values
    assert first["2025-12"] == 5.0


def test_the_other_community_has_its_own_numbers(session, history):
    from modsys.community import community_by_slug
    other = community_by_slug(session, "other")
    r = transparency_report(session, other.id)
    assert values(r, "actions_by_kind", "ban") == {"2025-11": 1}
    assert values(r, "flags", "received") == {}


def test_public_log_names_nobody(session, community, history):
    log = public_log(session, community.id)
    assert [(e.case, e.measure, e.outcome) for e in log][:2] == [
        (log[0].case, "warning", "in force"), (history["a2"].id, "1 week ban", "overturned on appeal")]
    assert all(not hasattr(e, "member") for e in log) and len(log) == 3
    assert log[1].rules == ["respectful", "spam"] and log[1].day == "2025-11-10"
    assert (log[2].case, log[2].outcome) == (history["a1"].id, "ended")  # a 24-hour timeout, long over
