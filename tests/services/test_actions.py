from datetime import timedelta

import pytest
from sqlmodel import select

from modsys.community import policy_for
from modsys.domain.actors import CLI, SCHEDULER, Actor
from modsys.domain.errors import (
    Conflict,
    PermissionDenied,
    PolicyViolation,
    ValidationFailed,
)
from modsys.domain.models import Action, Evidence, OutboxMessage, StatementOfReasons
from modsys.services.actions import (
    NewAction,
    cosign_action,
    expire_due_actions,
    file_action,
    public_evidence,
    revoke_action,
    suggest_sanction,
)
from modsys.services.evidence import EvidenceInput, add_evidence, delete_evidence
from modsys.services.staff import set_active
from tests.factories import appeal, ban, timeout

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_file_ban_writes_action_statement_evidence_audit_and_outbox(session, mod_a, make_member, clock):
    member = make_member()
    action = ban(session, mod_a, member, days=7)
    assert action.status == "active" and action.ends_at == clock.now() + timedelta(days=7)
    assert action.policy_version == policy_for(session, action.community_id).version
    sor = session.exec(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id)).one()
    assert sor.decision_ground == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert sor.category == "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
    assert sor.decision_account == "DECISION_ACCOUNT_SUSPENDED" and sor.measure == "1 week ban"
    assert sor.automated_decision == "AUTOMATED_DECISION_NOT_AUTOMATED" and sor.automated_detection is False
    assert "Be respectful" in sor.ground_reference and action.policy_version in sor.ground_reference
    assert "appeal" in sor.redress and sor.end_date_account_restriction == action.ends_at
    assert action.appeal_deadline == clock.now() + timedelta(days=180)
    assert {e.visibility for e in session.exec(select(Evidence).where(Evidence.action_id == action.id))} == {"public", "private"}
    assert [e.visibility for e in public_evidence(session, action.id)] == ["public"]
    events = {m.event for m in session.exec(select(OutboxMessage))}
    assert {"action.filed", "member.notice"} <= events


@pytest.mark.parametrize("kind, duration, error, text", [
    ("timeout", None, ValidationFailed, "needs a duration"),
    ("timeout", timedelta(days=29), PolicyViolation, "between 1 minute and 4 weeks"),
    ("ban", timedelta(hours=1), PolicyViolation, "between 1 day and"),
    ("warning", timedelta(hours=1), ValidationFailed, "has no duration"),
    ("smite", None, ValidationFailed, "unknown action kind"),
])
def test_duration_and_kind_must_fit_the_policy(session, mod_a, make_member, kind, duration, error, text):
    member = make_member()
    with pytest.raises(error, match=text):
        file_action(session, mod_a, NewAction(member_id=member.id, kind=kind, rules=["respectful"],
                                              public_reason="Insulting another member.", duration=duration))
    assert session.exec(select(Action)).all() == []


def test_rule_must_exist_in_the_policy(session, mod_a, make_member):
    with pytest.raises(PolicyViolation, match="not in policy version"):
        file_action(session, mod_a, NewAction(member_id=make_member().id, kind="warning", rules=["be-nice"],
                                              public_reason="Insulting another member."))
    with pytest.raises(ValidationFailed, match="cite at least one rule"):
        file_action(session, mod_a, NewAction(member_id=make_member().id, kind="warning", rules=[],
                                              public_reason="Insulting another member."))


def test_only_active_moderators_file(session, make_staff, make_member, mod_a):
    admin = make_staff("admin")
    with pytest.raises(PermissionDenied, match="role"):
        timeout(session, admin, make_member())
    set_active(session, CLI, mod_a.id, False)
    with pytest.raises(PermissionDenied, match="deactivated"):
        timeout(session, mod_a, make_member())
    with pytest.raises(PermissionDenied):
        timeout(session, Actor("member", 1, "x"), make_member())


def test_ladder_suggests_the_next_step(session, mod_a, make_member):
    member = make_member()
    policy = policy_for(session, member.community_id)
    hint = suggest_sanction(session, member.id, "respectful", policy)
    assert (hint.step.kind, hint.count) == ("warning", 0)
    file_action(session, mod_a, NewAction(member_id=member.id, kind="warning", rules=["respectful"],
                                          public_reason="Insulting another member."))
    hint = suggest_sanction(session, member.id, "respectful", policy)
    assert hint.step.describe() == "1 hour timeout" and hint.count == 1
    t = timeout(session, mod_a, member, hours=1)
    revoke_action(session, mod_a, t.id, "Filed against the wrong member.")
    assert suggest_sanction(session, member.id, "respectful", policy).step.describe() == "1 hour timeout"  # revoked
    assert suggest_sanction(session, member.id, "spam", policy).step.kind == "warning"  # per rule


