"""The gateway's pages: the raid alert on the dashboard and its one-click
response (bad input refused, nothing changed), and a member's deleted and
edited messages, attached to a case from their page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from modsys.adapters.discord.gateway import message_log
from modsys.adapters.discord.gateway.raids import raise_alert
from modsys.domain.models import Evidence, RaidIncident
from modsys.infra.config import DEFAULT_POLICY
from modsys.infra.crypto import cipher_for
from tests.conftest import csrf_token, fresh, login
from tests.factories import ban

CHANNEL = "600000000000000001"


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(DEFAULT_POLICY.read_text().replace("  channels: []", f"  channels: [{CHANNEL}]"))
    return path


def test_a_raid_alert_is_on_the_dashboard_and_one_click_responds(app, engine, session, community, mod_a, clock):
    now = clock.now()
    incident_id = raise_alert(engine, community.id, "joins",
                              [(now, str(1400000000000000000 + i), f"raider{i}") for i in range(12)],
                              timedelta(seconds=60))
    client = app.test_client()
    login(client, "mod_a")
    assert f'data-raid="{incident_id}"' in client.get("/").get_data(as_text=True)
    page = client.get(f"/raids/{incident_id}").get_data(as_text=True)
    assert "Lock down and ban all 12" in page and "raider11" in page
    token = csrf_token(client, f"/raids/{incident_id}")
    refused = client.post(f"/raids/{incident_id}/respond", data={"csrf_token": token, "lockdown_hours": "48"})
    assert refused.status_code == 422 and b"0 to 24" in refused.data
    fresh(session)
    assert session.get(RaidIncident, incident_id).status == "open"
    assert client.post(f"/raids/{incident_id}/respond",
                       data={"csrf_token": token, "lockdown_hours": "2"}).status_code == 302
    fresh(session)
    incident = session.get(RaidIncident, incident_id)
    assert incident.status == "banning" and incident.lockdown_until == now + timedelta(hours=2)
    assert f'data-raid="{incident_id}"' not in client.get("/").get_data(as_text=True)


def test_a_members_deleted_message_is_shown_and_attached_to_a_case(app, engine, session, community, mod_a,
                                                                   make_member):
    member = make_member()
    cipher = cipher_for(app.extensions["modsys"].settings)
    message_log.on_create(engine, cipher, community.id, {
        "id": "1300000000000000031", "channel_id": CHANNEL, "content": "a rude remark",
        "author": {"id": member.platform_user_id, "username": "m"}})
    message_log.on_delete(engine, community.id, ["1300000000000000031"])
    action = ban(session, mod_a, member)
    client = app.test_client()
    login(client, "mod_a")
    assert "Deleted and edited messages" in client.get(f"/members/{member.id}").get_data(as_text=True)
    page = client.get(f"/members/{member.id}/messages").get_data(as_text=True)
    assert "a rude remark" in page and "deleted" in page
    logged_id = message_log.recent_changes(session, cipher, community.id, member.platform_user_id)[0].id
    token = csrf_token(client, f"/members/{member.id}/messages")
    assert client.post(f"/logged-messages/{logged_id}/attach",
                       data={"csrf_token": token, "action_id": "x"}).status_code == 422
    answer = client.post(f"/logged-messages/{logged_id}/attach",
                         data={"csrf_token": token, "action_id": str(action.id), "visibility": "private"})
    assert answer.status_code == 302
    fresh(session)
    snapshot = session.exec(select(Evidence).where(Evidence.kind == "message_snapshot")).one()
    assert snapshot.action_id == action.id and "a rude remark" in snapshot.content


def test_a_modmail_thread_shows_the_members_cases_and_takes_a_reply(app, engine, session, community, mod_a,
                                                                    make_member):
    from modsys.adapters.discord.gateway.modmail import receive
    from modsys.domain.models import ModmailMessage

    member = make_member("writer")
    action = ban(session, mod_a, member, days=7)
    thread = receive(engine, community.id, {"id": "1300000000000000051", "content": "hello mods",
                                            "author": {"id": member.platform_user_id, "username": "writer"}})
    client = app.test_client()
    login(client, "mod_a")
    assert f"/modmail/{thread.id}" in client.get("/modmail").get_data(as_text=True)
    page = client.get(f"/modmail/{thread.id}").get_data(as_text=True)
    assert "hello mods" in page and f"Case #{action.id}" in page and "answered with their appeal link" in page
    token = csrf_token(client, f"/modmail/{thread.id}")
    assert client.post(f"/modmail/{thread.id}/reply", data={"csrf_token": token, "body": " "}).status_code == 422
    assert client.post(f"/modmail/{thread.id}/reply", data={"csrf_token": token, "body": "We read you."}).status_code == 302
    fresh(session)
    out = session.exec(select(ModmailMessage).where(ModmailMessage.body == "We read you.")).one()
    assert out.direction == "out" and out.status == "pending"  # the job sends it, never the request
