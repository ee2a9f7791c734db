"""The bot's REST client against the fake Discord over real HTTP: rate-limit
buckets learnt from headers, the global limit, 429s (route and global), the
audit-log reason header, actionable errors, and the token kept out of sight.
The limiter's clock is injected, so no test waits on real time."""

from __future__ import annotations

import logging

import pytest

from modsys.adapters.discord.client import (
    GLOBAL_PER_SECOND,
    DiscordClient,
    RateLimiter,
    Reply,
    audit_reason,
)
from tests.support.discord_server import Reply as FakeReply

GUILD = "500000000000000001"
USER = "400000000000000001"


class Ticks:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def client(discord_bot, ticks) -> DiscordClient:
    discord_bot.add_guild(GUILD).add_member(USER)
    return DiscordClient(discord_bot.bot_token, discord_bot.api_url, limiter=RateLimiter(clock=ticks))


def test_an_exhausted_bucket_is_not_used_until_it_resets(client, discord_bot, ticks):
    discord_bot.bucket_limit = (2, 30.0)
    assert client.ban(GUILD, USER, "r").ok and client.ban(GUILD, "400000000000000002", "r").ok
    third = client.ban(GUILD, "400000000000000003", "r")  # Remaining: 0 -> we wait instead of asking
    assert third.rate_limited and 29 < third.retry_after <= 30
    assert len(discord_bot.calls_to("put_ban")) == 2  # no request went into the limit
    other_guild = client.ban("500000000000000002", USER, "r")  # same route, other guild: its own bucket
    assert other_guild.status == 404
    ticks.t += 30.5
    discord_bot.bucket_limit = None
    assert client.ban(GUILD, "400000000000000003", "r").ok


def test_a_route_429_waits_as_told_once_then_hands_the_wait_back(client, discord_bot):
    client = DiscordClient(discord_bot.bot_token, discord_bot.api_url)  # real time: it really waits 0.05 s
    limited = FakeReply(429, {"message": "You are being rate limited.", "retry_after": 0.05, "global": False},
                        {"X-RateLimit-Scope": "user", "X-RateLimit-Bucket": "b"})
    discord_bot.fail("put_ban", limited)
    assert client.ban(GUILD, USER, "r").ok  # waited 0.05 s, tried once more
    discord_bot.fail("put_ban", limited, times=2)
    second = client.ban(GUILD, USER, "r")
    assert second.rate_limited and second.status == 429  # two 429s in a row: back to the queue, no loop
    assert [c.status for c in discord_bot.calls_to("put_ban")] == [429, 204, 429, 429]


def test_a_global_429_blocks_every_route(client, discord_bot, ticks):
    discord_bot.fail("put_ban", FakeReply(429, {"message": "You are being rate limited.", "retry_after": 64.57,
                                                "global": True},
                                          {"Retry-After": "65", "X-RateLimit-Global": "true",
                                           "X-RateLimit-Scope": "global"}))
    assert client.ban(GUILD, USER, "r").retry_after == pytest.approx(64.57)
    other = client.member(GUILD, USER)
    assert other.rate_limited and other.retry_after == pytest.approx(64.57)
    assert not discord_bot.calls_to("member")
    ticks.t += 65
    assert client.member(GUILD, USER).ok


def test_the_global_limit_is_kept_without_asking(ticks):
    limiter = RateLimiter(clock=ticks)
    waits = [limiter.acquire("GET /x", str(i)) for i in range(GLOBAL_PER_SECOND + 1)]
    assert waits[:GLOBAL_PER_SECOND] == [0.0] * GLOBAL_PER_SECOND and waits[-1] > 1.0
    ticks.t += waits[-1]
    assert limiter.acquire("GET /x", "y") == 0.0


def test_audit_log_reason_is_url_encoded_and_at_most_512_characters(client, discord_bot):
    client.ban(GUILD, USER, "modsys case #7: spam, respectful — «ü»")
    call = discord_bot.calls_to("put_ban")[0]
    assert call.headers["X-Audit-Log-Reason"] == "modsys%20case%20%237%3A%20spam%2C%20respectful%20%E2%80%94%20%C2%AB%C3%BC%C2%BB"
    assert call.reason == "modsys case #7: spam, respectful — «ü»"
    assert len(audit_reason("x" * 600)) == 512


@pytest.mark.parametrize("reply, permission, expected", [
    (Reply(False, 403, code=50013), "Ban Members",
     "403 Missing Permissions: the bot needs Ban Members, and its role must be above the member's highest role"),
    (Reply(False, 401), "", "the bot token is wrong or was reset"),
    (Reply(False, 404, code=10004), "", "server id is wrong"),
    (Reply(False, 404, code=10007), "", "not in the Discord server"),
    (Reply(False, None, message="ConnectTimeout"), "", "did not answer (ConnectTimeout); retrying"),
    (Reply(False, 503), "", "503 (its side); retrying"),
])
def test_errors_say_what_to_do(reply, permission, expected):
    assert expected in reply.explain(permission)


def test_the_token_never_shows(client, discord_bot, caplog):
    caplog.set_level(logging.DEBUG)
    client.ban(GUILD, USER, "r")
    client.current_user()
    DiscordClient(discord_bot.bot_token, "http://127.0.0.1:9").current_user()  # refused: an error Reply
    shown = repr(client) + caplog.text + " ".join(r.explain() for r in [
        DiscordClient(discord_bot.bot_token, "http://127.0.0.1:9").current_user()])
    assert discord_bot.bot_token not in shown
    wrong = DiscordClient("not-the-token", discord_bot.api_url).current_user()
    assert wrong.status == 401


def test_a_refused_token_stops_the_client_after_one_request(discord_bot, caplog):
    """Discord bans an IP after 10,000 invalid requests (401, 403, 429) in 10 minutes
    (rate-limits.mdx, "Invalid Request Limit"): after one 401 nothing more is sent."""
    discord_bot.add_guild(GUILD).add_member(USER)
    client = DiscordClient("a-token-that-was-reset", discord_bot.api_url)
    with caplog.at_level(logging.ERROR, logger="modsys.adapters.discord.client"):
        replies = [client.ban(GUILD, USER, "spam") for _ in range(5)] + [client.current_user()]
    assert len(discord_bot.calls) == 1  # the first; the other five never left
    assert all(r.status == 401 and not r.ok and not r.retryable for r in replies)
    assert all("MODSYS_DISCORD_BOT_TOKEN" in r.explain() for r in replies)
    stops = [r for r in caplog.records if "stops sending" in r.getMessage()]
    assert len(stops) == 1 and "a-token-that-was-reset" not in caplog.text


def test_every_bot_request_says_who_it_is(client, discord_bot):
    """reference.mdx, "User Agent": `DiscordBot ($url, $versionNumber)`."""
    from modsys import __version__

    client.current_user()
    client.ban(GUILD, USER, "spam")
    agents = {c.headers.get("User-Agent") for c in discord_bot.calls}
    assert agents == {f"DiscordBot (https://github.com/modsys/modsys, {__version__})"}
