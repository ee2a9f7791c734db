"""The bot's REST client: one place that talks HTTP to Discord.

Rate limits, as documented in discord-api-docs `developers/topics/rate-limits.mdx`:
- per-route limits, shared by routes that answer the same `X-RateLimit-Bucket`,
  counted per top-level resource (the guild or channel id in the path); a bucket
  with `X-RateLimit-Remaining: 0` is not used again before `X-RateLimit-Reset-After`
  seconds have passed, so we wait instead of collecting 429s;
- a global limit of 50 requests per second per bot ("All bots can make up to 50
  requests per second"), kept here with a sliding window (`GLOBAL_WINDOW`);
- a 429 carries `retry_after` in its JSON body (and `Retry-After`); `X-RateLimit-Global`
  or `X-RateLimit-Scope: global` (or `"global": true`) marks the global limit.
  After a 429 we wait as told and try once more, or hand the wait back to the caller
  (the queue reschedules): never a loop.

Errors come back as a `Reply` whose `explain()` says what a person must do.

A 401 means the token is wrong or was reset: every later request would be
another 401, and 10,000 invalid requests (401, 403, 429) in 10 minutes get the
IP banned from the API (rate-limits.mdx, "Invalid Request Limit"). So the first
401 stops the client: it logs once, sends nothing more, and answers every later
call with the same 401 and its explanation (which the enforcement queue shows on
/admin) until the process restarts with a new token.

The token is sent in the `Authorization` header only; it is never logged, never
part of a message or repr.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from modsys.adapters.discord import http_session
from modsys.infra.config import Settings

log = logging.getLogger(__name__)

GLOBAL_PER_SECOND = 50  # rate-limits.mdx, "Global Rate Limit"
# We count the 50 over a slightly longer window: requests leave here and arrive
# there with different delays, and two sent 1.0 s apart may land closer together.
GLOBAL_WINDOW = 1.1
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 10.0
REASON_MAX = 512  # audit-log.mdx: X-Audit-Log-Reason "supports 1-512 URL-encoded UTF-8 characters"

# Discord's JSON error codes we act on (topics/opcodes-and-status-codes.mdx).
UNKNOWN_GUILD, UNKNOWN_MEMBER, UNKNOWN_USER, UNKNOWN_BAN = 10004, 10007, 10013, 10026
MISSING_ACCESS, CANNOT_DM, MISSING_PERMISSIONS = 50001, 50007, 50013


@dataclass(frozen=True)
class Reply:
    ok: bool
    status: int | None  # None: no HTTP answer (timeout, connection refused) or not sent (rate limit wait)
    data: Any = None
    code: int | None = None  # Discord's JSON error code
    message: str = ""  # Discord's error message, or why there was no answer
    retry_after: float | None = None  # rate limited: try again after this many seconds

    @property
    def rate_limited(self) -> bool:
        return self.retry_after is not None

    @property
    def retryable(self) -> bool:
        """Worth trying again later as is: no answer, a server error, or a rate limit."""
        return not self.ok and (self.status is None or self.status >= 500 or self.rate_limited)

    def explain(self, permission: str = "") -> str:
        """What went wrong, phrased so that a person can fix it. `permission`: the
        one the request needed ("Ban Members", "Moderate Members", "Kick Members")."""
        if self.ok:
            return ""
        if self.rate_limited:
            return f"rate limited by Discord; retrying after {self.retry_after:.1f} s"
        if self.status is None:
            return f"Discord did not answer ({self.message}); retrying"
        if self.status == 401:
            return ("401 Unauthorized: the bot token is wrong or was reset; put the token from the Bot page of "
                    "the Discord developer portal in MODSYS_DISCORD_BOT_TOKEN")
        if self.status == 403 and self.code == MISSING_ACCESS:
            return ("403 Missing Access: the bot is not in this server (or can't see it); invite it with the "
                    "bot scope, see docs/discord.md")
        if self.status == 403:
            need = f"the bot needs {permission}, and " if permission else ""
            return (f"403 Missing Permissions: {need}its role must be above the member's highest role "
                    "(Discord never lets a bot act on the server owner or an administrator)")
        if self.status == 404 and self.code == UNKNOWN_GUILD:
            return ("404 Unknown Guild: the community's Discord server id is wrong, or the bot was removed from "
                    "the server; check it with `modsys discord check`")
        if self.status == 404 and self.code in (UNKNOWN_MEMBER, UNKNOWN_USER):
            return "404: the member is not in the Discord server (left, or the id is wrong)"
        if self.status >= 500:
            return f"Discord answered {self.status} (its side); retrying"
        return f"Discord refused it: {self.status} {self.message} (code {self.code})"


def audit_reason(text: str) -> str:
    """`X-Audit-Log-Reason`: at most 512 characters, URL-encoded (audit-log.mdx)."""
    text = " ".join(text.split())[:REASON_MAX] or "modsys"
    return quote(text, safe="")


@dataclass
class _Bucket:
    remaining: int | None = None
    reset_at: float = 0.0  # monotonic


class RateLimiter:
    """Per-bucket and global waits, shared by every request of one client."""

    def __init__(self, per_second: int = GLOBAL_PER_SECOND, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second, self.clock = per_second, clock
        self._lock = threading.Lock()
        self._route_bucket: dict[str, str] = {}  # "PUT /guilds/{guild_id}/bans/{user_id}" -> bucket hash
        self._buckets: dict[str, _Bucket] = {}  # "<hash or route>:<major id>" -> state
        self._global_until = 0.0
        self._sent: deque[float] = deque()  # send times in the last second

    def _key(self, route: str, major: str) -> str:
        return f"{self._route_bucket.get(route, route)}:{major}"

    def acquire(self, route: str, major: str) -> float:
        """0 and the request counted, or the seconds to wait before asking again."""
        with self._lock:
            now = self.clock()
            wait = max(self._global_until - now, 0.0)
            bucket = self._buckets.get(self._key(route, major))
            if bucket is not None and bucket.remaining is not None and bucket.remaining <= 0:
                if bucket.reset_at > now:
                    wait = max(wait, bucket.reset_at - now)
                else:
                    bucket.remaining = None  # reset passed: unknown until the next answer
            while self._sent and self._sent[0] <= now - GLOBAL_WINDOW:
                self._sent.popleft()
            if len(self._sent) >= self.per_second:
                wait = max(wait, self._sent[0] + GLOBAL_WINDOW - now)
            if wait > 0:
                return wait
            self._sent.append(now)
            if bucket is not None and bucket.remaining is not None:
                bucket.remaining -= 1
            return 0.0

    def update(self, route: str, major: str, status: int, headers: Any, body: Any) -> float | None:
        """Learn from an answer; for a 429, the seconds to wait."""
        with self._lock:
            now = self.clock()
            if bucket_hash := headers.get("X-RateLimit-Bucket"):
                self._route_bucket[route] = bucket_hash
            bucket = self._buckets.setdefault(self._key(route, major), _Bucket())
            remaining, reset_after = headers.get("X-RateLimit-Remaining"), headers.get("X-RateLimit-Reset-After")
            if remaining is not None and reset_after is not None:
                try:
                    bucket.remaining, bucket.reset_at = int(remaining), now + float(reset_after)
                except ValueError:
                    pass
            if status != 429:
                return None
            retry_after = _retry_after(headers, body)
            is_global = (headers.get("X-RateLimit-Global", "").lower() == "true"
                         or headers.get("X-RateLimit-Scope") == "global"
                         or (isinstance(body, dict) and body.get("global") is True))
            if is_global:
                self._global_until = max(self._global_until, now + retry_after)
            else:
                bucket.remaining, bucket.reset_at = 0, max(bucket.reset_at, now + retry_after)
            return retry_after


def _retry_after(headers: Any, body: Any) -> float:
    for value in ((body or {}).get("retry_after") if isinstance(body, dict) else None, headers.get("Retry-After")):
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return min(seconds, 3600.0)  # a bogus huge value must not park the queue for days
    return 1.0


class DiscordClient:
    """Thread-safe; one per process is enough (it holds the rate-limit state)."""

    def __init__(self, token: str, api_url: str, *, limiter: RateLimiter | None = None,
                 timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)) -> None:
        if not token:
            raise ValueError("a bot token is required")
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.limiter = limiter or RateLimiter()
        self.http_timeout = timeout
        self._http = http_session.session()
        self.stopped: Reply | None = None  # the 401 that stopped this client

    def __repr__(self) -> str:
        return f"DiscordClient({self.api_url!r})"  # never the token

    @classmethod
    def from_settings(cls, settings: Settings) -> DiscordClient:
        if not settings.discord_bot_token:
            raise ValueError("MODSYS_DISCORD_BOT_TOKEN is not set")
        return cls(settings.discord_bot_token, settings.discord_api_url)

    # --- one request -------------------------------------------------------------------

    def request(self, method: str, route: str, *, reason: str | None = None, json: Any = None,
                params: dict[str, Any] | None = None, max_wait: float = 5.0, timeout: float | None = None,
                **ids: str) -> Reply:
        """`route` is the path template ("/guilds/{guild_id}/bans/{user_id}"), `ids` fill it.
        Waits for rate limits up to `max_wait` seconds in all; beyond that returns a
        rate-limited Reply at once (the caller reschedules). `timeout` caps the HTTP wait."""
        path = route.format(**{k: quote(str(v), safe="") for k, v in ids.items()})
        key = f"{method} {route}"
        major = str(ids.get("guild_id") or ids.get("channel_id") or "")
        if self.stopped is not None:
            return self.stopped
        headers = {"Authorization": f"Bot {self._token}"}
        if reason is not None:
            headers["X-Audit-Log-Reason"] = audit_reason(reason)
        deadline = time.monotonic() + max_wait
        http_timeout = self.http_timeout if timeout is None else (min(self.http_timeout[0], timeout),
                                                                 min(self.http_timeout[1], timeout))
        for attempt in (1, 2):  # a second try only after a 429 we could wait out
            wait = self.limiter.acquire(key, major)
            while wait > 0:
                if time.monotonic() + wait > deadline:
                    return Reply(False, None, message="rate limited", retry_after=wait)
                time.sleep(wait)
                wait = self.limiter.acquire(key, major)
            try:
                response = self._http.request(method, self.api_url + path, headers=headers, json=json,
                                              params=params, timeout=http_timeout)
            except requests.RequestException as e:  # the message names the URL, never the headers
                return Reply(False, None, message=type(e).__name__)
            body = _json(response)
            retry_after = self.limiter.update(key, major, response.status_code, response.headers, body)
            if retry_after is None:
                if 200 <= response.status_code < 300:
                    return Reply(True, response.status_code, body)
                error = body if isinstance(body, dict) else {}
                reply = Reply(False, response.status_code, body, error.get("code"), str(error.get("message", ""))[:200])
                if reply.status == 401:
                    self._stop(reply)
                return reply
            if attempt == 2 or time.monotonic() + retry_after > deadline:
                return Reply(False, 429, body, message="rate limited", retry_after=retry_after)
            time.sleep(retry_after)
        raise AssertionError("unreachable")

    def _stop(self, reply: Reply) -> None:
        with _clients_lock:
            if self.stopped is None:
                self.stopped = Reply(False, 401, code=reply.code, message="not sent: the bot token was refused (401)")
                log.error("Discord refused the bot token (401): modsys stops sending to Discord until it is "
                          "restarted with a valid one. %s", reply.explain())

    # --- the endpoints modsys uses (each cited from discord-api-docs) ----------------------

    def current_user(self) -> Reply:  # user.mdx "Get Current User"
        return self.request("GET", "/users/@me")

    def guild(self, guild_id: str) -> Reply:  # guild.mdx "Get Guild" (includes roles and owner_id)
        return self.request("GET", "/guilds/{guild_id}", guild_id=guild_id)

    def member(self, guild_id: str, user_id: str) -> Reply:  # guild.mdx "Get Guild Member"
        return self.request("GET", "/guilds/{guild_id}/members/{user_id}", guild_id=guild_id, user_id=user_id)

    def ban(self, guild_id: str, user_id: str, reason: str, delete_message_seconds: int = 0) -> Reply:
        # guild.mdx "Create Guild Ban": PUT, 204; delete_message_seconds 0-604800
        return self.request("PUT", "/guilds/{guild_id}/bans/{user_id}", reason=reason,
                            json={"delete_message_seconds": delete_message_seconds},
                            guild_id=guild_id, user_id=user_id)

    def unban(self, guild_id: str, user_id: str, reason: str) -> Reply:  # guild.mdx "Remove Guild Ban"
        return self.request("DELETE", "/guilds/{guild_id}/bans/{user_id}", reason=reason,
                            guild_id=guild_id, user_id=user_id)

    def timeout(self, guild_id: str, user_id: str, until: datetime | None, reason: str) -> Reply:
        # guild.mdx "Modify Guild Member": communication_disabled_until, up to 28 days ahead; null removes it
        value = until.isoformat() if until is not None else None
        return self.request("PATCH", "/guilds/{guild_id}/members/{user_id}", reason=reason,
                            json={"communication_disabled_until": value}, guild_id=guild_id, user_id=user_id)

    def kick(self, guild_id: str, user_id: str, reason: str) -> Reply:  # guild.mdx "Remove Guild Member"
        return self.request("DELETE", "/guilds/{guild_id}/members/{user_id}", reason=reason,
                            guild_id=guild_id, user_id=user_id)

    def open_dm(self, user_id: str, within: float) -> Reply:  # user.mdx "Create DM"
        return self.request("POST", "/users/@me/channels", json={"recipient_id": user_id}, max_wait=within,
                            timeout=within)

    def send_message(self, channel_id: str, payload: dict[str, Any], within: float) -> Reply:
        # message.mdx "Create Message"; 50007 when the member does not accept DMs
        return self.request("POST", "/channels/{channel_id}/messages", json=payload, max_wait=within,
                            timeout=within, channel_id=channel_id)

    def audit_log(self, guild_id: str, after: str, limit: int = 100) -> Reply:
        # audit-log.mdx "Get Guild Audit Log": limit 1-100; with `after`, oldest first
        return self.request("GET", "/guilds/{guild_id}/audit-logs", params={"after": after, "limit": limit},
                            guild_id=guild_id)

    def bans(self, guild_id: str, after: str = "0", limit: int = 1000) -> Reply:
        # guild.mdx "Get Guild Bans": up to 1000, ascending by user id, page with `after`
        return self.request("GET", "/guilds/{guild_id}/bans", params={"after": after, "limit": limit},
                            guild_id=guild_id)


def _json(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


_clients: dict[tuple[str, str], DiscordClient] = {}
_clients_lock = threading.Lock()


def client_for(settings: Settings) -> DiscordClient:
    """The process's client for these settings (shared, so rate-limit state is shared)."""
    key = (settings.discord_bot_token or "", settings.discord_api_url)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = DiscordClient.from_settings(settings)
        return _clients[key]
