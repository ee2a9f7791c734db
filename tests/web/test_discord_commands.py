"""Discord commands through signed interactions: the guild<->community rule is the
one enforcement uses (MODSYS_DISCORD_GUILD_ID included), and the quick commands
(/note, /unban, /untimeout, /reason) go through the dashboard's services and
permissions."""

from __future__ import annotations

import dataclasses

import pytest
from sqlmodel import select

from modsys.adapters.discord import cases, community_for_guild, guild_id_for
from modsys.adapters.discord.audit_log import sync_audit_log
from modsys.adapters.discord.delivery import deliver_enforcement
from modsys.domain.models import (
    Action,
    AuditEvent,
    Community,
    Flag,
    OutboxMessage,
    StaffUser,
)
from modsys.runtime.delivery import deliver_outbox
from modsys.services.members import get_or_create_member
from tests.conftest import fresh
from tests.factories import ban, timeout
from tests.support import discord_interactions as d
from tests.support.discord_interactions import GUILD, Signer
from tests.support.discord_server import bot_settings

ROWAN = d.user("345678901234567890", "Rowan")
ALEX = d.user("111111111111111111", "Alex")
MOD = d.user("333333333333333333", "ModA")  # linked to mod_a
MOD_B = d.user("444444444444444444", "ModB")  # linked to mod_b


@pytest.fixture
def signer() -> Signer:
    return Signer()


def _link(session, *pairs) -> None:
    for actor, who in pairs:
        staff = session.get(StaffUser, actor.id)
        staff.discord_user_id = who["id"]
        session.add(staff)
    session.commit()


@pytest.fixture
def front(app, signer, session, community, mod_a, mod_b):
    """The default community's guild set as docs/discord.md §3 says: MODSYS_DISCORD_GUILD_ID."""
    state = app.extensions["modsys"]
    state.settings = dataclasses.replace(state.settings, discord_public_key=signer.public_hex,
                                         base_url="https://modsys.example", discord_guild_id=GUILD)
    assert session.get(Community, community.id).discord_guild_id is None
    _link(session, (mod_a, MOD), (mod_b, MOD_B))
    return app.test_client()


def reply(resp) -> str:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    return body["data"].get("content", "") if body["type"] == 4 else body


def test_the_env_guild_is_the_default_community_for_interactions_as_for_enforcement(
        app, front, signer, session, community):
    settings = app.extensions["modsys"].settings
    assert guild_id_for(session.get(Community, community.id), settings) == GUILD
    assert community_for_guild(session, GUILD, settings).id == community.id
    assert community_for_guild(session, "123", settings) is None
    modal = signer.post(front, d.message_command("Report to moderators", ALEX, "700", ROWAN, "you idiot")).get_json()
    assert modal["type"] == 9, modal  # the report form, not "this server is not set up"
    assert "Thanks" in reply(signer.post(front, d.modal_submit(modal["data"]["custom_id"], ALEX, {"reason": "insult"})))
    fresh(session)
    assert session.exec(select(Flag.community_id)).all() == [community.id]


def test_a_community_with_its_own_guild_does_not_answer_for_the_env_guild(app, front, signer, session, community):
    own = session.get(Community, community.id)
    own.discord_guild_id = "880000000000000055"
    session.add(own)
    session.commit()
    settings = app.extensions["modsys"].settings
    assert community_for_guild(session, GUILD, settings) is None
    assert community_for_guild(session, "880000000000000055", settings).id == community.id
    assert "not" in reply(signer.post(front, d.message_command("Report to moderators", ALEX, "700", ROWAN, "x")))


# --- the quick commands ----------------------------------------------------------------


@pytest.fixture
def bot(app, signer, session, community, mod_a, mod_b, discord_bot):
    """The community with its own guild, the bot in it (the fake Discord), staff linked."""
    state = app.extensions["modsys"]
    state.settings = dataclasses.replace(state.settings, discord_public_key=signer.public_hex,
                                         base_url="https://modsys.example")
    c = session.get(Community, community.id)
    c.discord_guild_id = GUILD
    session.add(c)
    _link(session, (mod_a, MOD), (mod_b, MOD_B))
    discord_bot.add_guild(GUILD).add_member(ROWAN["id"])
    return app.test_client()


def _opts(**values) -> list[dict]:
    types = {"member": 6, "case": 4}
    return [{"name": k, "type": types.get(k, 3), "value": v} for k, v in values.items()]


def run_bot(engine, discord_bot):
    """One scheduler pass: the outbox (the member's DMs), then Discord enforcement."""
    settings = bot_settings(discord_bot, MODSYS_BASE_URL="https://modsys.example")
    deliver_outbox(engine, settings=settings)
    deliver_enforcement(engine, settings=settings)


