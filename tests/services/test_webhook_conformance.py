"""Webhook posts follow Discord's rules: the rate-limit headers of a successful
answer are honoured (rate-limits.mdx: a bucket with `X-RateLimit-Remaining: 0`
is not asked again before `X-RateLimit-Reset-After`), a webhook Discord calls
gone (404 Unknown Webhook, 10015) is disabled where admins see it instead of
being posted to again, and every post carries the User-Agent (reference.mdx)."""

from __future__ import annotations

from datetime import timedelta

from modsys import __version__
from modsys.adapters.discord.webhooks import list_webhooks
from modsys.domain.models import Channel
from tests.services.test_delivery import TOKEN, deliver, hook_up, notify, rows
from tests.support.discord_server import Reply, gone


def test_an_empty_bucket_is_not_posted_to_before_it_resets(engine, session, community, clock, fake_discord):
    hook_up(session, community, fake_discord, Channel.appeals)
    for title in ("first", "second"):
        notify(session, community, Channel.appeals, title)
    fake_discord.enqueue(Reply(204, headers={"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                                              "X-RateLimit-Reset-After": "4.5", "X-RateLimit-Bucket": "hook"}))
    assert deliver(engine) == {"sent": 1, "retry": 1}
    assert len(fake_discord.attempts) == 1  # "second" was never sent into the empty bucket
    second = rows(session)[1]
    assert second.attempts == 0 and "bucket empty" in second.last_error  # waiting costs no attempt
    assert second.next_attempt_at <= clock.now() + timedelta(seconds=5)
    clock.advance(seconds=5)
    assert deliver(engine) == {"sent": 1}
    assert [r.status for r in fake_discord.attempts] == [200, 200]


def test_a_webhook_that_answered_404_is_disabled_visibly_and_not_used_again(engine, session, community, clock,
                                                                            fake_discord):
    hook_up(session, community, fake_discord, Channel.modlog)
    for title in ("one", "two", "three"):
        notify(session, community, Channel.modlog, title)
    fake_discord.enqueue(gone())
    assert deliver(engine) == {"dead": 1, "skipped": 2}
    assert len(fake_discord.attempts) == 1  # one 404, then nothing more to that URL
    skipped = rows(session)[1:]
    assert all(m.status == "skipped" and "modlog webhook is disabled" in m.last_error
               and "Unknown Webhook" in m.last_error and TOKEN not in m.last_error for m in skipped)
    [(_, channel, shown)] = list_webhooks(session, community.id)
    assert channel == "modlog" and "(disabled: Discord answered HTTP 404 Unknown Webhook" in shown
    assert "modsys webhook set modlog URL" in shown and TOKEN not in shown


def test_webhook_posts_carry_the_user_agent(engine, session, community, clock, fake_discord):
    hook_up(session, community, fake_discord, Channel.modlog)
    notify(session, community, Channel.modlog, "hello")
    assert deliver(engine) == {"sent": 1}
    agent = fake_discord.attempts[0].headers.get("User-Agent")
    assert agent == f"DiscordBot (https://github.com/modsys/modsys, {__version__})"


def test_admin_page_shows_the_disabled_webhook_and_why(app, engine, session, community, clock, fake_discord,
                                                       make_staff):
    from tests.conftest import login

    hook_up(session, community, fake_discord, Channel.leadership)
    notify(session, community, Channel.leadership, "one")
    fake_discord.enqueue(gone())
    deliver(engine)
    make_staff("admin", "root")
    client = app.test_client()
    login(client, "root")
    text = client.get("/admin").get_data(as_text=True)
    assert "leadership" in text and "(disabled: Discord answered HTTP 404 Unknown Webhook" in text
    assert TOKEN not in text
