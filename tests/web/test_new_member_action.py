"""Filing against someone with no case file yet: the member is created by the
service, in the action's transaction and audited; a refused form leaves nothing."""

from __future__ import annotations

from sqlmodel import select

from modsys.domain.models import AuditEvent, Member
from tests.conftest import csrf_token, fresh, login


def test_a_refused_form_leaves_no_member_and_an_accepted_one_audits_it(app, session, mod_a):
    client = app.test_client()
    login(client, "mod_a")
    form = {"csrf_token": csrf_token(client, "/actions/new"), "platform_user_id": "424242424242424242",
            "display_name": "newcomer", "kind": "warning", "rule": "respectful", "duration": ""}
    refused = client.post("/actions/new", data={**form, "public_reason": "short"})
    assert refused.status_code == 422
    fresh(session)
    assert session.exec(select(Member).where(Member.platform_user_id == "424242424242424242")).first() is None
    filed = client.post("/actions/new", data={**form, "public_reason": "Insulting another member twice."})
    assert filed.status_code == 302
    fresh(session)
    member = session.exec(select(Member).where(Member.platform_user_id == "424242424242424242")).one()
    created = session.exec(select(AuditEvent).where(AuditEvent.verb == "member.created")).one()
    assert (created.subject_id, created.actor_name) == (member.id, "mod_a")
