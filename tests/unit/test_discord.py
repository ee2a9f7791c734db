"""Discord delivery: payload building, the sender against a real (fake) HTTP
server, URL redaction and retry timing."""

from __future__ import annotations

import json
import logging
import operator
import threading
import time
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modsys.domain.clock import FrozenClock, using
from modsys.notify import (
    DiscordSender,
    backoff_delay,
    build_message,
    embed_length,
    redact_url,
    send,
    validate_message,
)
from tests.support.discord_server import (
    FakeDiscord,
    Reply,
    discord_problems,
    error,
    gone,
    hang,
    ok,
    rate_limit,
)

TOKEN = "s3cr3t-T0KEN_do-not-leak"
SIMPLE = build_message({"title": "Appeal #7 decided", "description": "Upheld."})
# Top-level keys Discord's "execute webhook" accepts that we may send.
PAYLOAD_KEYS = {"content", "embeds", "allowed_mentions", "username", "avatar_url"}


def assert_discord_accepts(message: dict) -> None:
    """Limits checked by the fake's own (independent) validator, plus the
    properties the fake cannot see."""
    assert discord_problems(message) == []
    assert message["allowed_mentions"] == {"parse": []}
    json.dumps(message, allow_nan=False, ensure_ascii=False).encode("utf-8")  # no NaN, no lone surrogates
    assert validate_message(message) == []


# --- sending ---------------------------------------------------------------------


def test_accepted_message_is_recorded_and_never_pings(fake_discord):
    message = build_message({"title": "@everyone look", "description": "<@123> and @here were banned"})
    result = send(fake_discord.url("42", TOKEN), message)

    assert result.ok and result.status == 200 and not result.permanent and result.error == ""
    [payload] = fake_discord.payloads_for("42")
    assert payload["allowed_mentions"] == {"parse": []}
    assert "@everyone" in payload["embeds"][0]["title"]  # the text stays, the ping does not
    assert set(payload) <= PAYLOAD_KEYS  # the library's timeout/wait attributes stay out of the body
    assert fake_discord.accepted[0].query == {"wait": "True"}


def test_caller_cannot_enable_mentions(fake_discord):
    message = {**SIMPLE, "allowed_mentions": {"parse": ["everyone", "users"]}}
    assert send(fake_discord.url(), message).ok
    assert fake_discord.payloads_for("1")[0]["allowed_mentions"] == {"parse": []}


def test_username_and_avatar_are_sent(fake_discord):
    sender = DiscordSender(username=" Mod Log ", avatar_url="https://example.org/a.png")
    assert sender.send(fake_discord.url(), SIMPLE).ok
    [payload] = fake_discord.payloads_for("1")
    assert (payload["username"], payload["avatar_url"]) == ("Mod Log", "https://example.org/a.png")


@pytest.mark.parametrize(
    "settings_",
    [{"username": "Discord Mods"}, {"username": "  "}, {"username": "x" * 81}, {"avatar_url": "ftp://x/a.png"}, {"timeout": 0}],
)
def test_bad_sender_settings_fail_at_startup(settings_):
    with pytest.raises(ValueError):
        DiscordSender(**settings_)


@pytest.mark.parametrize(
    "reply, retry_after",
    [
        (rate_limit(2.5, body=False), 2.5),
        (rate_limit(0.75, header=False), 0.75),
        # Both present: the header wins (the body may be milliseconds on old API versions).
        (Reply(429, {"message": "You are being rate limited.", "retry_after": 3000}, {"Retry-After": "3"}), 3.0),
    ],
)
def test_rate_limit_is_reported_not_retried(fake_discord, reply, retry_after):
    fake_discord.enqueue(reply)
    started = time.monotonic()
    result = send(fake_discord.url(), SIMPLE)

    assert (result.ok, result.status, result.retry_after) == (False, 429, retry_after)
    assert result.retryable and "rate limited" in result.error
    assert len(fake_discord.attempts) == 1 and fake_discord.accepted == []
    assert time.monotonic() - started < 1.0  # no sleeping in the caller's thread


