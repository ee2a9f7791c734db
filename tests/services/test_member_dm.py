"""The member always hears, by the bot's DM (modsys.notify.member_dm, delivered by
modsys.runtime.delivery): the sanction before it lands, staff replies, the decision,
a completed statement of reasons; retried through passing failures, failing
with a reason (and a link to send by hand) otherwise. Against the fake
Discord over real HTTP; time moves with the FrozenClock."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlmodel import select

from modsys.adapters.discord.client import DiscordClient, RateLimiter
from modsys.adapters.discord.delivery import deliver_enforcement
from modsys.domain import events
from modsys.domain.actors import CLI
from modsys.domain.models import OutboxMessage
from modsys.infra.config import load_settings
from modsys.infra.portal_links import read_token
from modsys.notify import member_status
from modsys.reads import queries
from modsys.runtime import delivery
from modsys.services.appeals import add_message, start_review
from modsys.services.decisions import Decision, Modification, decide_appeal
from modsys.uow import UnitOfWork
from tests.factories import appeal, ban
from tests.support.discord_server import (
    bot_rate_limit,
    bot_settings,
    reset,
    server_error,
)

SECRET = "test-secret-key-not-for-production"
LINK = re.compile(r"https://mod\.example\.org/appeal/[A-Za-z0-9._-]{20,}")
REASONS = "Having read the appeal and the evidence again, we decided so."


def settings(fake, **env):
    return bot_settings(fake, MODSYS_BASE_URL="https://mod.example.org", **env)


def run(engine, fake, **kw):
    """One scheduler pass: the outbox, then Discord enforcement (the jobs' order). The
    outbox's counts, less the staff notices skipped for want of a webhook."""
    s = kw.pop("settings", None) or settings(fake)
    out = delivery.deliver_outbox(engine, settings=s, **kw)
    deliver_enforcement(engine, settings=s, client=kw.get("client"), dm_wait=kw.get("dm_wait", 10.0))
    out.pop("skipped", None)
    return out


def dms(fake, member) -> list[str]:
    return [m["content"] for m in fake.dms.get(member.platform_user_id, [])]


def notices(session, action):
    session.commit()
    session.expire_all()
    return member_status.for_case(session, action, load_settings({"SECRET_KEY": SECRET}))


def test_the_sanction_dm_carries_the_signed_link_and_escapes_markdown(engine, session, mod_a, make_member, clock,
                                                                       discord_bot):
    member = make_member("[Official Staff](https://evil.example)")
    action = ban(session, mod_a, member, public_reason="**bold** @everyone [click](https://evil.example)")
    assert run(engine, discord_bot) == {"sent": 1}  # no guild: only the DM, by the outbox
    [text] = dms(discord_bot, member)
    assert f"you received a 1 week ban (case #{action.id})" in text
    assert r"\*\*bold\*\*" in text and r"\[click\]\(https" in text  # shown as the words they are
    link = LINK.search(text).group(0)
    assert read_token(SECRET, link.rsplit("/", 1)[1]) == (action.id, member.id, action.appeal_deadline)
    assert [n.state for n in notices(session, action).items] == ["delivered"]


def test_the_dm_lands_before_the_ban_and_is_sent_once(engine, session, mod_a, make_member, guild, clock,
                                                      discord_bot):
    member = make_member()
    guild.add_member(member.platform_user_id)
    action = ban(session, mod_a, member)
    deliver_enforcement(engine, settings=settings(discord_bot))  # enforcement first: it tells the member itself
    [dm_call] = [c for c in discord_bot.calls_to("create_message") if c.status == 200]
    [ban_call] = discord_bot.calls_to("put_ban")
    assert dm_call.at < ban_call.at
    assert run(engine, discord_bot) == {}  # the outbox finds the notice sent: no second DM
    assert len(dms(discord_bot, member)) == 1 and LINK.search(dms(discord_bot, member)[0])
    assert [n.state for n in notices(session, action).items] == ["delivered"]


@pytest.mark.parametrize("failure", [server_error(500), reset(), bot_rate_limit(60.0)], ids=["500", "reset", "429"])
def test_a_dm_failing_for_a_passing_reason_is_retried_after_the_ban(engine, session, mod_a, make_member, guild,
                                                                     clock, discord_bot, failure):
    member = make_member()
    guild.add_member(member.platform_user_id)
    discord_bot.fail("create_message", failure, times=2)
    action = ban(session, mod_a, member)
    # The client's rate-limit clock follows the test's clock, so "60 s later" comes when the test says.
    client = DiscordClient(discord_bot.bot_token, discord_bot.api_url,
                           limiter=RateLimiter(clock=lambda: clock.now().timestamp()))
    started = time.monotonic()
    deliver_enforcement(engine, settings=settings(discord_bot), client=client, dm_wait=2.0)
    assert time.monotonic() - started < 2.0 + 1.0  # the ban waits for the DM no longer than dm_wait
    assert member.platform_user_id in guild.bans and not dms(discord_bot, member)
    [notice] = notices(session, action).items
    assert notice.state == "sending" and notice.detail
    assert run(engine, discord_bot, client=client) == {}  # backing off: not due yet
    clock.advance(timedelta(minutes=2))
    assert run(engine, discord_bot, client=client) == {"retry": 1}  # the second failure
    clock.advance(timedelta(minutes=2))
    assert run(engine, discord_bot, client=client) == {"sent": 1}
    [text] = dms(discord_bot, member)
    assert LINK.search(text)
    nonces = {c.json["nonce"] for c in discord_bot.calls_to("create_message")}
    assert len(nonces) == 1  # every try was the same message: Discord sends it once
    assert [n.state for n in notices(session, action).items] == ["delivered"]


def test_a_hung_answer_is_retried_with_the_nonce_and_dms_once(engine, session, mod_a, make_member, guild, clock,
                                                              discord_bot):
    member = make_member()
    discord_bot.stall("create_message", 3.0)  # Discord creates the message, the answer never comes in time
    action = ban(session, mod_a, member)
    deliver_enforcement(engine, settings=settings(discord_bot), dm_wait=1.0)
    assert notices(session, action).items[0].state == "sending"
    clock.advance(timedelta(minutes=2))
    assert run(engine, discord_bot) == {"sent": 1}
    assert len(dms(discord_bot, member)) == 1  # the nonce: Discord returned the first message


def test_closed_dms_fail_at_once_with_the_reason_and_the_link_to_send_by_hand(engine, session, mod_a, community,
                                                                               make_member, guild, clock, discord_bot):
    member = make_member()
    discord_bot.closed_dms.add(member.platform_user_id)
    action = ban(session, mod_a, member)
    deliver_enforcement(engine, settings=settings(discord_bot))
    assert member.platform_user_id in guild.bans
    status = notices(session, action)
    [notice] = status.failed
    assert notice.line.startswith("the sanction: member not notified: the member does not accept DMs")
    assert "50007" in notice.line and status.link and "/appeal/" in status.link
    assert len(discord_bot.calls_to("create_message")) == 1  # 50007 won't pass: not tried again
    clock.advance(timedelta(hours=2))
    run(engine, discord_bot)
    assert len(discord_bot.calls_to("create_message")) == 1
    dead = [m for m in queries.dead_letters(session, community.id) if events.is_member_channel(m.channel)]
    assert [m.event for m in dead] == ["member.notice"]


def test_without_a_bot_the_notice_fails_with_the_reason(engine, session, mod_a, community, make_member, clock,
                                                        fake_discord):
    action = ban(session, mod_a, make_member())
    delivery.deliver_outbox(engine, settings=load_settings({"SECRET_KEY": SECRET}))
    [notice] = notices(session, action).failed
    assert "no Discord bot is configured" in notice.line


def test_a_notice_that_cannot_carry_its_link_is_never_sent(engine, session, mod_a, make_member, clock, discord_bot):
    member = make_member()
    action = ban(session, mod_a, member)
    no_key = bot_settings(discord_bot, SECRET_KEY="")
    delivery.deliver_outbox(engine, settings=no_key)
    assert not dms(discord_bot, member)
    [notice] = notices(session, action).failed
    assert "SECRET_KEY is not set" in notice.line


def _decided(session, mod_a, mod_b, member, decision, clock):
    action = ban(session, mod_a, member)
    case = appeal(session, member, action)
    clock.advance(timedelta(minutes=3))
    start_review(session, mod_b, case.id)
    add_message(session, mod_b, case.id, "We are looking at it; could you say **which** thread?")
    return action, case, decide_appeal(session, mod_b, case.id, decision)


def test_overturn_reply_and_decision_reach_the_member_by_dm(engine, session, mod_a, mod_b, make_member, guild,
                                                           clock, discord_bot):
    member = make_member()
    guild.add_member(member.platform_user_id)
    action, case, _ = _decided(session, mod_a, mod_b, member, Decision("overturned", REASONS), clock)
    for _ in range(2):
        run(engine, discord_bot)
    notice, reply, decision = dms(discord_bot, member)
    assert f"replied on your appeal #{case.id}" in reply and r"\*\*which\*\*" in reply
    assert f"{LINK.search(reply).group(0)}/appeals/{case.id}" in reply
    assert "was decided: overturned. The 1 week ban is lifted: you can rejoin the server." in decision
    assert REASONS in decision and LINK.search(decision)
    assert member.platform_user_id not in guild.bans
    assert [n.state for n in notices(session, action).items] == ["delivered"] * 3


def test_a_modified_measure_is_named_as_the_result_of_the_appeal(engine, session, mod_a, mod_b, make_member, guild,
                                                                 clock, discord_bot):
    member = make_member()
    guild.add_member(member.platform_user_id)
    action, case, decided = _decided(session, mod_a, mod_b, member,
                                     Decision("modified", REASONS, Modification("timeout", timedelta(hours=1))), clock)
    for _ in range(2):
        run(engine, discord_bot)
    texts = dms(discord_bot, member)
    assert len(texts) == 3, texts  # the notice, the reply, the decision: never a DM for the replacement itself
    decision = texts[-1]
    assert ("modified. As the result of your appeal, the 1 week ban is replaced by a 1 hour timeout; in the server "
            "your ban is lifted and you are timed out until") in decision
    assert f"(recorded as case #{decided.modified_action_id})" in decision
    assert not any("you received a 1 hour timeout" in t for t in texts)


def test_reason_completed_tells_the_member_with_the_link(engine, session, mod_a, community, make_member, clock,
                                                         discord_bot):
    member = make_member()
    action = ban(session, mod_a, member)
    run(engine, discord_bot)
    uow = UnitOfWork(session, CLI, community_id=community.id)
    uow.emit(events.ActionReasonCompleted(action.id))  # what the discord-cases service emits
    session.commit()
    run(engine, discord_bot)
    first, completed = dms(discord_bot, member)
    assert f"the moderators wrote the statement of reasons for the 1 week ban you received (case #{action.id})" \
        in completed
    assert LINK.search(completed)
    row = session.exec(select(OutboxMessage).where(OutboxMessage.event == "member.reason_completed")).one()
    assert row.channel == events.member_channel(action.id) and row.status == "sent"


def test_the_end_of_a_timed_sanction_is_dmed_when_the_policy_says_so(engine, session, mod_a, community, make_member,
                                                                     clock, tmp_path, discord_bot):
    from modsys.community import ensure_community
    from modsys.infra.config import DEFAULT_POLICY
    from modsys.runtime.jobs import expire_sanctions
    from tests.factories import timeout

    quiet, told = make_member(), make_member()
    timeout(session, mod_a, quiet, hours=1)
    clock.advance(timedelta(hours=2))
    expire_sanctions(engine)  # the default policy: nothing said when it ends
    policy = tmp_path / "tell.yaml"
    policy.write_text(DEFAULT_POLICY.read_text() + "\nnotifications:\n  tell_member_when_sanction_ends: true\n")
    ensure_community(session, policy)
    session.commit()
    action = timeout(session, mod_a, told, hours=1)
    clock.advance(timedelta(hours=2))
    expire_sanctions(engine)
    run(engine, discord_bot)
    assert len(dms(discord_bot, quiet)) == 1  # only the notice
    notice, ended = dms(discord_bot, told)
    assert f"your 1 hour timeout (case #{action.id}) has ended." in ended


def test_admin_lists_only_the_member_notices_that_failed(engine, session, mod_a, community, make_member, clock,
                                                        discord_bot):
    heard, closed = make_member(), make_member()
    discord_bot.closed_dms.add(closed.platform_user_id)
    ban(session, mod_a, heard)
    failed = ban(session, mod_a, closed)
    run(engine, discord_bot)
    session.commit()
    member_rows = [m for m in queries.dead_letters(session, community.id) if events.is_member_channel(m.channel)]
    assert [m.channel for m in member_rows] == [events.member_channel(failed.id)]  # not the one the bot DMed


def test_a_notice_queued_on_the_old_member_channel_is_dmed_too(engine, session, mod_a, community, make_member, clock,
                                                              discord_bot):
    member = make_member()
    ban(session, mod_a, member)
    session.exec(select(OutboxMessage).where(OutboxMessage.event == "member.notice")).one().channel = "member"
    session.commit()  # as a notice queued before the upgrade sits in the queue
    assert run(engine, discord_bot) == {"sent": 1}
    assert LINK.search(dms(discord_bot, member)[0])  # delivered as the bot's DM, not to a webhook