def test_note_files_an_internal_note_through_the_dashboards_service(bot, signer, session):
    text = reply(signer.post(bot, d.slash("note", MOD, _opts(member=ROWAN["id"], rule="respectful",
                                                             text="Warned verbally in voice chat."), [ROWAN])))
    fresh(session)
    note = session.exec(select(Action)).one()
    assert (note.kind, note.private_note, note.rules) == ("note", "Warned verbally in voice chat.", ["respectful"])
    assert f"Note #{note.id} added to Rowan's case file" in text and f"/actions/{note.id}" in text
    assert session.exec(select(OutboxMessage).where(OutboxMessage.channel == "member")).all() == []  # internal
    short = reply(signer.post(bot, d.slash("note", MOD, _opts(member=ROWAN["id"], rule="respectful", text="meh"),
                                           [ROWAN])))
    assert short.startswith("Nothing was filed: private note")
    assert "not linked" in reply(signer.post(bot, d.slash("note", ALEX, _opts(
        member=ROWAN["id"], rule="respectful", text="A member can't write notes."), [ROWAN])))


def test_unban_and_untimeout_lift_in_modsys_and_discord_with_a_reason(bot, signer, session, engine, discord_bot,
                                                                      mod_a, community):
    rowan = get_or_create_member(session, community.id, ROWAN["id"], "Rowan")
    session.commit()
    banned = ban(session, mod_a, rowan)
    run_bot(engine, discord_bot)
    assert ROWAN["id"] in discord_bot.guilds[GUILD].bans
    text = reply(signer.post(bot, d.slash("unban", MOD_B, _opts(
        member=ROWAN["id"], reason="Apologised and explained it was a misunderstanding."), [ROWAN])))
    fresh(session)
    unban = session.exec(select(Action).where(Action.kind == "unban")).one()
    assert f"Case #{unban.id}: Rowan's ban is lifted" in text
    assert unban.rules == ["respectful"] and session.get(Action, banned.id).status == "revoked"  # rule of the ban
    run_bot(engine, discord_bot)
    assert ROWAN["id"] not in discord_bot.guilds[GUILD].bans
    assert discord_bot.calls_to("delete_ban")[-1].reason == f"modsys case #{unban.id}: respectful"
    audit = session.exec(select(AuditEvent).where(AuditEvent.verb == "action.filed")).all()
    assert [(e.actor_name, e.data["kind"]) for e in audit] == [("mod_a", "ban"), ("mod_b", "unban")]

    assert "has no active ban" in reply(signer.post(bot, d.slash("unban", MOD, _opts(
        member=ROWAN["id"], reason="Lifting a ban that is not there."), [ROWAN])))

    discord_bot.guilds[GUILD].add_member(ROWAN["id"])
    muted = timeout(session, mod_a, rowan, hours=6)
    run_bot(engine, discord_bot)
    assert discord_bot.guilds[GUILD].timed_out_until(ROWAN["id"])
    text = reply(signer.post(bot, d.slash("untimeout", MOD, _opts(
        member=ROWAN["id"], reason="The argument was settled; back to chatting.", rule="spam"), [ROWAN])))
    fresh(session)
    lift = session.exec(select(Action).where(Action.kind == "untimeout")).one()
    assert "timeout is lifted" in text and lift.rules == ["spam"]
    assert session.get(Action, muted.id).status == "revoked"
    run_bot(engine, discord_bot)
    assert discord_bot.guilds[GUILD].timed_out_until(ROWAN["id"]) is None


def test_reason_completes_a_discord_case_then_amends_it_audited_with_the_dm(bot, signer, session, engine,
                                                                            discord_bot, community):
    discord_bot.guilds[GUILD].log(22, ROWAN["id"], "300000000000000099", reason="raid")
    sync_audit_log(engine, settings=bot_settings(discord_bot))
    fresh(session)
    case = session.exec(select(Action).where(Action.source == "discord")).one()
    text = reply(signer.post(bot, d.slash("reason", MOD, _opts(case=case.id, text="Joined with a raid bot."))))
    assert "cites no rule yet" in text and cases.awaiting_reasons(session, case.id)
    assert f"case {case.id + 50} does not exist" in reply(signer.post(bot, d.slash("reason", MOD, _opts(
        case=case.id + 50, rule="spam", text="Joined with a raid bot."))))
    text = reply(signer.post(bot, d.slash("reason", MOD, _opts(
        case=case.id, rule="spam", text="Joined with a raid bot that spammed every channel."))))
    assert f"Case #{case.id}: statement of reasons complete" in text and "can appeal until" in text
    fresh(session)
    assert not cases.awaiting_reasons(session, case.id)
    run_bot(engine, discord_bot)
    (dm,) = discord_bot.dms[ROWAN["id"]]
    assert "https://modsys.example/appeal/" in dm["content"] and "raid bot that spammed" in dm["content"]

    text = reply(signer.post(bot, d.slash("reason", MOD_B, _opts(
        case=case.id, text="Joined with a raid bot that posted scam links in every channel."))))
    assert "amended" in text
    fresh(session)
    verbs = [(e.verb, e.actor_name) for e in session.exec(select(AuditEvent).where(
        AuditEvent.verb.in_(("action.reasons_completed", "action.reasons_amended"))).order_by(AuditEvent.seq))]
    assert verbs == [("action.reasons_completed", "mod_a"), ("action.reasons_amended", "mod_b")]
    run_bot(engine, discord_bot)
    assert len(discord_bot.dms[ROWAN["id"]]) == 1  # amending does not DM again
