from datetime import timedelta

import pytest
from sqlmodel import select

from modsys.domain.actors import Actor
from modsys.domain.appeal_flow import TRANSITIONS, next_status
from modsys.domain.errors import (
    Conflict,
    InvalidTransition,
    PermissionDenied,
    PolicyViolation,
    ValidationFailed,
)
from modsys.domain.models import (
    Action,
    Appeal,
    AppealStatus,
    OfficialStatement,
    OutboxMessage,
)
from modsys.services.actions import cosign_action
from modsys.services.appeals import (
    add_message,
    escalate_appeal,
    release_review,
    start_review,
    submit_appeal,
    withdraw_appeal,
)
from modsys.services.decisions import (
    Decision,
    Modification,
    decide_appeal,
    final_decision,
)
from tests.factories import STATEMENT, appeal, ban, timeout

REASONS = "The context shows the member was quoting the insult to report it."


def test_member_appeals_own_action_once(session, mod_a, make_member, clock):
    member = make_member()
    action = ban(session, mod_a, member)
    a = appeal(session, member, action)
    assert a.status == "submitted" and a.review_due_at == clock.now() + timedelta(hours=72)
    with pytest.raises(Conflict, match="already open"):
        appeal(session, member, action)
    with pytest.raises(PermissionDenied, match="against you"):
        appeal(session, make_member(), action)
    with pytest.raises(PermissionDenied, match="sanctioned member"):
        submit_appeal(session, mod_a, action.id, STATEMENT)
    assert len(session.exec(select(Appeal)).all()) == 1


def test_statement_bounds(session, mod_a, make_member):
    member = make_member()
    action = ban(session, mod_a, member)
    with pytest.raises(ValidationFailed, match="at least 20"):
        appeal(session, member, action, "   unfair   ")
    with pytest.raises(ValidationFailed, match="limited to 4000"):
        appeal(session, member, action, "x" * 4001)
    assert session.exec(select(Appeal)).all() == []


def test_window_closes(session, mod_a, make_member, clock):
    member = make_member()
    action = timeout(session, mod_a, member)
    clock.advance(days=181)
    with pytest.raises(PolicyViolation, match="window closed"):
        appeal(session, member, action)


def test_notes_and_pending_actions_are_not_appealable(session, mod_a, make_member):
    from modsys.services.actions import NewAction, file_action
    member = make_member()
    note = file_action(session, mod_a, NewAction(member_id=member.id, kind="note", rules=["spam"], public_reason="",
                                                 private_note="Keep an eye on link posting."))
    with pytest.raises(PolicyViolation, match="can't be appealed"):
        appeal(session, member, note)
    pending = ban(session, mod_a, member, days=None)
    with pytest.raises(PolicyViolation, match="pending_cosign"):
        appeal(session, member, pending)


def test_withdraw_then_cooldown(session, mod_a, make_member, clock):
    member = make_member()
    action = ban(session, mod_a, member)
    a = appeal(session, member, action)
    withdraw_appeal(session, Actor.member(member), a.id)
    with pytest.raises(PolicyViolation, match="cooldown"):
        appeal(session, member, action)
    clock.advance(hours=25)
    assert appeal(session, member, action).status == "submitted"


def test_filer_and_cosigner_cannot_review(session, mod_a, mod_b, make_staff, make_member):
    member = make_member()
    action = ban(session, mod_a, member, days=None)
    cosign_action(session, mod_b, action.id)
    a = appeal(session, member, action)
    with pytest.raises(PermissionDenied, match="you filed case"):
        start_review(session, mod_a, a.id)
    with pytest.raises(PermissionDenied, match="you co-signed case"):
        start_review(session, mod_b, a.id)
    with pytest.raises(PermissionDenied, match="you filed case"):
        escalate_appeal(session, mod_a, a.id, "Please look at this one.")
    mod_c = make_staff("moderator")
    start_review(session, mod_c, a.id)
    with pytest.raises(PermissionDenied, match="you filed case"):
        decide_appeal(session, mod_a, a.id, Decision("overturned", REASONS))
    assert session.get(Appeal, a.id).status == "in_review"


def test_review_and_uphold(session, mod_a, mod_b, make_member):
    member = make_member()
    action = ban(session, mod_a, member)
    a = appeal(session, member, action)
    with pytest.raises(InvalidTransition, match="cannot decide"):
        decide_appeal(session, mod_b, a.id, Decision("upheld", REASONS))
    start_review(session, mod_b, a.id)
    add_message(session, mod_b, a.id, "Can you tell us who you were quoting?")
    add_message(session, Actor.member(member), a.id, "Yes, the person in #general at 10:02.")
    with pytest.raises(ValidationFailed, match="written reasons"):
        decide_appeal(session, mod_b, a.id, Decision("upheld", "no"))
    decide_appeal(session, mod_b, a.id, Decision("upheld", REASONS))
    assert a.status == "decided" and a.outcome == "upheld" and a.decided_by_id == mod_b.id
    assert session.get(Action, action.id).status == "active"
    with pytest.raises(Conflict, match="thread is closed"):
        add_message(session, Actor.member(member), a.id, "one more thing")
    with pytest.raises(Conflict, match="decision is final"):
        appeal(session, member, action)


