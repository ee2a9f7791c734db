"""`modsys gateway` as a real process, killed with SIGKILL and started again:
what it saw live is recorded once, and what happened while it was down (or in
flight when it died) is caught up from the audit log, also once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from sqlmodel import select

from modsys.domain.models import Action, DiscordImport
from tests.conftest import fresh
from tests.support.discord_gateway import FakeGateway
from tests.support.discord_server import GUILD
from tests.support.wait import wait_until

MOD = "300000000000000001"


def start(db_url: str, fake, gateway: FakeGateway, tmp_path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db_url, "SECRET_KEY": "test-secret-key-not-for-production",
           "MODSYS_DISCORD_BOT_TOKEN": fake.bot_token, "MODSYS_DISCORD_API_URL": fake.api_url,
           "MODSYS_DISCORD_GATEWAY_URL": gateway.url, "MODSYS_DATA_KEY": "k" * 8 + "-gateway-crash-test-key-0123",
           "MODSYS_AUDIT_CHECKPOINTS": str(tmp_path / "checkpoints.log")}
    return subprocess.Popen([sys.executable, "-m", "modsys.cli", "gateway", "--shard-count", "1", "--shard-ids", "0"],
                            env=env)


def recorded(session) -> list[str]:
    fresh(session)
    return sorted(i.audit_entry_id for i in session.exec(select(DiscordImport)))


def test_sigkill_and_restart_records_nothing_twice_and_misses_nothing(db_url, engine, session, community, guild,
                                                                      discord_bot, tmp_path):
    with FakeGateway() as gw:
        gw.add_guild(GUILD)
        process = start(db_url, discord_bot, gw, tmp_path)
        try:
            assert gw.wait_identified(1, timeout=60), "the gateway process never identified"
            live = [guild.log(22, f"40000000000000000{i}", MOD, reason="raid") for i in (1, 2)]
            for entry in live:
                gw.dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", {**entry, "guild_id": GUILD}, guild_id=GUILD)
            wait_until(lambda: recorded(session) == sorted(e["id"] for e in live), 30, "the live bans")
            in_flight = guild.log(20, "400000000000000003", MOD)
            gw.dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", {**in_flight, "guild_id": GUILD}, guild_id=GUILD)
            process.send_signal(signal.SIGKILL)
            process.wait(30)
            while_down = [guild.log(22, "400000000000000004", MOD, reason="spam"),
                          guild.log(24, "400000000000000005", MOD, changes=[
                              {"key": "communication_disabled_until", "new_value": "2099-01-01T00:00:00+00:00"}])]

            process = start(db_url, discord_bot, gw, tmp_path)
            assert gw.wait_identified(2, timeout=60), "the restarted gateway never identified"
            for entry in live:  # Discord may send an event again: still one case
                gw.dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", {**entry, "guild_id": GUILD}, guild_id=GUILD)
            every = sorted(e["id"] for e in [*live, in_flight, *while_down])
            wait_until(lambda: recorded(session) == every, 60, "the catch-up from the audit log",
                       on_timeout=lambda: f"recorded {recorded(session)}, expected {every}")
        finally:
            process.terminate()
            process.wait(30)
    fresh(session)
    kinds = sorted(a.kind for a in session.exec(select(Action).where(Action.source == "discord")))
    assert kinds == ["ban", "ban", "ban", "kick", "timeout"]


def test_serve_runs_the_gateway_in_process_when_a_bot_token_is_set(db_url, tmp_path, discord_bot):
    env = {**os.environ, "DATABASE_URL": db_url, "MODSYS_DISCORD_BOT_TOKEN": discord_bot.bot_token,
           "MODSYS_DISCORD_API_URL": discord_bot.api_url, "MODSYS_MODEL_AUTOFETCH": "0"}
    env.pop("SECRET_KEY", None)
    with FakeGateway() as gw:
        env["MODSYS_DISCORD_GATEWAY_URL"] = gw.url
        log = tmp_path / "serve.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "modsys.cli", "serve", "--host", "127.0.0.1", "--port", "0"],
                                    cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            assert gw.wait_identified(1, timeout=90), log.read_text(errors="replace")[-3000:]
        finally:
            proc.terminate()
            proc.wait(30)
    assert (tmp_path / "instance" / "data_key").exists()  # generated outside production, like the others
