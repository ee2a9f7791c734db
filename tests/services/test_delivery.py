"""Outbox -> Discord delivery against the real fake-Discord HTTP server: outages,
rate limits, dead letters, routing, member links, ordering and leases. Time
moves with the FrozenClock, never by sleeping."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from modsys import outbox
from modsys.adapters.discord.webhooks import (
    configure_from_env,
    list_webhooks,
    set_webhook,
)
from modsys.domain.actors import CLI
from modsys.domain.errors import ValidationFailed
from modsys.domain.models import Channel, OutboxMessage, OutboxStatus
from modsys.infra.config import DEFAULT_POLICY, load_settings
from modsys.notify import DiscordSender
from modsys.runtime import delivery
from tests.support.discord_server import error, gone, ok, rate_limit

TOKEN = "hook-T0KEN-never-shown"
SECRET = "test-secret-key-not-for-production"
HOOK_IDS = {Channel.modlog: "101", Channel.appeals: "102", Channel.leadership: "103"}
SETTINGS = load_settings({"SECRET_KEY": SECRET, "MODSYS_BASE_URL": "https://mod.example.org"})


def hook_up(session, community, fake, *channels) -> None:
    for channel in channels or HOOK_IDS:
        set_webhook(session, CLI, community.id, channel, fake.url(HOOK_IDS[channel], TOKEN))
    session.commit()


def notify(session, community, channel, title, **payload) -> OutboxMessage:
    """A committed notification, as a service writes it."""
    message = outbox.enqueue(session, community.id, channel, "test.event", {"title": title, **payload})
    session.commit()
    return message


def deliver(engine, **kw):
    kw.setdefault("sender", DiscordSender(timeout=2))
    return delivery.deliver_outbox(engine, settings=kw.pop("settings", SETTINGS), **kw)


def titles(fake, channel) -> list[str]:
    return [p["embeds"][0]["title"] for p in fake.payloads_for(HOOK_IDS[channel])]


def rows(session) -> list[OutboxMessage]:
    session.commit()  # a fresh snapshot (SQLite keeps a read transaction's view)
    session.expire_all()
    return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def reload(session, message) -> OutboxMessage:
    return next(m for m in rows(session) if m.id == message.id)


def test_outage_then_recovery_delivers_everything_once_in_order(engine, session, community, clock, fake_discord):
    hook_up(session, community, fake_discord)
    channels = (Channel.modlog, Channel.appeals, Channel.leadership)
    for i in range(6):
        for channel in channels:
            notify(session, community, channel, f"{channel} {i}")
    fake_discord.set_mode(error(500))

    for _ in range(3):  # down for a while: only each channel's head is tried, then it backs off
        tried = len(fake_discord.attempts)
        assert deliver(engine) == {"retry": 3}
        assert len(fake_discord.attempts) - tried == 3
        assert deliver(engine) == {}  # backing off: nothing is due, nobody overtakes
        clock.advance(minutes=5)
    head = rows(session)[0]
    assert (head.status, head.attempts, head.last_error) == ("pending", 3, "HTTP 500 500: Server Error")

    fake_discord.set_mode(ok())  # back
    clock.advance(minutes=10)
    assert deliver(engine) == {"sent": 18}
    for channel in channels:
        assert titles(fake_discord, channel) == [f"{channel} {i}" for i in range(6)]
    assert {(m.status, m.sent_at) for m in rows(session)} == {("sent", clock.now())}
    assert deliver(engine) == {} and len(fake_discord.accepted) == 18  # exactly once


def test_rate_limit_waits_as_told_and_keeps_channel_order(engine, session, community, clock, fake_discord):
    hook_up(session, community, fake_discord)
    notify(session, community, Channel.appeals, "first")
    notify(session, community, Channel.appeals, "second")
    fake_discord.enqueue(rate_limit(30))

    assert deliver(engine) == {"retry": 1}
    first = rows(session)[0]
    assert first.attempts == 0 and "rate limited, retry after 30s" in first.last_error  # a 429 costs no attempt
    assert first.next_attempt_at == clock.now() + timedelta(seconds=30.25)
    notify(session, community, Channel.modlog, "other channel")
    clock.advance(seconds=29)
    assert deliver(engine) == {"sent": 1}  # only the other channel: "second" waits behind "first"
    clock.advance(seconds=2)
    assert deliver(engine) == {"sent": 2}
    assert titles(fake_discord, Channel.appeals) == ["first", "second"]
    assert [r.status for r in fake_discord.attempts] == [429, 200, 200, 200]


def test_permanent_failure_is_dead_does_not_block_and_can_be_retried(engine, session, community, clock, fake_discord):
    hook_up(session, community, fake_discord)
    dead = notify(session, community, Channel.leadership, "to a deleted webhook")
    notify(session, community, Channel.leadership, "after it")
    fake_discord.enqueue(gone())

    assert deliver(engine) == {"dead": 1, "skipped": 1}  # a 404'd webhook is disabled, not used again
    message = reload(session, dead)
    assert message.status == "dead" and message.attempts == 1
    assert "Unknown Webhook (code 10015)" in message.last_error and TOKEN not in message.last_error
    assert [m.id for m in delivery.list_messages(session, community.id, status="dead")] == [dead.id]

    set_webhook(session, CLI, community.id, Channel.leadership, fake_discord.url("105", TOKEN))  # a new one
    session.commit()
    assert delivery.retry(session, CLI, dead=True) == 2
    assert deliver(engine) == {"sent": 2}
    assert [p["embeds"][0]["title"] for p in fake_discord.payloads_for("105")] == ["to a deleted webhook", "after it"]
    assert delivery.retry(session, CLI, dead=True) == 0


def test_max_attempts_then_dead(engine, session, community, clock, fake_discord):
    hook_up(session, community, fake_discord)
    notify(session, community, Channel.modlog, "never arrives")
    fake_discord.set_mode(error(503))
    for _ in range(3):
        deliver(engine, max_attempts=3)
        clock.advance(hours=1)
    [message] = rows(session)
    assert (message.status, message.attempts) == ("dead", 3) and "HTTP 503" in message.last_error
    assert len(fake_discord.attempts) == 3 and deliver(engine) == {}


def test_unrouted_channel_is_skipped_not_lost_and_retry_by_id(engine, session, community, clock, fake_discord):
    message = notify(session, community, Channel.appeals, "nobody listens")
    assert deliver(engine) == {"skipped": 1}
    skipped = reload(session, message)
    assert skipped.status == "skipped" and skipped.last_error == "no webhook is configured for the appeals channel"

    hook_up(session, community, fake_discord, Channel.appeals)
    assert delivery.retry(session, CLI, [message.id]) == 1
    assert deliver(engine) == {"sent": 1} and titles(fake_discord, Channel.appeals) == ["nobody listens"]


def test_over_long_text_is_truncated_within_discord_limits(engine, session, community, clock, fake_discord):
    hook_up(session, community, fake_discord)
    notify(session, community, Channel.modlog, "t" * 400, description="reason " * 2000,
           fields=[{"name": "Reason", "value": "x" * 3000}])
    assert deliver(engine) == {"sent": 1}  # the fake refuses (400) what Discord would refuse
    embed = fake_discord.payloads_for(HOOK_IDS[Channel.modlog])[0]["embeds"][0]
    assert len(embed["title"]) == 256 and len(embed["description"]) == 4096
    assert len(embed["fields"][0]["value"]) == 1024 and embed["fields"][0]["value"].endswith("…")


class CrashAfterSend(DiscordSender):
    """The process dies after Discord accepted the message, before it is marked."""

    def send(self, url, message):
        super().send(url, message)
        raise SystemExit("killed")


def test_crash_between_send_and_mark_resends_only_that_message(engine, session, community, clock, fake_discord):
    hook_up(session, community, fake_discord)
    notify(session, community, Channel.modlog, "in flight")
    notify(session, community, Channel.modlog, "queued")
    with pytest.raises(SystemExit):
        deliver(engine, sender=CrashAfterSend(timeout=2))
    assert deliver(engine) == {}  # the dead process's lease still holds the channel
    clock.advance(minutes=1)
    assert deliver(engine) == {"sent": 2}
    assert titles(fake_discord, Channel.modlog) == ["in flight", "in flight", "queued"]  # at least once


def test_two_deliverers_at_once_keep_order_and_send_once(engine, session, community, clock, fake_discord):
    hook_up(session, community, fake_discord)
    for i in range(40):
        notify(session, community, Channel.appeals if i % 2 else Channel.modlog, f"m{i}")
    barrier = threading.Barrier(2)
    results = []

    def work():
        barrier.wait()
        results.append(deliver(engine))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.get("sent", 0) for r in results) == 40
    assert titles(fake_discord, Channel.modlog) == [f"m{i}" for i in range(0, 40, 2)]
    assert titles(fake_discord, Channel.appeals) == [f"m{i}" for i in range(1, 40, 2)]


def test_webhook_urls_are_secret(engine, session, community, clock, fake_discord, caplog):
    caplog.set_level(logging.DEBUG)
    env = {"MODSYS_WEBHOOK_MODLOG": fake_discord.url("201", TOKEN), "MODSYS_WEBHOOK_LEADERSHIP": " "}
    assert configure_from_env(session, CLI, community.id, env) == ["modlog"]
    assert configure_from_env(session, CLI, community.id, env) == []  # idempotent
    assert list_webhooks(session) == [("default", "modlog", f"{fake_discord.base_url}/api/webhooks/201…/****")]
    with pytest.raises(ValidationFailed, match="must be an http") as refused:
        set_webhook(session, CLI, community.id, "modlog", f"ftp://x/{TOKEN}")
    assert TOKEN not in str(refused.value)
    with pytest.raises(ValidationFailed, match="unknown channel"):
        set_webhook(session, CLI, community.id, "dm", fake_discord.url())
    session.rollback()
    notify(session, community, Channel.modlog, "hello")
    fake_discord.enqueue(error(500))
    deliver(engine)
    clock.advance(minutes=1)
    deliver(engine)
    assert len(fake_discord.accepted) == 1
    texts = [r.getMessage() for r in caplog.records] + [m.last_error for m in rows(session)]
    assert texts and not any(TOKEN in t for t in texts)


def _cli(db_url, *args, stdin=None):
    env = {**os.environ, "DATABASE_URL": db_url, "MODSYS_POLICY": str(DEFAULT_POLICY), "no_proxy": "127.0.0.1"}
    return subprocess.run([sys.executable, "-m", "modsys.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_cli_webhook_and_outbox_commands(db_url, engine, session, community, clock, fake_discord):
    url = fake_discord.url("301", TOKEN)
    out = _cli(db_url, "webhook", "set", "leadership", "-", stdin=url + "\n")
    assert out.returncode == 0 and "301…/****" in out.stdout and TOKEN not in out.stdout + out.stderr
    bad = _cli(db_url, "webhook", "set", "dm", url)
    assert bad.returncode == 1 and "unknown channel" in bad.stderr and TOKEN not in bad.stderr
    listed = _cli(db_url, "webhook", "list")
    assert listed.returncode == 0 and "leadership" in listed.stdout and TOKEN not in listed.stdout

    message = notify(session, community, Channel.leadership, "gone")
    fake_discord.enqueue(gone())
    deliver(engine)
    dead = _cli(db_url, "outbox", "list", "--dead")
    assert dead.returncode == 0 and f"#{message.id} dead" in dead.stdout and "Unknown Webhook" in dead.stdout
    assert TOKEN not in dead.stdout
    disabled = _cli(db_url, "webhook", "list").stdout  # Discord said it is gone: disabled, and it says so
    assert "(disabled: Discord answered HTTP 404 Unknown Webhook" in disabled and TOKEN not in disabled
    assert _cli(db_url, "webhook", "set", "leadership", "-", stdin=url + "\n").returncode == 0  # set again
    assert _cli(db_url, "outbox", "retry").returncode == 2
    again = _cli(db_url, "outbox", "retry", "--dead")
    assert again.returncode == 0 and "1 message(s) queued again" in again.stdout
    assert reload(session, message).status == OutboxStatus.pending
    clock.set(datetime.now(UTC) + timedelta(minutes=1))  # the CLI queued it on the real clock
    assert deliver(engine) == {"sent": 1}


def test_every_domain_event_has_one_rendering():
    """Staff events as embeds, member events as DMs: each exactly once."""
    from modsys.domain import events
    from modsys.notify import member_dm
    from modsys.notify.messages import RENDERERS

    assert not set(RENDERERS) & set(member_dm.RENDERERS)
    assert set(RENDERERS) | set(member_dm.RENDERERS) == set(events.EVENTS.values())
    assert set(member_dm.RENDERERS) == set(events.MEMBER_EVENTS)
