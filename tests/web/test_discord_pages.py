"""Discord on the pages: the case page's enforcement state and retry, the form's
delete-messages choice, the reason-needed form, /admin's failed list, drift fixes
and staff Discord ids, and the API's action output. No Discord call happens
inside a request: the fake records every one."""

from __future__ import annotations

import re

from sqlmodel import select

from modsys.adapters.discord import drift
from modsys.adapters.discord.audit_log import sync_audit_log
from modsys.adapters.discord.delivery import deliver_enforcement
from modsys.domain.actors import CLI
from modsys.domain.models import Action, DiscordEnforcement, StaffUser
from modsys.services.api_keys import create_api_key
from tests.conftest import csrf_token, fresh, login
from tests.factories import ban
from tests.support.discord_server import bot_settings


def page(client, path) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_without_a_bot_the_case_page_says_not_enforced(app, session, mod_a, make_member):
    case = ban(session, mod_a, make_member())
    client = app.test_client()
    login(client, "mod_a")
    assert "not enforced in Discord (no bot configured)" in page(client, f"/actions/{case.id}")


def test_a_ban_filed_on_the_form_is_queued_not_sent_then_shows_applied_and_the_dm(
        app, engine, session, mod_a, make_member, guild, discord_bot):
    member = make_member()
    client = app.test_client()
    login(client, "mod_a")
    form = {"csrf_token": csrf_token(client, f"/actions/new?member={member.id}"), "member": member.id, "kind": "ban",
            "rule": "respectful", "duration": "7d", "delete_message_seconds": "3600",
            "public_reason": "Repeated insults towards another member."}
    response = client.post("/actions/new", data=form)
    assert response.status_code == 302
    assert discord_bot.calls == []  # nothing went to Discord inside the request
    case_url = response.location
    assert "pending" in page(client, case_url)

    deliver_enforcement(engine, settings=bot_settings(discord_bot))
    text = page(client, case_url)
    assert "applied" in text and "banned, 1 hour of messages deleted" in text and "member notified by DM" in text
    assert discord_bot.calls_to("put_ban")[0].json == {"delete_message_seconds": 3600}


def test_a_bad_delete_messages_choice_is_a_4xx_and_files_nothing(app, session, mod_a, make_member, guild):
    member = make_member()
    client = app.test_client()
    login(client, "mod_a")
    form = {"csrf_token": csrf_token(client, f"/actions/new?member={member.id}"), "member": member.id, "kind": "ban",
            "rule": "respectful", "duration": "7d", "delete_message_seconds": "999",
            "public_reason": "Repeated insults towards another member."}
    response = client.post("/actions/new", data=form)
    assert response.status_code == 422 and "1 hour, 1 day or 7 days" in response.get_data(as_text=True)
    fresh(session)
    assert session.exec(select(Action)).all() == []


def test_a_failure_shows_why_and_staff_retry_it_from_the_case_page_and_admin(
        app, engine, session, mod_a, make_staff, make_member, guild, discord_bot):
    make_staff("admin", "root")
    guild.roles[1]["permissions"] = "0"
    case = ban(session, mod_a, make_member())
    deliver_enforcement(engine, settings=bot_settings(discord_bot))
    client = app.test_client()
    login(client, "mod_a")
    text = page(client, f"/actions/{case.id}")
    assert "failed" in text and "the bot needs Ban Members" in text and "Retry in Discord" in text
    token = csrf_token(client, f"/actions/{case.id}")
    assert client.post(f"/actions/{case.id}/discord/retry", data={"csrf_token": token}).status_code == 302
    fresh(session)
    assert session.exec(select(DiscordEnforcement)).one().status == "pending"

    deliver_enforcement(engine, settings=bot_settings(discord_bot))
    admin = app.test_client()
    login(admin, "root")
    text = page(admin, "/admin")
    assert f"#{case.id}" in text and "403 Missing Permissions" in text
    row = session.exec(select(DiscordEnforcement)).one()
    guild.roles[1]["permissions"] = str(1 << 2)
    token = csrf_token(admin, "/admin")
    assert admin.post("/admin/discord/retry", data={"csrf_token": token, "id": str(row.id)}).status_code == 302
    deliver_enforcement(engine, settings=bot_settings(discord_bot))
    assert "applied" in page(client, f"/actions/{case.id}")