def test_retry_after_as_http_date(fake_discord):
    fake_discord.enqueue(Reply(429, None, {"Retry-After": "Mon, 05 Jan 2026 12:01:30 GMT"}))
    with using(FrozenClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))):
        assert send(fake_discord.url(), SIMPLE).retry_after == 90.0


@pytest.mark.parametrize(
    "reply, permanent, text",
    [
        (error(500), False, "HTTP 500"),
        (Reply(502), False, "HTTP 502 Bad Gateway"),  # no JSON body (a proxy's page)
        (Reply(408), False, "HTTP 408"),
        (gone(), True, "Unknown Webhook (code 10015)"),
        (error(401), True, "HTTP 401"),
        (error(403), True, "HTTP 403"),
        (error(400), True, "HTTP 400"),
    ],
)
def test_http_errors_are_classified(fake_discord, reply, permanent, text):
    fake_discord.set_mode(reply)
    result = send(fake_discord.url(), SIMPLE)
    assert not result.ok and result.status == reply.status and result.retry_after is None
    assert result.permanent is permanent and result.retryable is not permanent
    assert text in result.error
    assert len(fake_discord.attempts) == 1


def test_timeout_returns_promptly(fake_discord):
    fake_discord.set_mode(hang(5))
    started = time.monotonic()
    result = DiscordSender(timeout=0.5).send(fake_discord.url(), SIMPLE)
    elapsed = time.monotonic() - started

    assert 0.4 < elapsed < 1.5
    assert (result.ok, result.status, result.permanent) == (False, None, False)
    assert "timed out" in result.error


def test_connection_refused_and_bad_url_become_results():
    with FakeDiscord() as fake:
        url = fake.url()
    refused = send(url, SIMPLE)  # the port is closed now
    assert (refused.ok, refused.status, refused.permanent) == (False, None, False)
    assert "connection failed" in refused.error

    bad = send("not a url/api/webhooks/1/tok", SIMPLE)
    assert (bad.ok, bad.permanent) == (False, True)


