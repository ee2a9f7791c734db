"""Discord commands through signed interactions: the guild<->community rule is the
one enforcement uses (MODSYS_DISCORD_GUILD_ID included), and the quick commands
(/note, /unban, /untimeout, /reason) go through the dashboard's services and
permissions."""

from __future__ import annotations

import dataclasses

import pytest
from sqlmodel import select

from modsys.discord import community_for_guild, guild_id_for
from modsys.models import Community, Flag, StaffUser
from tests.conftest import fresh
from tests.support import discord_interactions as d
from tests.support.discord_interactions import GUILD, Signer

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