def test_ladder_goes_above_the_most_severe_sanction_in_force_or_recent_and_says_why(session, mod_a, mod_b,
                                                                                     make_member, clock):
    member = make_member()
    policy = policy_for(session, member.community_id)
    month = ban(session, mod_a, member, days=30)
    hint = suggest_sanction(session, member.id, "respectful", policy)
    assert hint.step.describe() == "permanent ban"  # after a 30-day ban, never a 1 hour timeout
    assert hint.basis.id == month.id and f"case #{month.id}, a 30 days ban (active" in hint.why
    assert hint.why.endswith("the next step above it")
    clock.advance(timedelta(days=31))
    expire_due_actions(session, SCHEDULER.within(member.community_id))
    assert suggest_sanction(session, member.id, "respectful", policy).step.describe() == "permanent ban"  # recent
    clock.advance(timedelta(days=365))
    hint = suggest_sanction(session, member.id, "respectful", policy)
    assert hint.step.kind == "warning" and "no respectful sanction in force or in the last" in hint.why
    forever = ban(session, mod_a, member, days=None)
    cosign_action(session, mod_b, forever.id)
    clock.advance(timedelta(days=800))  # a permanent ban stays in force: it still counts
    hint = suggest_sanction(session, member.id, "respectful", policy)
    assert hint.step.describe() == "permanent ban" and "nothing on the ladder is more severe" in hint.why


def test_permanent_ban_needs_a_second_signature(session, mod_a, mod_b, make_member, clock):
    member = make_member()
    action = ban(session, mod_a, member, days=None)
    assert action.status == "pending_cosign"
    with pytest.raises(PermissionDenied, match="someone other than"):
        cosign_action(session, mod_a, action.id)
    clock.advance(hours=2)
    cosign_action(session, mod_b, action.id)
    assert action.status == "active" and action.cosigner_id == mod_b.id and action.starts_at == clock.now()
    assert action.ends_at is None
    sor = session.exec(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id)).one()
    assert sor.decision_account == "DECISION_ACCOUNT_TERMINATED" and sor.measure == "permanent ban"
    with pytest.raises(Conflict, match="only a pending action"):
        cosign_action(session, mod_b, action.id)


def test_revoke_permissions_and_open_appeal(session, mod_a, mod_b, leader, make_member):
    member = make_member()
    action = ban(session, mod_a, member)
    with pytest.raises(PermissionDenied, match="only the moderator who filed"):
        revoke_action(session, mod_b, action.id, "I disagree with this ban.")
    with pytest.raises(ValidationFailed, match="at least 10"):
        revoke_action(session, mod_a, action.id, "oops")
    appeal(session, member, action)
    with pytest.raises(Conflict, match="open appeal"):
        revoke_action(session, leader, action.id, "Lifting this ban now.")
    other = timeout(session, mod_a, make_member())
    revoke_action(session, leader, other.id, "Lifting this timeout now.")
    assert other.status == "revoked" and other.lifted_by_id == leader.id


def test_unban_lifts_active_bans(session, mod_a, make_member):
    member = make_member()
    action = ban(session, mod_a, member)
    with pytest.raises(Conflict, match="no active ban"):
        file_action(session, mod_a, NewAction(member_id=make_member().id, kind="unban", rules=["respectful"],
                                              public_reason="Ban lifted after a conversation."))
    unban = file_action(session, mod_a, NewAction(member_id=member.id, kind="unban", rules=["respectful"],
                                                  public_reason="Ban lifted after a conversation."))
    assert action.status == "revoked" and not unban.appealable


def test_expiry_is_idempotent(community, session, mod_a, make_member, clock):
    member = make_member()
    short = timeout(session, mod_a, member, hours=1)
    long = timeout(session, mod_a, make_member(), hours=48)
    clock.advance(hours=2)
    assert expire_due_actions(session, SCHEDULER.within(community.id)) == [short.id]
    assert expire_due_actions(session, SCHEDULER.within(community.id)) == []
    session.refresh(long)
    assert short.status == "expired" and long.status == "active"


def test_evidence_limits_and_types(session, mod_a, make_member):
    action = timeout(session, mod_a, make_member())
    png = add_evidence(session, mod_a, action.id, EvidenceInput("file", "private", data=PNG, filename="../../etc/x.png"))
    assert png.mime_type == "image/png" and png.filename == "_.._etc_x.png" and len(png.sha256) == 64
    with pytest.raises(ValidationFailed, match="file type not allowed"):
        add_evidence(session, mod_a, action.id, EvidenceInput("file", "public", data=b"MZ\x90\x00\x03", filename="a.exe"))
    with pytest.raises(ValidationFailed, match="limit is"):
        add_evidence(session, mod_a, action.id, EvidenceInput("file", "public", data=PNG + b"\0" * 6_000_000))
    with pytest.raises(ValidationFailed, match="visibility"):
        add_evidence(session, mod_a, action.id, EvidenceInput("text", "secret", "x"))
    with pytest.raises(ValidationFailed, match="https://"):
        add_evidence(session, mod_a, action.id, EvidenceInput("link", "public", "javascript:alert(1)"))


def test_evidence_cannot_be_deleted_while_appeal_possible(session, mod_a, leader, make_member, clock):
    member = make_member()
    action = timeout(session, mod_a, member, evidence=[EvidenceInput("text", "public", "the message")])
    evidence = session.exec(select(Evidence).where(Evidence.action_id == action.id)).one()
    with pytest.raises(Conflict, match="can still appeal"):
        delete_evidence(session, mod_a, evidence.id, "duplicate item")
    clock.advance(days=181)
    delete_evidence(session, mod_a, evidence.id, "retention period over")
    assert session.get(Evidence, evidence.id) is None