def test_no_log_line_or_error_contains_the_token(fake_discord, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 prints request paths at DEBUG
    url = fake_discord.url("987654321", TOKEN)
    fake_discord.enqueue(gone(), error(500), rate_limit(1), Reply(400, {"message": f"echo {url}"}), hang(5), ok())
    sender = DiscordSender(timeout=0.3)
    results = [sender.send(url, SIMPLE) for _ in range(6)]
    with FakeDiscord() as closed:
        refused_url = closed.url("987654321", TOKEN)
    results.append(sender.send(refused_url, SIMPLE))

    assert [r.ok for r in results] == [False, False, False, False, False, True, False]
    logged = [r.getMessage() for r in caplog.records]
    assert any('"POST /api/webhooks/987654321/****?wait=True' in line for line in logged)  # urllib3, scrubbed
    assert sum("9876…/****" in line for line in logged) == 7  # our log lines name the webhook, redacted
    for text in logged + [repr(r) for r in results]:
        assert TOKEN not in text


# --- the fake itself ---------------------------------------------------------------


def test_queue_then_mode_and_exactly_once_delivery(fake_discord):
    fake_discord.enqueue(rate_limit(0.05), times=3)
    attempt, result = 0, send(fake_discord.url(), SIMPLE)
    while not result.ok and attempt < 10:
        attempt += 1
        time.sleep(result.retry_after)
        result = send(fake_discord.url(), SIMPLE)

    assert result.ok and attempt == 3
    assert [r.status for r in fake_discord.attempts] == [429, 429, 429, 200]
    assert len(fake_discord.accepted) == 1 and fake_discord.wait_for_accepted(1, timeout=0)
    arrivals = [r.at for r in fake_discord.attempts]
    assert all(later - earlier >= 0.05 for earlier, later in zip(arrivals, arrivals[1:]))


def test_fake_refuses_what_discord_would_refuse(fake_discord):
    raw = {"embeds": [{"title": "x" * 300}], "allowed_mentions": {"parse": []}}
    result = send(fake_discord.url(), raw)
    assert result.permanent and result.status == 400 and "50035" in result.error
    assert send(fake_discord.url(), {"allowed_mentions": {"parse": []}}).status == 400  # empty message
    assert fake_discord.accepted == []


def test_fakes_run_side_by_side_and_leave_no_threads():
    before, started = set(threading.enumerate()), time.monotonic()
    with FakeDiscord() as a, FakeDiscord() as b:
        assert a.base_url != b.base_url
        a.set_mode(hang(30))
        assert not DiscordSender(timeout=0.2).send(a.url(), SIMPLE).ok
        assert send(b.url("2"), SIMPLE).ok
        assert a.accepted == [] and len(b.payloads_for("2")) == 1 and b.payloads_for("1") == []
    assert set(threading.enumerate()) == before  # the hanging handler was woken and joined
    assert time.monotonic() - started < 2.0  # ...rather than waited for


# --- building messages ---------------------------------------------------------


def test_over_long_parts_are_truncated_with_ellipsis(fake_discord):
    field = {"name": "n" * 300, "value": "v" * 2000, "inline": True}
    event = {
        "title": "t" * 300,
        "description": "d" * 5000,
        "fields": [field] * 30,
        "footer": "f" * 3000,
        "author": {"name": "a" * 300, "url": "https://example.org/u"},
        "content": "c" * 2500,
    }
    message = build_message(event)
    assert_discord_accepts(message)
    embed = message["embeds"][0]
    assert len(message["content"]) == 2000 and message["content"].endswith("…")
    for text in (embed["title"], embed["description"], embed["footer"]["text"], embed["author"]["name"]):
        assert text.endswith("…")
    assert len(embed["fields"]) == 25 and embed["fields"][-1]["value"] == "6 more fields not shown"
    assert embed_length(embed) == 6000  # trimmed to fit, no more
    assert send(fake_discord.url(), message).ok  # and Discord (the fake) takes it

    raw = {"embeds": [{"title": "t" * 300, "description": "d" * 5000}], "allowed_mentions": {"parse": []}}
    assert validate_message(raw) and discord_problems(raw)


@pytest.mark.parametrize("count, kept", [(25, 25), (26, 24)])
def test_field_count_boundary(count, kept):
    fields = [{"name": f"f{i}", "value": "v"} for i in range(count)]
    shown = build_message({"title": "t", "fields": fields})["embeds"][0]["fields"]
    assert len(shown) == 25 and [f["name"] for f in shown[:kept]] == [f"f{i}" for i in range(kept)]
    if kept < count:
        assert shown[-1] == {"name": "…", "value": "2 more fields not shown", "inline": False}


def test_lone_surrogates_are_replaced():
    message = build_message({"title": "bad \ud800 text", "fields": [{"name": "\udfff", "value": "x"}]})
    assert_discord_accepts(message)
    assert message["embeds"][0]["title"] == "bad ? text"


def test_extra_embeds_are_summarised():
    message = build_message({"embeds": [{"title": f"case {i}"} for i in range(13)]})
    assert_discord_accepts(message)
    assert [e.get("title") for e in message["embeds"][:9]] == [f"case {i}" for i in range(9)]
    assert message["embeds"][9] == {"description": "… 4 more not shown"}


def test_longest_parts_give_way_first():
    event = {
        "title": "Case #12",
        "description": "x" * 4096,
        "fields": [{"name": f"quote {i}", "value": "y" * 1024} for i in range(10)],
        "footer": "Moderator: alice",
    }
    embed = build_message(event)["embeds"][0]
    assert embed["title"] == "Case #12" and embed["footer"]["text"] == "Moderator: alice"
    assert [f["name"] for f in embed["fields"]] == [f"quote {i}" for i in range(10)]
    assert embed_length(embed) == 6000
    # Equal-length long texts are trimmed to the same level (give or take the one
    # character that spreads the remainder).
    levels = {len(f["value"]) for f in embed["fields"]} | {len(embed["description"])}
    assert max(levels) - min(levels) == 1 and all(f["value"].endswith("…") for f in embed["fields"])


def test_malformed_optional_values_are_dropped_not_sent():
    embed = build_message(
        {"title": "t", "url": "javascript:alert(1)", "color": 2**30, "timestamp": "yesterday", "fields": [{"name": " ", "value": ""}]}
    )["embeds"][0]
    assert {"url", "color", "timestamp"}.isdisjoint(embed)
    assert embed["fields"] == [{"name": "\u200b", "value": "\u200b", "inline": False}]
    good = build_message({"title": "t", "url": "https://x.org/a", "color": "#ff0000", "timestamp": "2026-01-05T13:00:00+01:00"})
    assert good["embeds"][0] == {"title": "t", "url": "https://x.org/a", "color": 0xFF0000, "timestamp": "2026-01-05T12:00:00+00:00"}


def test_empty_event_still_makes_a_sendable_message():
    assert_discord_accepts(build_message({}))
    assert_discord_accepts(build_message({"embeds": [{}, None, "x"], "title": None}))


# Joined from a list: hypothesis merges character unions inside st.text and drops the surrogate.
_chars = st.characters(exclude_categories=()) | st.sampled_from(" \n@…\u200b\ud800")
_short = st.lists(_chars, max_size=40).map("".join)
_long = st.builds(operator.mul, _short, st.integers(0, 300))  # up to ~12000 chars, cheaply
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _short,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_short, inner, max_size=3),
    max_leaves=6,
)
_value = _long | _json
_field = st.fixed_dictionaries({}, optional={"name": _value, "value": _value, "inline": _json})
_embed = st.fixed_dictionaries(
    {},
    optional={
        "title": _value,
        "description": _value,
        "fields": st.lists(_field | _json, max_size=30),
        "footer": _value | st.fixed_dictionaries({"text": _value, "icon_url": _value}),
        "author": _value | st.fixed_dictionaries({"name": _value, "url": _value}),
        "url": _value,
        "color": _value,
        "timestamp": st.datetimes().map(datetime.isoformat) | _value,
    },
)
_event = _embed | st.fixed_dictionaries({"embeds": st.lists(_embed | _json, max_size=13)}, optional={"content": _value})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_event)
def test_build_message_always_within_limits(event):
    assert_discord_accepts(build_message(event))


