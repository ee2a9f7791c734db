"""Enforcement in Discord against the fake Discord over real HTTP: every hook
point, the DM first, failures a person can act on, retries, order per member,
and exactly today's behaviour without a bot. Time moves with the FrozenClock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from modsys.adapters.discord import enforcement
from modsys.adapters.discord.client import DiscordClient, RateLimiter
from modsys.adapters.discord.delivery import deliver_enforcement
from modsys.domain.errors import ValidationFailed
from modsys.domain.models import Action, DiscordEnforcement
from modsys.infra.config import load_settings
from modsys.infra.portal_links import read_token
from modsys.runtime.jobs import expire_sanctions
from modsys.services.actions import NewAction, cosign_action, file_action, revoke_action
from modsys.services.appeals import start_review
from modsys.services.decisions import Decision, Modification, decide_appeal
from tests.conftest import fresh
from tests.factories import appeal, ban, timeout
from tests.support.discord_server import (
    BAN_MEMBERS,
    GUILD,
    MODERATE_MEMBERS,
    VIEW_AUDIT_LOG,
    Reply,
    bot_settings,
    error,
)

SECRET = "test-secret-key-not-for-production"


def settings(fake):
    return bot_settings(fake, MODSYS_BASE_URL="https://mod.example.org")


def deliver(engine, fake, **kw):
    return deliver_enforcement(engine, settings=settings(fake), **kw)


def rows(session, action=None) -> list[DiscordEnforcement]:
    fresh(session)
    q = select(DiscordEnforcement).order_by(DiscordEnforcement.id)
    if action is not None:
        q = q.where(DiscordEnforcement.action_id == action.id)
    return list(session.exec(q))


def state(session, action):
    fresh(session)
    return enforcement.view(session, session.get(Action, action.id))


def test_a_ban_dms_the_member_first_then_bans_with_the_case_in_the_audit_log_reason(
        engine, session, mod_a, make_member, guild, clock, discord_bot):
    member = make_member()
    guild.add_member(member.platform_user_id)
    case = ban(session, mod_a, member, days=7, delete_message_seconds=86400)
    assert state(session, case).state == "pending" and not guild.bans  # nothing sent inside the service

    guild_fake = discord_bot
    assert deliver(engine, guild_fake) == {"done": 1}
    calls = [c.route for c in guild_fake.calls]
    assert calls == ["create_dm", "create_message", "put_ban"]  # the member hears first
    put = guild_fake.calls_to("put_ban")[0]
    assert put.reason == f"modsys case #{case.id}: respectful"
    assert put.json == {"delete_message_seconds": 86400}
    assert put.headers["Authorization"] == f"Bot {guild_fake.bot_token}"
    assert member.platform_user_id in guild.bans

    dm = guild_fake.dms[member.platform_user_id][0]["content"]
    assert f"case #{case.id}" in dm and "1 week ban" in dm and "respectful" in dm
    assert case.public_reason in dm
    link = dm.rsplit(" ", 1)[1]
    assert read_token(SECRET, link.rsplit("/", 1)[1])[:2] == (case.id, member.id)

    view = state(session, case)
    assert view.state == "applied" and view.dm == "member notified by DM"
    assert "banned, 1 day of messages deleted" in view.summary
    assert deliver(engine, guild_fake) == {}  # done is done: nothing is sent twice



def test_without_a_bot_token_nothing_is_queued_and_the_case_says_so(engine, session, mod_a, make_member, fake_discord,
                                                                      community, clock):
    community.discord_guild_id = GUILD
    session.add(community)
    session.commit()
    case = ban(session, mod_a, make_member())
    assert rows(session) == []
    view = state(session, case)
    assert view.state == "not_configured" and view.summary == "not enforced in Discord (no bot configured)"
    assert deliver_enforcement(engine, settings=load_settings({})) == {}
    assert fake_discord.calls == []


def test_without_a_guild_id_the_case_says_which_setting_is_missing(session, mod_a, make_member, discord_bot, clock):
    case = ban(session, mod_a, make_member())
    assert rows(session) == []
    assert "no Discord server id" in state(session, case).summary


def test_the_default_community_falls_back_to_MODSYS_DISCORD_GUILD_ID(engine, session, mod_a, make_member, discord_bot,
                                                                    monkeypatch, clock):
    monkeypatch.setenv("MODSYS_DISCORD_GUILD_ID", GUILD)
    guild = discord_bot.add_guild(GUILD)
    member = make_member()
    case = timeout(session, mod_a, member, hours=2)
    assert len(rows(session, case)) == 1
    guild.add_member(member.platform_user_id)
    deliver_enforcement(engine, settings=load_settings({"MODSYS_DISCORD_BOT_TOKEN": discord_bot.bot_token,
                                                        "MODSYS_DISCORD_API_URL": discord_bot.api_url,
                                                        "MODSYS_DISCORD_GUILD_ID": GUILD}))
    assert guild.timed_out_until(member.platform_user_id) is not None


def test_a_permanent_ban_waits_for_the_second_signature(engine, session, mod_a, mod_b, make_member, guild, clock, discord_bot):
    member = make_member()
    case = ban(session, mod_a, member, days=None)
    assert [r.status for r in rows(session, case)] == ["held"]
    assert "waits for the second signature" in state(session, case).summary
    assert deliver(engine, discord_bot) == {} and not guild.bans
    cosign_action(session, mod_b, case.id)
    assert deliver(engine, discord_bot) == {"done": 1}
    assert member.platform_user_id in guild.bans


def test_revoking_before_the_second_signature_never_reaches_discord(engine, session, mod_a, make_member, guild, clock, discord_bot):
    case = ban(session, mod_a, make_member(), days=None)
    revoke_action(session, mod_a, case.id, "Filed against the wrong member.")
    assert [r.status for r in rows(session, case)] == ["skipped"]
    assert deliver(engine, discord_bot) == {} and discord_bot.calls == []


def test_timeout_then_revoke_patches_the_end_then_clears_it(engine, session, mod_a, make_member, guild, clock, discord_bot):
    member = make_member()
    guild.add_member(member.platform_user_id)
    case = timeout(session, mod_a, member, hours=24)
    deliver(engine, discord_bot)
    until = guild.timed_out_until(member.platform_user_id)
    assert until is not None and until.startswith((clock.now() + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M"))
    revoke_action(session, mod_a, case.id, "New facts: it was a quote.")
    assert deliver(engine, discord_bot) == {"done": 1}
    assert guild.timed_out_until(member.platform_user_id) is None
    patch = discord_bot.calls_to("modify_member")[-1]
    assert patch.json == {"communication_disabled_until": None}
    assert patch.reason == f"modsys case #{case.id}: respectful (revoked)"


def test_expiry_of_a_temporary_ban_lifts_it(engine, session, mod_a, make_member, guild, clock, discord_bot):
    member = make_member()
    case = ban(session, mod_a, member, days=3)
    deliver(engine, discord_bot)
    assert member.platform_user_id in guild.bans
    clock.advance(timedelta(days=3, minutes=1))
    expire_sanctions(engine)
    assert deliver(engine, discord_bot) == {"done": 1}
    assert member.platform_user_id not in guild.bans
    assert [r.op for r in rows(session, case)] == ["apply", "reverse"]


def test_overturn_lifts_and_modify_replaces_the_ban_with_a_timeout(engine, session, mod_a, mod_b, make_member, guild,
                                                                    clock, discord_bot):
    member = make_member()
    guild.add_member(member.platform_user_id)
    case = ban(session, mod_a, member, days=7)
    deliver(engine, discord_bot)
    ap = appeal(session, member, case)
    start_review(session, mod_b, ap.id)
    decide_appeal(session, mod_b, ap.id, Decision("modified", "A timeout is enough for a first offence here.",
                                                  Modification("timeout", timedelta(hours=12))))
    guild.add_member(member.platform_user_id)  # they rejoin once unbanned; the timeout then applies
    assert deliver(engine, discord_bot) == {"done": 2}
    assert member.platform_user_id not in guild.bans
    assert guild.timed_out_until(member.platform_user_id) is not None
    replacement = session.exec(select(Action).where(Action.supersedes_id == case.id)).one()
    assert [r.op for r in rows(session, replacement)] == ["apply"]


def test_missing_permissions_is_a_dead_letter_with_a_reason_then_retry_works(engine, session, mod_a, make_member,
                                                                             guild, clock, discord_bot):
    fake = discord_bot
    member = make_member()
    guild.roles[1]["permissions"] = str(VIEW_AUDIT_LOG | MODERATE_MEMBERS)  # no Ban Members
    case = ban(session, mod_a, member)
    assert deliver(engine, fake) == {"dead": 1}
    view = state(session, case)
    assert view.state == "failed"
    assert ("403 Missing Permissions: the bot needs Ban Members, and its role must be above the member's highest role"
            in view.summary)
    assert member.platform_user_id not in guild.bans

    guild.roles[1]["permissions"] = str(BAN_MEMBERS)  # the admin fixes the role
    assert enforcement.retry(session, mod_a, view.retry_ids, case.community_id) == 1
    assert deliver(engine, fake) == {"done": 1}
    assert member.platform_user_id in guild.bans
    assert len(fake.dms[member.platform_user_id]) == 1  # the DM was not sent again


def test_a_member_with_closed_dms_is_banned_anyway_and_the_case_says_why_not_notified(
        engine, session, mod_a, make_member, guild, clock, discord_bot):
    fake = discord_bot
    member = make_member()
    fake.closed_dms.add(member.platform_user_id)
    case = ban(session, mod_a, member)
    deliver(engine, fake)
    view = state(session, case)
    assert view.state == "applied" and member.platform_user_id in guild.bans
    assert view.dm.startswith("not notified: the member does not accept DMs") and "50007" in view.dm


def test_the_ban_waits_for_the_dm_only_a_bounded_time(engine, session, mod_a, make_member, guild, clock, discord_bot):
    fake = discord_bot
    member = make_member()
    fake.fail("create_dm", Reply(200, {"id": "7" + member.platform_user_id}, delay=3.0))
    case = ban(session, mod_a, member)
    deliver(engine, fake, dm_wait=0.3)
    view = state(session, case)
    assert member.platform_user_id in guild.bans
    assert view.dm.startswith("not notified before the sanction: Discord did not answer within 0.3 s"), view.dm


def test_a_429_reschedules_without_costing_an_attempt(engine, session, mod_a, make_member, guild, clock, discord_bot):
    fake = discord_bot
    member = make_member()
    fake.fail("put_ban", Reply(
        429, {"message": "You are being rate limited.", "retry_after": 30.0, "global": False},
        {"Retry-After": "30", "X-RateLimit-Scope": "user", "X-RateLimit-Bucket": "b1"}))
    case = ban(session, mod_a, member)
    # The client's rate-limit clock follows the test's clock, so "30 s later" is now.
    client = DiscordClient(fake.bot_token, fake.api_url, limiter=RateLimiter(clock=lambda: clock.now().timestamp()))
    assert deliver(engine, fake, client=client) == {"retry": 1}
    (row,) = rows(session, case)
    assert row.attempts == 0 and "rate limited" in row.last_error
    assert deliver(engine, fake, client=client) == {}  # not due yet: no request into the limit
    clock.advance(timedelta(seconds=31))
    assert deliver(engine, fake, client=client) == {"done": 1}
    assert [c.status for c in fake.calls_to("put_ban")] == [429, 204]


def test_a_ban_is_never_applied_after_its_own_unban(engine, session, mod_a, make_member, guild, clock, discord_bot):
    fake = discord_bot
    unban = NewAction(member_id=0, kind="unban", rules=["respectful"],
                      public_reason="Lifted after a conversation with the member.")
    # 1. The ban fails (Discord down) and is still waiting when the unban is filed.
    first = make_member()
    fake.fail("put_ban", error(500))
    ban(session, mod_a, first)
    assert deliver(engine, fake) == {"retry": 1}
    file_action(session, mod_a, replace(unban, member_id=first.id))
    clock.advance(timedelta(hours=1))
    assert deliver(engine, fake) == {"skipped": 1, "done": 1}  # the ban's turn first: no longer in force
    assert [r.status for r in rows(session)] == ["skipped", "done"]
    # 2. The ban gave up (dead) and someone retries it after the unban went through.
    second = make_member()
    fake.fail("put_ban", error(500), times=8)
    case = ban(session, mod_a, second)
    for _ in range(8):
        deliver(engine, fake)
        clock.advance(timedelta(hours=1))
    dead = rows(session)[-1]
    assert dead.status == "dead"
    file_action(session, mod_a, replace(unban, member_id=second.id))
    assert deliver(engine, fake) == {"done": 1}
    enforcement.retry(session, mod_a, [dead.id], case.community_id)
    assert deliver(engine, fake) == {"skipped": 1}
    assert rows(session)[2].last_error == f"case #{case.id} is revoked now"
    assert [c.status for c in fake.calls_to("put_ban")] == [500] * 9  # never a ban that took
    assert not guild.bans


def test_delete_message_seconds_is_one_of_the_form_choices_and_only_for_bans(session, mod_a, make_member, guild, clock):
    member = make_member()
    with pytest.raises(ValidationFailed, match="none, 1 hour, 1 day or 7 days"):
        ban(session, mod_a, member, delete_message_seconds=5)
    with pytest.raises(ValidationFailed, match="only a ban"):
        timeout(session, mod_a, member, delete_message_seconds=3600)
    assert session.exec(select(Action)).all() == []  # nothing changed


def test_a_kick_dms_then_removes_the_member_and_a_member_already_gone_is_done(
        engine, session, mod_a, make_member, guild, clock, discord_bot):
    present, gone = make_member(), make_member()
    guild.add_member(present.platform_user_id)
    kick = NewAction(member_id=present.id, kind="kick", rules=["respectful"],
                     public_reason="Kicked to stop an ongoing argument.")
    first = file_action(session, mod_a, kick)
    second = file_action(session, mod_a, replace(kick, member_id=gone.id))
    assert deliver(engine, discord_bot) == {"done": 2}
    assert present.platform_user_id not in guild.members
    assert [c.route for c in discord_bot.calls if present.platform_user_id in c.path or
            c.route == "create_message" and c.path.endswith(f"7{present.platform_user_id}/messages")] == \
        ["create_message", "kick"]
    assert "kicked" in state(session, first).summary
    assert "was no longer in the server" in state(session, second).summary
    revoke_action(session, mod_a, first.id, "Kicked the wrong member, sorry.")
    assert rows(session, first)[-1].op == "apply"  # a kick can't be undone in Discord: nothing queued
