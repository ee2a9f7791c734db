"""Killing the delivering process (SIGKILL, a real subprocess) mid-delivery loses
nothing and applies nothing twice in effect: once while the DM is on the wire,
once while the ban is. Each process runs the real delivery code with its clock
set from the command line, so lease expiry needs no sleeping."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from sqlmodel import select

from modsys.domain.models import DiscordEnforcement
from tests.conftest import fresh
from tests.factories import ban

GUILD = "500000000000000001"
SECRET = "test-secret-key-not-for-production"
DELIVER = """
import sys
from datetime import datetime
from modsys.domain import clock
from modsys.infra.config import bind_settings, load_settings
from modsys.infra.db import make_engine
from modsys.adapters.discord.delivery import deliver_enforcement
clock.set_clock(clock.FrozenClock(datetime.fromisoformat(sys.argv[2])))
settings = load_settings()  # this script is an entry point: it builds the settings once
engine = make_engine(sys.argv[1])
bind_settings(engine, settings)
deliver_enforcement(engine, settings=settings)
"""


def deliverer(db_url: str, at, fake) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db_url, "SECRET_KEY": SECRET, "MODSYS_DISCORD_BOT_TOKEN": fake.bot_token,
           "MODSYS_DISCORD_API_URL": fake.api_url}
    return subprocess.Popen([sys.executable, "-c", DELIVER, db_url, at.isoformat()], env=env)


def kill_when(process: subprocess.Popen, fake, route: str, count: int) -> None:
    try:
        assert fake.wait_for_calls(route, count, timeout=60), f"the deliverer never reached {route}"
    finally:
        process.kill()  # SIGKILL: no cleanup, no last write
        process.wait(timeout=30)


def test_sigkill_mid_dm_and_mid_ban_loses_nothing_and_bans_once(db_url, engine, session, community, mod_a,
                                                                 make_member, discord_bot, clock):
    community.discord_guild_id = GUILD
    session.add(community)
    session.commit()
    guild = discord_bot.add_guild(GUILD)
    members = [make_member() for _ in range(3)]
    for member in members:
        ban(session, mod_a, member)
    first = members[0].platform_user_id
    t0 = clock.now()

    discord_bot.stall("create_message", 120)  # the DM is sent, the answer never comes back
    kill_when(deliverer(db_url, t0, discord_bot), discord_bot, "create_message", 1)
    assert len(discord_bot.dms[first]) == 1 and not guild.bans

    discord_bot.stall("put_ban", 120)  # after the lease ran out: the ban lands, the answer never comes back
    kill_when(deliverer(db_url, t0 + timedelta(seconds=61), discord_bot), discord_bot, "put_ban", 1)
    assert first in guild.bans

    clock.set(t0 + timedelta(seconds=200))
    from modsys.adapters.discord.delivery import deliver_enforcement
    from modsys.infra.config import load_settings

    deliver_enforcement(engine, settings=load_settings({
        "SECRET_KEY": SECRET, "MODSYS_DISCORD_BOT_TOKEN": discord_bot.bot_token,
        "MODSYS_DISCORD_API_URL": discord_bot.api_url}))
    fresh(session)
    assert [r.status for r in session.exec(select(DiscordEnforcement).order_by(DiscordEnforcement.id))] == ["done"] * 3
    for member in members:
        uid = member.platform_user_id
        assert uid in guild.bans
        assert len(discord_bot.dms[uid]) == 1  # the re-sent DM carried the same nonce: Discord kept one
        assert [e["action_type"] for e in guild.audit_log if e["target_id"] == uid] == [22]  # banned once
    assert len([c for c in discord_bot.calls_to("put_ban") if first in c.path]) == 2  # sent twice, one ban
    assert len([c for c in discord_bot.calls_to("create_message") if c.path.endswith(f"7{first}/messages")]) == 2