def test_overturn_lifts_the_sanction(session, mod_a, mod_b, make_member, clock):
    member = make_member()
    action = ban(session, mod_a, member)
    a = appeal(session, member, action)
    start_review(session, mod_b, a.id)
    clock.advance(hours=1)
    decide_appeal(session, mod_b, a.id, Decision("overturned", REASONS))
    action = session.get(Action, action.id)
    assert action.status == "overturned" and action.ends_at == clock.now() and action.lifted_by_id == mod_b.id


def test_modify_replaces_with_lighter_sanction_never_harsher(session, mod_a, mod_b, make_member):
    member = make_member()
    action = ban(session, mod_a, member, days=30)
    a = appeal(session, member, action)
    start_review(session, mod_b, a.id)
    with pytest.raises(PolicyViolation, match="harsher"):
        decide_appeal(session, mod_b, a.id, Decision("modified", REASONS, Modification("ban", None)))
    with pytest.raises(ValidationFailed, match="same as the old"):
        decide_appeal(session, mod_b, a.id, Decision("modified", REASONS, Modification("ban", timedelta(days=30))))
    with pytest.raises(ValidationFailed, match="needs the new sanction"):
        decide_appeal(session, mod_b, a.id, Decision("modified", REASONS))
    decide_appeal(session, mod_b, a.id, Decision("modified", REASONS, Modification("timeout", timedelta(days=7))))
    replacement = session.get(Action, a.modified_action_id)
    assert session.get(Action, action.id).status == "modified"
    assert replacement.kind == "timeout" and replacement.supersedes_id == action.id and not replacement.appealable
    assert replacement.ends_at - replacement.starts_at == timedelta(days=7)


def test_escalation_and_leadership_final_decision_with_statement(session, mod_a, mod_b, leader, make_member, clock):
    member = make_member()
    action = ban(session, mod_a, member)
    a = appeal(session, member, action)
    start_review(session, mod_b, a.id)
    with pytest.raises(PermissionDenied, match="leadership"):
        final_decision(session, mod_b, a.id, Decision("overturned", REASONS))
    escalate_appeal(session, mod_b, a.id, "Hard case: public figure involved.", "I lean towards overturning.")
    assert a.status == "escalated" and a.leadership_due_at == clock.now() + timedelta(days=7)
    with pytest.raises(InvalidTransition):
        decide_appeal(session, mod_b, a.id, Decision("upheld", REASONS))
    final_decision(session, leader, a.id, Decision("overturned", REASONS),
                   statement_title="On the ban of a member", statement_body="We overturned the ban after review because ...")
    assert a.status == "decided" and a.decided_by_id == leader.id
    assert session.exec(select(OfficialStatement)).one().appeal_id == a.id
    channels = [m.channel for m in session.exec(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert "leadership" in channels and channels.count("appeals") >= 3


def test_leadership_who_filed_cannot_decide(session, leader, make_staff, make_member, mod_b):
    member = make_member()
    action = ban(session, leader, member)
    a = appeal(session, member, action)
    escalate_appeal(session, mod_b, a.id, "Filed by leadership; needs the other leader.")
    with pytest.raises(PermissionDenied, match="you filed"):
        final_decision(session, leader, a.id, Decision("upheld", REASONS))
    other = make_staff("leadership")
    final_decision(session, other, a.id, Decision("upheld", REASONS))


def test_release_review(session, mod_a, mod_b, make_staff, make_member):
    member = make_member()
    a = appeal(session, member, ban(session, mod_a, member))
    start_review(session, mod_b, a.id)
    mod_c = make_staff()
    with pytest.raises(PermissionDenied, match="another moderator is reviewing"):
        decide_appeal(session, mod_c, a.id, Decision("upheld", REASONS))
    with pytest.raises(PermissionDenied, match="assigned reviewer"):
        release_review(session, mod_c, a.id)
    release_review(session, mod_b, a.id)
    assert a.status == "submitted" and a.reviewer_id is None


def test_transition_table_refuses_everything_else():
    for status in AppealStatus:
        for verb in {v for _, v in TRANSITIONS}:
            if (status, verb) in TRANSITIONS:
                assert next_status(status, verb) == TRANSITIONS[(status, verb)]
            else:
                with pytest.raises(InvalidTransition):
                    next_status(status, verb)
    with pytest.raises(InvalidTransition, match="decided is final"):
        next_status("decided", "withdraw")
