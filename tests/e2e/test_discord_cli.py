"""`modsys discord check` and `link-staff` as an operator runs them: real
subprocesses against the real database and the fake Discord over HTTP."""

from __future__ import annotations

from sqlmodel import select

from modsys.domain.models import StaffUser
from tests.conftest import fresh
from tests.support.cli import modsys
from tests.support.discord_server import BAN_MEMBERS, VIEW_AUDIT_LOG

GUILD = "500000000000000001"


def test_check_passes_when_the_bot_has_everything(db_url, community, discord_bot, monkeypatch):
    monkeypatch.setenv("MODSYS_DISCORD_GUILD_ID", GUILD)
    discord_bot.add_guild(GUILD)
    out = modsys(db_url, "discord", "check")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok       permission Ban Members" in out.stdout and "all set" in out.stdout
    assert discord_bot.bot_token not in out.stdout + out.stderr  # the token is never printed


def test_check_names_what_is_missing_and_how_to_fix_it(db_url, community, discord_bot, monkeypatch):
    monkeypatch.setenv("MODSYS_DISCORD_GUILD_ID", GUILD)
    guild = discord_bot.add_guild(GUILD, bot_permissions=BAN_MEMBERS | VIEW_AUDIT_LOG, bot_position=3)
    guild.add_role("Moderators", 5)
    out = modsys(db_url, "discord", "check")
    assert out.returncode == 1
    assert "MISSING  permission Moderate Members" in out.stdout and "turn on Moderate Members" in out.stdout
    assert "MISSING  permission Kick Members" in out.stdout
    assert "is not above Moderators" in out.stdout and "drag 'modsys' above them" in out.stdout
    assert "3 problem(s)" in out.stdout


def test_check_without_token_or_guild_says_what_to_set(db_url, community, discord_bot, monkeypatch):
    out = modsys(db_url, "discord", "check")
    assert out.returncode == 1 and "has no Discord server id" in out.stderr
    monkeypatch.setenv("MODSYS_DISCORD_GUILD_ID", "999999999999999999")
    out = modsys(db_url, "discord", "check")
    assert out.returncode == 1 and "404 Unknown Guild" in out.stdout
    monkeypatch.setenv("MODSYS_DISCORD_BOT_TOKEN", "wrong-token")
    out = modsys(db_url, "discord", "check")
    assert out.returncode == 1 and "401 Unauthorized: the bot token is wrong" in out.stdout
    assert "wrong-token" not in out.stdout + out.stderr
    monkeypatch.delenv("MODSYS_DISCORD_BOT_TOKEN")
    out = modsys(db_url, "discord", "check")
    assert out.returncode == 1 and "MODSYS_DISCORD_BOT_TOKEN is not set" in out.stderr


def test_link_staff(db_url, session, mod_a):
    out = modsys(db_url, "discord", "link-staff", "mod_a", "300000000000000001")
    assert out.returncode == 0, out.stderr
    fresh(session)
    assert session.exec(select(StaffUser).where(StaffUser.username == "mod_a")).one().discord_user_id == \
        "300000000000000001"
    bad = modsys(db_url, "discord", "link-staff", "mod_a", "not-a-number")
    assert bad.returncode == 1 and "17 to 20 digits" in bad.stderr


def test_drift_now_lists_what_differs_and_says_when_nothing_can_be_checked(db_url, community, discord_bot,
                                                                          monkeypatch):
    nothing = modsys(db_url, "discord", "drift")
    assert nothing.returncode == 1 and "no community has a Discord server id" in nothing.stderr
    monkeypatch.setenv("MODSYS_DISCORD_GUILD_ID", GUILD)
    guild = discord_bot.add_guild(GUILD)
    guild.bans["600000000000000001"] = {"reason": "crypto scam DMs",
                                        "user": {"id": "600000000000000001", "username": "scammer"}}
    out = modsys(db_url, "discord", "drift", "--community", "default")
    assert out.returncode == 0, out.stderr
    assert ("default: 600000000000000001 scammer: banned in Discord without a case (Discord's reason: "
            "crypto scam DMs)") in out.stdout
    assert "1 difference(s) open" in out.stdout
    guild.roles[1]["permissions"] = "0"  # the bot lost Ban Members: the check fails, and says so
    failed = modsys(db_url, "discord", "drift")
    assert failed.returncode == 1 and "1 community check(s) failed" in failed.stdout
    monkeypatch.delenv("MODSYS_DISCORD_BOT_TOKEN")
    assert "MODSYS_DISCORD_BOT_TOKEN is not set" in modsys(db_url, "discord", "drift").stderr
