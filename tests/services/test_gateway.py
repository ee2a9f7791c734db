"""The gateway connection (discord.py against the fake gateway over a real
websocket): intents and shards in IDENTIFY, moderation seen live recorded once,
RESUME after a RECONNECT and after a drop with the missed events replayed, and a
new session catching up from the audit log."""

from __future__ import annotations

from sqlmodel import select

from modsys.adapters.discord.gateway.connection import start_embedded
from modsys.domain.models import Action, DiscordImport
from tests.conftest import fresh
from tests.support.discord_server import GUILD, bot_settings
from tests.support.wait import wait_until

MOD = "300000000000000001"
# gateway.mdx "List of Intents": GUILDS 1<<0, GUILD_MEMBERS 1<<1, GUILD_MODERATION 1<<2,
# GUILD_MESSAGES 1<<9, DIRECT_MESSAGES 1<<12, MESSAGE_CONTENT 1<<15
INTENTS = 1 | 2 | 4 | (1 << 9) | (1 << 12) | (1 << 15)


def entry(guild, action_type: int, target: str, reason: str = "raid account") -> dict:
    logged = guild.log(action_type, target, MOD, reason=reason)
    return {**logged, "guild_id": GUILD}


def recorded(session) -> list[str]:
    fresh(session)
    return [i.audit_entry_id for i in session.exec(select(DiscordImport).order_by(DiscordImport.id))]


def test_identify_asks_for_the_intents_modsys_needs_and_one_shard(running):
    identify = running.identifies[0]
    assert identify["intents"] == INTENTS
    assert identify["shard"] == [0, 1]  # Discord recommended one shard (GET /gateway/bot)


def test_a_ban_seen_live_is_recorded_once_even_when_the_sync_reads_it_too(engine, session, guild, running,
                                                                          discord_bot):
    from modsys.adapters.discord.audit_log import sync_audit_log

    ban = entry(guild, 22, "400000000000000001")
    running.dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", ban, guild_id=GUILD)
    wait_until(lambda: recorded(session) == [ban["id"]], 10, "the live ban to be recorded")
    sync_audit_log(engine, settings=bot_settings(discord_bot))
    running.dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", ban, guild_id=GUILD)  # sent again
    other = entry(guild, 20, "400000000000000002")
    running.dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", other, guild_id=GUILD)
    wait_until(lambda: len(recorded(session)) == 2, 10, "the kick to be recorded")
    assert recorded(session) == [ban["id"], other["id"]]
    assert [a.kind for a in session.exec(select(Action).order_by(Action.id))] == ["ban", "kick"]


def test_reconnect_and_a_dropped_connection_resume_and_replay_what_was_missed(session, guild, running):
    running.reconnect()
    assert running.wait_resumed(1), "no RESUME after op 7 RECONNECT"
    running.drop()
    missed = entry(guild, 22, "400000000000000003")
    running.dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", missed, guild_id=GUILD)  # kept for the session's RESUME
    assert running.wait_resumed(2, timeout=30), "no RESUME after the drop"
    assert len(running.identifies) == 1  # resumed, never identified again
    wait_until(lambda: recorded(session) == [missed["id"]], 10, "the replayed event to be recorded")


def test_a_new_session_catches_up_from_the_audit_log(engine, session, guild, discord_bot, fake_gateway, tmp_path):
    before = entry(guild, 22, "400000000000000004")  # happened while no gateway ran
    stop = start_embedded(engine, bot_settings(discord_bot, MODSYS_DISCORD_GATEWAY_URL=fake_gateway.url,
                                               MODSYS_AUDIT_CHECKPOINTS=str(tmp_path / "instance" / "c.log")))
    try:
        wait_until(lambda: recorded(session) == [before["id"]], 20, "the catch-up from REST")
    finally:
        stop()


def test_the_gateway_command_refuses_what_it_cannot_run_with(monkeypatch):
    from click.testing import CliRunner

    from modsys.cli import main

    runner = CliRunner()
    monkeypatch.delenv("MODSYS_DISCORD_BOT_TOKEN", raising=False)
    assert "MODSYS_DISCORD_BOT_TOKEN" in runner.invoke(main, ["gateway"]).output
    monkeypatch.setenv("MODSYS_DISCORD_BOT_TOKEN", "x")
    assert "--shard-ids needs --shard-count" in runner.invoke(main, ["gateway", "--shard-ids", "0"]).output
    assert "from 0 to 1" in runner.invoke(main, ["gateway", "--shard-ids", "0,2", "--shard-count", "2"]).output
    monkeypatch.setenv("MODSYS_ENV", "production")
    monkeypatch.delenv("MODSYS_DATA_KEY", raising=False)
    refused = runner.invoke(main, ["gateway"])
    assert refused.exit_code == 1 and "MODSYS_DATA_KEY is not set" in refused.output


def test_two_processes_of_two_shards_each_get_their_guilds_events(engine, session, guild, discord_bot, fake_gateway,
                                                                  tmp_path):
    settings = bot_settings(discord_bot, MODSYS_DISCORD_GATEWAY_URL=fake_gateway.url,
                            MODSYS_AUDIT_CHECKPOINTS=str(tmp_path / "instance" / "c.log"))
    stops = [start_embedded(engine, settings, shard_ids=[i], shard_count=2) for i in (0, 1)]
    try:
        assert fake_gateway.wait_identified(2)
        assert sorted(tuple(i["shard"]) for i in fake_gateway.identifies) == [(0, 2), (1, 2)]
        ban = entry(guild, 22, "400000000000000005")
        fake_gateway.dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", ban, guild_id=GUILD)
        wait_until(lambda: recorded(session) == [ban["id"]], 20, "the ban, via the guild's shard")
        shard = (int(GUILD) >> 22) % 2  # gateway.mdx "Sharding"
        assert [s.shard for s in fake_gateway.sessions.values() if s.events and
                any(e["t"] == "GUILD_AUDIT_LOG_ENTRY_CREATE" for e in s.events)] == [(shard, 2)]
    finally:
        for stop in stops:
            stop()