def test_admin_cannot_set_a_staff_discord_id_and_a_bad_id_changes_nothing(app, session, mod_a, make_staff):
    # Only the account holder links (tests/web/test_sign_in_security.py); admins may unlink.
    make_staff("admin", "root")
    client = app.test_client()
    login(client, "root")
    token = csrf_token(client, "/admin")
    for value in ("12ab", "300000000000000001"):
        refused = client.post(f"/admin/staff/{mod_a.id}/discord", data={"csrf_token": token, "discord_user_id": value})
        assert refused.status_code == 403
    fresh(session)
    assert session.get(StaffUser, mod_a.id).discord_user_id is None


def test_reason_needed_case_is_completed_on_its_page(app, engine, session, mod_a, make_staff, guild, discord_bot):
    make_staff("admin", "root")
    guild.log(22, "400000000000000001", "300000000000000099", reason="spam")
    sync_audit_log(engine, settings=bot_settings(discord_bot))
    case = session.exec(select(Action).where(Action.source == "discord")).one()
    admin = app.test_client()
    login(admin, "root")
    assert f"Case #{case.id}" in page(admin, "/admin")  # listed as reason needed
    client = app.test_client()
    login(client, "mod_a")
    text = page(client, f"/actions/{case.id}")
    assert "Reason needed" in text and "unlinked moderator 300000000000000099" in text
    token = csrf_token(client, f"/actions/{case.id}")
    response = client.post(f"/actions/{case.id}/discord/reasons", data={
        "csrf_token": token, "rule": "respectful", "public_reason": "Posting scam links in several channels."})
    assert response.status_code == 302
    assert "Reason needed" not in page(client, f"/actions/{case.id}")


def test_drift_is_listed_on_admin_and_fixed_with_one_click(app, engine, session, community, make_staff, guild,
                                                           discord_bot):
    make_staff("admin", "root")
    guild.bans["600000000000000001"] = {"reason": None, "user": {"id": "600000000000000001"}}
    drift.check_drift(engine, settings=bot_settings(discord_bot))
    (finding,) = drift.open_findings(session, community.id)
    client = app.test_client()
    login(client, "root")
    assert "banned in Discord without a case" in page(client, "/admin")
    token = csrf_token(client, "/admin")
    wrong = client.post(f"/admin/discord/drift/{finding.id}/close", data={"csrf_token": token})
    assert wrong.status_code == 422
    assert client.post(f"/admin/discord/drift/{finding.id}/import", data={"csrf_token": token}).status_code == 302
    fresh(session)
    assert drift.open_findings(session, community.id) == []
    assert session.exec(select(Action).where(Action.source == "discord")).one().kind == "ban"


def test_the_api_action_output_carries_the_enforcement_state(app, engine, session, community, mod_a, make_member,
                                                            guild, discord_bot):
    _, key = create_api_key(session, CLI, community.id, "modbot", "moderator", acts_as="mod_a")
    case = ban(session, mod_a, make_member())
    client = app.test_client()
    out = client.get(f"/api/v1/actions/{case.id}", headers={"Authorization": f"Bearer {key}"}).get_json()
    assert out["discord"]["state"] == "pending" and out["discord"]["steps"][0]["op"] == "apply"
    deliver_enforcement(engine, settings=bot_settings(discord_bot))
    out = client.get(f"/api/v1/actions/{case.id}", headers={"Authorization": f"Bearer {key}"}).get_json()
    assert out["discord"]["state"] == "applied" and out["discord"]["dm"] == "member notified by DM"
