"""The appeal portal's rules, at the read-model level (web/portal.py only renders them)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modsys.domain.actors import Actor
from modsys.domain.errors import NotFound
from modsys.domain.models import Action
from modsys.infra.portal_links import make_token
from modsys.reads import appeal_portal as portal
from modsys.services.appeals import submit_appeal, withdraw_appeal
from modsys.services.evidence import EvidenceInput
from tests.conftest import fresh
from tests.factories import STATEMENT, ban

SECRET = "portal-secret-for-tests"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _token(action: Action) -> str:
    return make_token(SECRET, action.id, action.member_id, action.appeal_deadline)


def test_can_appeal_follows_the_actions_stored_flag_not_todays_policy(session, mod_a, make_member):
    action = ban(session, mod_a, make_member())
    case = portal.open_case(session, SECRET, _token(action))
    assert portal.can_appeal(case, []) == (True, "")
    action.appealable = False  # as filed under a policy that did not allow appealing it
    assert portal.can_appeal(case, [])[0] is False


def test_an_expired_link_works_only_while_there_is_an_appeal_to_follow(session, mod_a, make_member, clock):
    member = make_member()
    action = ban(session, mod_a, member)
    token = _token(action)
    submit_appeal(session, Actor.member(member), action.id, STATEMENT)
    clock.advance(timedelta(days=200))  # past the appeal window: the link expired
    case = portal.open_case(session, SECRET, token)
    assert case.grace and portal.can_appeal(case, portal.case_view(session, case).appeals)[0] is False
    other = ban(session, mod_a, make_member())
    clock.advance(timedelta(days=200))
    with pytest.raises(portal.LinkProblem) as refused:
        portal.open_case(session, SECRET, _token(other))
    assert refused.value.http_status == 410


def test_withdrawing_starts_the_cooldown(session, mod_a, make_member, clock):
    member = make_member()
    action = ban(session, mod_a, member)
    appeal = submit_appeal(session, Actor.member(member), action.id, STATEMENT)
    withdraw_appeal(session, Actor.member(member), appeal.id)
    view = portal.case_view(session, portal.open_case(session, SECRET, _token(action)))
    assert view.cooldown_until == appeal.withdrawn_at + timedelta(hours=24)
    clock.advance(timedelta(hours=25))
    fresh(session)
    assert portal.case_view(session, portal.open_case(session, SECRET, _token(action))).cooldown_until is None


def test_only_public_files_of_the_case_or_the_members_own_appeal_download(session, mod_a, make_member):
    member = make_member()
    action = ban(session, mod_a, member, evidence=[EvidenceInput("file", "public", data=PNG, filename="a.png"),
                                                   EvidenceInput("file", "private", data=PNG, filename="b.png")])
    public, private = sorted(portal.queries.evidence_for(session, action.id, include_private=True), key=lambda e: e.id)
    other = ban(session, mod_a, make_member(), evidence=[EvidenceInput("file", "public", data=PNG, filename="c.png")])
    [foreign] = portal.queries.evidence_for(session, other.id, include_private=False)
    case = portal.open_case(session, SECRET, _token(action))
    assert portal.downloadable_evidence(session, case, public.id).id == public.id
    for hidden in (private.id, foreign.id, 2**40):
        with pytest.raises(NotFound):
            portal.downloadable_evidence(session, case, hidden)
