"""A community's months of moderation with numbers counted by hand (transparency tests)."""

from datetime import UTC, datetime, timedelta

from modsys.community import ensure_community
from modsys.domain.actors import CLI, Actor
from modsys.domain.models import Flag, Member
from modsys.infra.config import DEFAULT_POLICY
from modsys.runtime import jobs
from modsys.services.actions import NewAction, file_action
from modsys.services.appeals import start_review
from modsys.services.decisions import Decision, decide_appeal, final_decision
from modsys.services.flags import (
    FlagReportInput,
    act_on_flag,
    dismiss_flag,
    report_flag,
)
from modsys.services.members import get_or_create_member
from modsys.services.staff import create_staff
from tests.conftest import PASSWORD
from tests.factories import appeal, ban, reporter

REASONS = "The context shows the member was quoting the insult to report it."


def at(clock, *ymdh):
    clock.set(datetime(*ymdh, tzinfo=UTC))


def flag(session, community, n, author="100000000000007001"):
    f, _ = report_flag(session, reporter(session, community.id), community.id, FlagReportInput(
        message_id=str(n), channel_id="42", channel_name="general", author_id=author, author_name="Someone",
        content="you are an idiot", reporter="5001"))
    return f


def build_history(session, engine, community, mod_a, mod_b, leader, make_member, clock):
    """Three months of one community (see the test for the numbers), and a second
    community whose ban must never be counted."""
    at(clock, 2025, 11, 10, 10)
    f1, f2 = flag(session, community, 1), flag(session, community, 2, author="100000000000007002")
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
    f3 = flag(session, community, 3, author="100000000000007003")
    f3 = session.get(Flag, f3.id)
    f3.priority = True  # the model put it at the top: automated detection was involved
    session.add(f3)
    session.commit()
    act_on_flag(session, mod_b, f3.id, NewAction(member_id=f3.author_id, kind="warning", rules=["spam"],
                                                 public_reason="Please stop posting the same link."))
    overturned = appeal(session, m2, a2)
    slow = appeal(session, session.get(Member, a1.member_id), a1)
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
    stranger = get_or_create_member(session, other.id, "555000000000000000", "Stranger")
    session.commit()
    ban(session, other_mod, stranger, days=7)
    at(clock, 2026, 1, 5, 12)
    return {"a1": a1, "a2": a2}