# --- redaction and backoff -------------------------------------------------------


@pytest.mark.parametrize(
    "url, expected",
    [
        (f"https://discord.com/api/webhooks/123456789012/{TOKEN}", "https://discord.com/api/webhooks/1234…/****"),
        (f"https://canary.discord.com/api/v10/webhooks/99/{TOKEN}?wait=true", "https://canary.discord.com/api/v10/webhooks/99…/****"),
        (f"https://user:{TOKEN}@example.org/hook/{TOKEN}", "https://example.org/****"),
        (TOKEN, "****"),
    ],
)
def test_redact_url_hides_the_token(url, expected):
    assert redact_url(url) == expected


def test_backoff_honours_retry_after_with_a_cap():
    assert 30.0 <= backoff_delay(1, 30.0) <= 31.0
    assert backoff_delay(5, 0.0) < 1.0  # retry_after wins over the attempt count
    assert backoff_delay(1, 1e9) == 900.0
    assert backoff_delay(1, float("nan"), rand=lambda: 0.5) == 5.0  # nonsense header: ignored


def test_backoff_grows_exponentially_with_bounded_jitter():
    mid = lambda: 0.5  # noqa: E731  (jitter factor exactly 1.0)
    assert [backoff_delay(n, None, rand=mid) for n in range(1, 6)] == [5.0, 10.0, 20.0, 40.0, 80.0]
    assert backoff_delay(3, None, rand=lambda: 0.0) == pytest.approx(18.0)
    assert backoff_delay(3, None, rand=lambda: 0.999) == pytest.approx(21.996)
    assert backoff_delay(10, None, rand=mid) == 900.0
    assert backoff_delay(10**6, None, rand=lambda: 0.999) == 900.0
    assert backoff_delay(0, None, base=2.0, cap=60.0, rand=mid) == 2.0
