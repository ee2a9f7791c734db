"""Kick, added through the registry alone: a one-off removal, appealable, with no duration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from modsys.domain.actors import Actor
from modsys.domain.errors import PolicyViolation, ValidationFailed
from modsys.domain.models import StatementOfReasons
from modsys.services.actions import NewAction, file_action
from modsys.services.appeals import start_review, submit_appeal
from modsys.services.decisions import Decision, Modification, decide_appeal
from tests.factories import STATEMENT, ban


def kick(session, mod, member, **kw):
    return file_action(session, mod, NewAction(member_id=member.id, kind="kick", rules=["respectful"],
                                               public_reason="Kicked for insulting another member.", **kw))


def test_a_kick_is_filed_explained_and_appealable(session, mod_a, mod_b, make_member):
    member = make_member()
    action = kick(session, mod_a, member)
    assert (action.status, action.ends_at, action.appealable) == ("active", None, True)
    sor = session.exec(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id)).one()
    assert (sor.measure, sor.decision_account, sor.decision_provision) == (
        "kick", None, "DECISION_PROVISION_PARTIAL_TERMINATION")
    appeal = submit_appeal(session, Actor.member(member), action.id, STATEMENT)
    start_review(session, mod_b, appeal.id)
    with pytest.raises(PolicyViolation, match="harsher"):  # kick -> ban is worse: refused
        decide_appeal(session, mod_b, appeal.id, Decision("modified", "A ban would fit this better, really.",
                                                          Modification("ban", timedelta(days=7))))
    decided = decide_appeal(session, mod_b, appeal.id, Decision("modified", "A warning is enough for a first time.",
                                                                Modification("warning")))
    assert decided.outcome == "modified"


def test_a_kick_takes_no_duration_and_is_lighter_than_a_ban(session, mod_a, mod_b, make_member):
    with pytest.raises(ValidationFailed, match="no duration"):
        kick(session, mod_a, make_member(), duration=timedelta(hours=1))
    member = make_member()
    banned = ban(session, mod_a, member)
    appeal = submit_appeal(session, Actor.member(member), banned.id, STATEMENT)
    start_review(session, mod_b, appeal.id)
    decided = decide_appeal(session, mod_b, appeal.id, Decision("modified", "A kick is enough for what happened.",
                                                                Modification("kick")))
    assert decided.modified_action_id is not None
