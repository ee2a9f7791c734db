"""A bot token Discord refuses stops the sending: one 401, then nothing more
until a restart with a valid token (10,000 invalid requests in 10 minutes ban the
IP: discord-api-docs, developers/topics/rate-limits.mdx, "Invalid Request Limit"),
and each queued request says why on /admin."""

from __future__ import annotations

import logging

from modsys.adapters.discord import overview
from modsys.adapters.discord.delivery import deliver_enforcement
from tests.factories import ban, timeout
from tests.support.discord_server import bot_settings


def test_a_refused_token_sends_one_request_and_every_case_says_why(engine, session, community, mod_a, make_member,
                                                                   guild, clock, discord_bot, caplog):
    members = [make_member() for _ in range(6)]
    for m in members:
        guild.add_member(m.platform_user_id)
    for m in members[:3]:
        ban(session, mod_a, m)
    for m in members[3:]:
        timeout(session, mod_a, m)
    settings = bot_settings(discord_bot, MODSYS_DISCORD_BOT_TOKEN="a-token-that-was-reset")
    with caplog.at_level(logging.ERROR):
        deliver_enforcement(engine, settings=settings)
        deliver_enforcement(engine, settings=settings)
    assert len(discord_bot.calls) == 1  # the first request; the 401 stopped the rest
    failed = overview.admin_overview(session, community.id, settings).failed  # what /admin lists
    assert len(failed) == 6
    assert all("401 Unauthorized: the bot token is wrong or was reset" in f.last_error for f in failed)
    assert sum("stops sending to Discord" in r.getMessage() for r in caplog.records) == 1
    assert "a-token-that-was-reset" not in caplog.text
