"""Claims, two-factor and the audit browser's read models, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from modsys.audit.checkpoint import sign
from modsys.community import ensure_community, policy_for
from modsys.domain.actors import CLI, Actor
from modsys.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from modsys.domain.models import Appeal, AuditEvent, RecoveryCode, StaffUser, WorkClaim
from modsys.infra.config import load_settings
from modsys.reads import listing
from modsys.runtime import jobs
from modsys.services import claims, two_factor
from modsys.services.appeals import release_review, start_review
from modsys.services.flags import dismiss_flag
from tests.conftest import fresh
from tests.factories import appeal, ban
from tests.support.workspace import current_code, flag, other_community, wrong_code


def _holder(session, subject, ident):
    fresh(session)
    return listing.holders(session, subject, [ident]).get(ident)


def test_claim_is_seen_by_everyone_and_refused_to_a_second_moderator(session, community, mod_a, mod_b):
    f = flag(session, community.id)
    claims.claim(session, mod_a, "flag", f.id)
    holder = _holder(session, "flag", f.id)
    assert holder.username == "mod_a"
    with pytest.raises(Conflict, match="held by mod_a"):
        claims.claim(session, mod_b, "flag", f.id)
    assert _holder(session, "flag", f.id).username == "mod_a"
    events = session.exec(select(AuditEvent.verb, AuditEvent.subject_type, AuditEvent.subject_id)
                           .where(AuditEvent.verb.startswith("claim."))).all()
    assert events == [("claim.taken", "flag", f.id)]


def test_release_by_the_holder_or_leadership_only(session, community, mod_a, mod_b, leader, make_member):
    member = make_member()
    ap = appeal(session, member, ban(session, mod_a, member))
    claims.claim(session, mod_b, "appeal", ap.id)
    with pytest.raises(PermissionDenied, match="only the moderator holding it"):
        claims.release(session, mod_a, "appeal", ap.id)
    claims.release(session, leader, "appeal", ap.id)
    assert _holder(session, "appeal", ap.id) is None
    with pytest.raises(NotFound, match="is not claimed"):
        claims.release(session, mod_b, "appeal", ap.id)
    with pytest.raises(PermissionDenied, match="you filed or co-signed the case"):
        claims.claim(session, mod_a, "appeal", ap.id)  # mod_a filed it: they may not review it either
    claims.claim(session, mod_b, "appeal", ap.id)
    claims.release(session, mod_b, "appeal", ap.id)
    assert session.exec(select(WorkClaim)).all() == []


def test_starting_a_review_claims_the_appeal_and_handing_it_back_releases_it(session, community, mod_a, mod_b,
                                                                            make_staff, leader, make_member):
    mod_c = make_staff("moderator", "mod_c")
    member = make_member()
    ap = appeal(session, member, ban(session, mod_a, member))
    claims.claim(session, mod_c, "appeal", ap.id)
    with pytest.raises(Conflict, match="held by mod_c"):
        start_review(session, mod_b, ap.id)  # someone else is on it: nothing changes
    fresh(session)
    assert session.get(Appeal, ap.id).status == "submitted"
    claims.release(session, mod_c, "appeal", ap.id)
    start_review(session, mod_b, ap.id)
    assert _holder(session, "appeal", ap.id).username == "mod_b"
    claims.release(session, mod_b, "appeal", ap.id)  # the claim goes, the review stays
    fresh(session)
    assert (session.get(Appeal, ap.id).status, session.get(Appeal, ap.id).reviewer_id) == ("in_review", mod_b.id)
    claims.claim(session, mod_b, "appeal", ap.id)
    release_review(session, leader, ap.id)  # leadership hands the review back: the reviewer's claim goes too
    assert _holder(session, "appeal", ap.id) is None
    verbs = session.exec(select(AuditEvent.verb).where(AuditEvent.subject_type == "appeal")
                         .order_by(AuditEvent.seq)).all()
    assert verbs[-2:] == ["appeal.review_released", "claim.released"]


def test_claiming_again_refreshes_and_my_queue_lists_what_i_hold(session, community, mod_a, clock):
    f1, f2 = flag(session, community.id, "1"), flag(session, community.id, "2")
    claims.claim(session, mod_a, "flag", f1.id)
    clock.advance(minutes=30)
    claims.claim(session, mod_a, "flag", f1.id)
    held = _holder(session, "flag", f1.id)
    assert held.touched_at - held.claimed_at == timedelta(minutes=30)
    claims.claim(session, mod_a, "flag", f2.id)
    me = session.get(StaffUser, mod_a.id)
    assert [f.id for f in listing.my_queue(session, me).flags] == [f1.id, f2.id]
    dismiss_flag(session, mod_a, f1.id, "banter")
    assert [f.id for f in listing.my_queue(session, me).flags] == [f2.id]  # closed items leave the queue


def test_closed_unknown_and_foreign_items_cannot_be_claimed(session, community, mod_a):
    f = flag(session, community.id)
    dismiss_flag(session, mod_a, f.id, "fine")
    with pytest.raises(Conflict, match="already dismissed"):
        claims.claim(session, mod_a, "flag", f.id)
    with pytest.raises(NotFound):
        claims.claim(session, mod_a, "flag", 987654)
    with pytest.raises(ValidationFailed, match="only a flag or an appeal"):
        claims.claim(session, mod_a, "action", f.id)
    other = other_community(session)
    theirs = flag(session, other.community.id, "9")
    with pytest.raises(NotFound, match="does not exist"):
        claims.claim(session, mod_a, "flag", theirs.id)
    assert session.exec(select(WorkClaim)).all() == []


def test_idle_claims_go_back_after_the_policy_time(engine, session, community, mod_a, mod_b, clock):
    limit = policy_for(session, community.id).claims.idle_release
    f1, f2 = flag(session, community.id, "1"), flag(session, community.id, "2")
    claims.claim(session, mod_a, "flag", f1.id)
    clock.advance(limit - timedelta(minutes=1))
    claims.claim(session, mod_b, "flag", f2.id)
    assert jobs.run_jobs(engine, ["release_idle_claims"])["release_idle_claims"] == {"released": 0}
    clock.advance(minutes=2)
    assert jobs.run_jobs(engine, ["release_idle_claims"])["release_idle_claims"] == {"released": 1}
    assert _holder(session, "flag", f1.id) is None and _holder(session, "flag", f2.id).username == "mod_b"
    event = session.exec(select(AuditEvent).where(AuditEvent.verb == "claim.expired")).one()
    assert (event.subject_type, event.subject_id, event.data["holder_id"]) == ("flag", f1.id, mod_a.id)
    claims.claim(session, mod_b, "flag", f1.id)  # free again


# --- two-factor -------------------------------------------------------------------------------------

def test_enrolment_login_codes_and_replay(session, community, leader, clock):
    secret, uri = two_factor.start_enrolment(session, leader)
    assert uri.startswith("otpauth://totp/modsys%3Aleader?secret=" + secret)
    with pytest.raises(ValidationFailed, match="does not match"):
        two_factor.confirm_enrolment(session, leader, wrong_code(session, leader.id))
    codes = two_factor.confirm_enrolment(session, leader, current_code(session, leader.id))
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = session.exec(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)  # hashed, never the codes themselves
    # The enrolment code can't be used again to log in (same time step): a replay.
    assert not two_factor.verify_login_code(session, leader.id, current_code(session, leader.id))
    clock.advance(seconds=30)
    code = current_code(session, leader.id)
    assert two_factor.verify_login_code(session, leader.id, code)
    assert not two_factor.verify_login_code(session, leader.id, code)
    assert two_factor.verify_login_code(session, leader.id, codes[0].upper())  # a recovery code, once
    assert not two_factor.verify_login_code(session, leader.id, codes[0])
    with pytest.raises(Conflict, match="already on"):
        two_factor.start_enrolment(session, leader)
    verbs = session.exec(select(AuditEvent.verb).where(AuditEvent.verb.startswith("staff."))).all()
    assert "staff.two_factor_enabled" in verbs and "staff.recovery_code_used" in verbs
    assert not any(secret in json.dumps(e.data) for e in session.exec(select(AuditEvent)).all())


def test_disable_needs_a_code_and_is_refused_where_the_policy_requires_it(session, community, mod_a, leader,
                                                                          clock, tmp_path):
    two_factor.start_enrolment(session, mod_a)
    two_factor.confirm_enrolment(session, mod_a, current_code(session, mod_a.id))
    clock.advance(seconds=30)
    with pytest.raises(ValidationFailed, match="does not match"):
        two_factor.disable(session, mod_a, "12345")
    two_factor.disable(session, mod_a, current_code(session, mod_a.id))
    fresh(session)
    user = session.get(StaffUser, mod_a.id)
    assert user.totp_secret is None and not two_factor.enrolled(user)
    assert session.exec(select(RecoveryCode)).all() == []
    assert not two_factor.required(session, session.get(StaffUser, leader.id))
    strict = tmp_path / "strict.yaml"
    strict.write_text(Path(community.policy_path).read_text().replace(
        "require_two_factor: []", "require_two_factor: [leadership]"))
    ensure_community(session, strict)
    assert two_factor.required(session, session.get(StaffUser, leader.id))
    two_factor.start_enrolment(session, leader)
    two_factor.confirm_enrolment(session, leader, current_code(session, leader.id))
    clock.advance(seconds=30)
    with pytest.raises(ValidationFailed, match="requires two-factor for leaderships"):
        two_factor.disable(session, leader, current_code(session, leader.id))


# --- the audit browser ----------------------------------------------------------------------------

def test_audit_events_filter_and_stay_in_the_community(session, community, mod_a, mod_b, make_member, clock):
    member = make_member()
    action = ban(session, mod_a, member)
    f = flag(session, community.id)
    claims.claim(session, mod_b, "flag", f.id)
    other = other_community(session)
    ban(session, other.mod, other.member)
    rows = lambda args: listing.audit_events(session, community.id, args).rows  # noqa: E731
    assert all(e.community_id == community.id for e in rows({}))
    assert {e.actor_name for e in rows({"actor": "mod_b"})} == {"mod_b"}
    assert [e.verb for e in rows({"verb": "claim.taken"})] == ["claim.taken"]
    assert {e.verb.split(".")[0] for e in rows({"verb": "claim."})} == {"claim"}
    assert {(e.subject_type, e.subject_id) for e in rows({"subject": f"action:{action.id}"})} == {("action", action.id)}
    assert rows({"from": (clock.now() + timedelta(days=1)).date().isoformat()}) == []
    seqs = [e.seq for e in rows({})]
    assert seqs == sorted(seqs, reverse=True)
    for bad, message in (({"verb": "drop table"}, "verb: letters"), ({"subject": "action:x"}, "type:id"),
                         ({"to": "yesterday"}, "YYYY-MM-DD")):
        with pytest.raises(listing.InvalidFilter, match=message):
            rows(bad)


def test_last_verification_and_checkpoint(engine, session, community, mod_a, make_member, tmp_path):
    assert listing.last_verification(session) is None
    ban(session, mod_a, make_member())
    jobs.verify_audit_chain(engine, settings=load_settings({"MODSYS_AUDIT_CHECKPOINTS": str(tmp_path / "none.log")}),
                            force=True)
    fresh(session)
    last = listing.last_verification(session)
    assert last.verb == "audit.verified" and last.data["checked"] > 0
    log = tmp_path / "checkpoints.log"
    assert listing.last_checkpoint(log) is None  # no file: no checkpoint recorded
    at = datetime(2026, 11, 30, 3, 30, tzinfo=UTC)
    first, newest = sign("k" * 32, 3, "ab" * 32, at), sign("k" * 32, 9, "cd" * 32, at)
    log.write_text(f"{first.line}\nnot a checkpoint\n{newest.line}\n\n")
    assert listing.last_checkpoint(log) == newest
    log.write_text("")
    assert listing.last_checkpoint(log) is None


def test_an_admin_or_the_operator_resets_a_lost_device(session, community, mod_a, make_staff, db_url, monkeypatch):
    from click.testing import CliRunner

    from modsys.cli import main
    from modsys.services.staff import create_staff

    two_factor.start_enrolment(session, mod_a)
    two_factor.confirm_enrolment(session, mod_a, current_code(session, mod_a.id))
    other = other_community(session)
    foreign_admin = create_staff(session, CLI, other.community.id, "other_admin", "admin", "a-long-password-1")
    with pytest.raises(NotFound, match="no staff account called 'mod_a'"):  # 404: never confirms it exists
        two_factor.reset(session, Actor.staff(foreign_admin), "mod_a")
    with pytest.raises(PermissionDenied):
        two_factor.reset(session, mod_a, "mod_a")
    before = session.get(StaffUser, mod_a.id).session_token
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = CliRunner().invoke(main, ["two-factor", "reset", "mod_a"])
    assert result.exit_code == 0 and "two-factor reset for mod_a" in result.output, result.output
    unknown = CliRunner().invoke(main, ["two-factor", "reset", "ghost"])
    assert unknown.exit_code == 1 and unknown.output.strip() == "error: no staff account called 'ghost'"
    fresh(session)
    user = session.get(StaffUser, mod_a.id)
    assert not two_factor.enrolled(user) and user.session_token != before
    assert session.exec(select(RecoveryCode)).all() == []
