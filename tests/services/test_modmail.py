"""Modmail through the fake gateway and the fake Discord: a member's DM opens a
thread in modsys (and a forum post when the policy names a forum), a
moderator's reply reaches them as a DM, a replayed DM is kept once, and a
banned member is answered with their appeal link."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from modsys.adapters.discord.gateway.modmail import reply
from modsys.domain.models import ModmailMessage, ModmailThread
from modsys.infra.config import DEFAULT_POLICY
from modsys.runtime.jobs import deliver_modmail
from tests.conftest import fresh
from tests.factories import ban
from tests.support.wait import wait_until

FORUM = "800000000000000001"


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(DEFAULT_POLICY.read_text().replace("forum_channel_id: null", f"forum_channel_id: {FORUM}"))
    return path


@pytest.fixture
def member(make_member):
    return make_member("dm-writer")


def dm(gateway, member, mid: str, text: str) -> None:
    gateway.dispatch("MESSAGE_CREATE", {"id": mid, "type": 0, "channel_id": "7" + member.platform_user_id,
                                        "content": text, "author": {"id": member.platform_user_id, "username": "w"},
                                        "attachments": [], "timestamp": "2026-12-01T10:00:00+00:00"})


def messages(session) -> list[ModmailMessage]:
    fresh(session)
    return list(session.exec(select(ModmailMessage).order_by(ModmailMessage.id)))


def test_a_members_dm_opens_a_thread_and_the_reply_reaches_them(engine, session, mod_a, member, running,
                                                                discord_bot):
    dm(running, member, "1300000000000000041", "Why was my message removed?")
    dm(running, member, "1300000000000000041", "Why was my message removed?")  # the same event again
    wait_until(lambda: [m.direction for m in messages(session)] == ["in", "forum"], 10, "the thread")
    [thread] = session.exec(select(ModmailThread)).all()
    assert thread.member_id == member.id and thread.status == "open"

    reply(session, mod_a, thread.id, "It named another member; please keep it civil.")
    assert deliver_modmail(engine, settings=running.settings)["sent"] == 3
    assert [m["content"] for m in discord_bot.dms[member.platform_user_id]] == [
        "It named another member; please keep it civil."]
    [post] = discord_bot.forum_posts.values()
    assert post["parent"] == FORUM and "Why was my message removed?" in post["messages"][0]
    assert "(moderator): It named another member" in post["messages"][1]
    assert deliver_modmail(engine, settings=running.settings) == {"sent": 0, "failed": 0, "retry": 0}


def test_a_banned_members_dm_gets_their_appeal_link(engine, session, mod_a, member, running, discord_bot):
    action = ban(session, mod_a, member)
    discord_bot.dms.clear()
    dm(running, member, "1300000000000000042", "let me back in")
    wait_until(lambda: [m.direction for m in messages(session)] == ["in", "out"], 10, "the answer")
    assert deliver_modmail(engine, settings=running.settings)["sent"] == 1
    [answer] = discord_bot.dms[member.platform_user_id]
    assert f"case #{action.id}" in answer["content"] and "/appeal/" in answer["content"]
    assert not discord_bot.forum_posts  # it does not reach the moderators
