"""Cases done in the Discord client on the pages: the moderators' dashboard lists
them with a count, /cases filters them (kinds and sources come from the
registry), the portal refuses an appeal until the reasons are written, the case
page says what became of the link, and /admin asks for a drift check now."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from modsys.adapters.discord import drift
from modsys.adapters.discord.audit_log import sync_audit_log
from modsys.domain.kinds import KINDS, SOURCES
from modsys.domain.models import Action, DiscordSyncCursor, Member
from modsys.infra.portal_links import make_token
from modsys.runtime.delivery import deliver_outbox
from tests.conftest import csrf_token, fresh, login
from tests.factories import ban
from tests.support.discord_server import bot_settings

BANNED = "400000000000000001"


def page(client, path) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _recorded(engine, session, guild, discord_bot, kind: int = 22) -> Action:
    guild.log(kind, BANNED, "300000000000000099", reason="raid bot")
    sync_audit_log(engine, settings=bot_settings(discord_bot))
    fresh(session)
    return session.exec(select(Action).where(Action.source == "discord").order_by(Action.id.desc())).first()


def test_moderators_see_discord_cases_on_their_dashboard_with_a_count(app, engine, session, mod_a, guild,
                                                                      discord_bot):
    client = app.test_client()
    login(client, "mod_a")
    assert "reason needed" not in page(client, "/")
    case = _recorded(engine, session, guild, discord_bot)
    _recorded(engine, session, guild, discord_bot, kind=20)  # a kick
    text = page(client, "/")
    assert re.search(r"Done in Discord, reason needed <span class=\"badge\">2</span>", text), text
    assert f'href="/actions/{case.id}"' in text and "unlinked moderator 300000000000000099" in text
    assert "Discord's reason: raid bot" in text


def test_cases_filter_by_every_kind_and_source_of_the_registry(app, engine, session, mod_a, make_member, guild,
                                                               discord_bot):
    kicked = _recorded(engine, session, guild, discord_bot, kind=20)
    filed = ban(session, mod_a, make_member())
    client = app.test_client()
    login(client, "mod_a")
    form = page(client, "/cases")
    for name in KINDS:
        assert f'<option value="{name}"' in form, name
    for source in SOURCES:
        assert f'<option value="{source}"' in form, source
    listed = page(client, "/cases?source=discord")
    assert f'data-action-id="{kicked.id}"' in listed and f'data-action-id="{filed.id}"' not in listed
    assert "done in Discord" in listed
    listed = page(client, "/cases?kind=kick")
    assert f'data-action-id="{kicked.id}"' in listed and f'data-action-id="{filed.id}"' not in listed


def test_the_portal_refuses_an_appeal_until_the_reasons_are_written(app, engine, session, mod_a, guild, discord_bot,
                                                                   clock):
    case = _recorded(engine, session, guild, discord_bot)
    member = session.get(Member, case.member_id)
    # A link as "My cases" makes one after Discord sign-in (the case has no deadline yet).
    token = make_token(app.extensions["modsys"].secret_key, case.id, member.id, clock.now() + timedelta(days=1))
    client = app.test_client()
    text = page(client, f"/appeal/{token}")
    assert "The moderators are writing the statement of reasons" in text
    assert "Send my appeal" not in text and "receive it by DM with your appeal link" in text
    assert "raid bot" not in text  # Discord's reason is a staff-only draft
    response = client.post(f"/appeal/{token}/appeal", data={
        "csrf_token": csrf_token(client, "/login"), "statement": "I was not part of any raid, please look again."})
    assert response.status_code == 422, response.status_code
    assert "not yet written the statement of reasons" in response.get_data(as_text=True)
    fresh(session)
    assert session.get(Action, case.id).appeal_deadline is None


def test_the_case_page_says_what_became_of_the_link(app, engine, session, mod_a, guild, discord_bot, clock):
    case = _recorded(engine, session, guild, discord_bot)
    client = app.test_client()
    login(client, "mod_a")
    text = page(client, f"/actions/{case.id}")
    assert "not yet: the appeal window starts when the statement of reasons is complete" in text
    assert ">raid bot</textarea>" in text  # Discord's reason is the draft
    assert 'id="appeal-link"' not in text
    token = csrf_token(client, f"/actions/{case.id}")
    client.post(f"/actions/{case.id}/discord/reasons", data={
        "csrf_token": token, "rule": "spam", "public_reason": "Joined with a bot that spammed every channel."})
    assert "It is queued for the member&#39;s DM." in page(client, f"/actions/{case.id}")
    discord_bot.closed_dms.add(BANNED)
    deliver_outbox(engine, settings=bot_settings(discord_bot))
    text = page(client, f"/actions/{case.id}")
    assert "was also queued in the member notice" not in text
    assert "Not notified: the member does not accept DMs" in text and "send it by hand" in text


def test_admin_shows_the_placeholder_without_buttons_and_its_routes_refuse(app, engine, session, make_staff, guild,
                                                                          discord_bot):
    case = _recorded(engine, session, guild, discord_bot, kind=145)  # AutoMod
    make_staff("admin", "boss")
    client = app.test_client()
    login(client, "boss")
    text = page(client, "/admin")
    assert "modsys's placeholder" in text and f'action="/admin/staff/{case.moderator_id}/' not in text
    response = client.post(f"/admin/staff/{case.moderator_id}/active",
                           data={"csrf_token": csrf_token(client, "/admin"), "active": "1"})
    assert response.status_code == 409 and "placeholder" in response.get_data(as_text=True)


def test_admin_asks_for_a_drift_check_now_and_the_scheduler_runs_it(app, engine, session, community, make_staff,
                                                                    guild, discord_bot):
    make_staff("admin", "boss")
    client = app.test_client()
    login(client, "boss")
    assert "Check drift now" in page(client, "/admin")
    assert not discord_bot.calls_to("bans")  # nothing goes to Discord inside the request
    response = client.post("/admin/discord/drift/check", data={"csrf_token": csrf_token(client, "/admin")})
    assert response.status_code == 302 and not discord_bot.calls_to("bans")
    fresh(session)
    assert session.exec(select(DiscordSyncCursor)).one().drift_requested_at is not None
    assert "runs within a minute" in page(client, "/admin")
    guild.bans[BANNED] = {"reason": "crypto scam", "user": {"id": BANNED, "username": "scammer"}}
    assert drift.check_requested(engine, settings=bot_settings(discord_bot))["checked"] == 1
    text = page(client, "/admin")
    assert "scammer" in text and "Discord's reason: crypto scam" in text and "last " in text
