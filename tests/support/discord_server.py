"""A fake Discord: a real HTTP server on 127.0.0.1, so the code under test goes
through requests, sockets and timeouts exactly as in production. It serves
webhooks (below) and the bot's REST API (`FakeDiscord.ROUTES`: guilds with
members, roles, bans and an audit log; DMs; rate-limit headers and 429s).

    with FakeDiscord() as fake:
        fake.enqueue(rate_limit(2.0), times=3)   # next 3 requests: 429
        fake.set_mode(ok())                      # then (and by default): accepted
        send(fake.url("42", "tok"), message)
        assert len(fake.accepted) == 1

Like Discord it checks the payload's embed limits and refuses an empty message
(400), so a payload it accepts is one Discord would accept too. The checks are
written independently of modsys.notify.embeds on purpose.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

_ROUTE = re.compile(r"^/api/(?:v\d+/)?webhooks/(?P<id>\d+)/(?P<token>[^/]+)/?$")
_snowflakes = itertools.count(1_100_000_000_000_000_000)


@dataclass(frozen=True)
class Reply:
    """How the fake answers one request."""

    status: int = 204  # 204 becomes 200 + message JSON when the request has ?wait=true
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sit on the request before answering
    reset: bool = False  # answer nothing: reset the connection (TCP RST), as a dropped proxy would
    raw: bytes | None = None  # a file's bytes (the CDN), sent as they are instead of `body`


def ok() -> Reply:
    return Reply()


def rate_limit(retry_after: float = 1.0, *, header: bool = True, body: bool = True, global_: bool = False) -> Reply:
    """429 as Discord sends it: Retry-After header and/or the JSON retry_after."""
    payload: dict[str, Any] = {"message": "You are being rate limited.", "global": global_}
    if body:
        payload["retry_after"] = retry_after
    return Reply(429, payload, {"Retry-After": f"{retry_after:g}"} if header else {})


def error(status: int = 500) -> Reply:
    return Reply(status, {"message": f"{status}: Server Error", "code": 0})


def reset() -> Reply:
    """The connection is reset before any answer (the client sees ConnectionResetError)."""
    return Reply(0, reset=True)


def bot_rate_limit(retry_after: float = 1.0, *, scope: str = "user") -> Reply:
    """A bot API 429 with the headers and body of docs/topics/Rate_Limits.md
    ("Header Format", "Exceeding A Rate Limit"): Retry-After, the X-RateLimit-* set
    with Remaining 0 and the scope, and the JSON message / retry_after / global."""
    headers = {"Retry-After": f"{math.ceil(retry_after)}", "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
               "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}", "X-RateLimit-Reset-After": f"{retry_after:.3f}",
               "X-RateLimit-Bucket": "fake-dm-bucket", "X-RateLimit-Scope": scope}
    if scope == "global":
        headers["X-RateLimit-Global"] = "true"
    return Reply(429, {"message": "You are being rate limited.", "retry_after": retry_after,
                       "global": scope == "global"}, headers)


def server_error(status: int = 500) -> Reply:
    """Discord's side failing (5xx), as its edge answers: a JSON body with code 0."""
    return Reply(status, {"message": f"{status}: Internal Server Error", "code": 0},
                 {"Via": "1.1 google", "Content-Type": "application/json"})


def gone() -> Reply:
    return Reply(404, {"message": "Unknown Webhook", "code": 10015})


def hang(seconds: float, then: Reply | None = None) -> Reply:
    """Answer only after `seconds` (cut short when the server stops)."""
    return dataclasses.replace(then or ok(), delay=seconds)


@dataclass(frozen=True)
class Request:
    webhook_id: str
    token: str
    payload: Any  # parsed JSON, or None when the body was not JSON
    query: dict[str, str]
    at: float  # time.monotonic() on arrival
    status: int  # what the fake answered (0: never answered, server stopped)
    headers: dict[str, str] = field(default_factory=dict)


# --- a recording of everything sent to Discord and answered ----------------------------


@dataclass(frozen=True)
class Exchange:
    """One request to (a fake) Discord and its answer, or one interaction and modsys's reply."""

    kind: str  # "rest" (bot API), "webhook", "oauth" (OAuth2 and command registration), "interaction"
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the JSON (or form) sent
    status: int
    reply: Any  # the JSON answered


class Capture:
    """Every exchange, in order; FakeDiscord records its own, and FakeDiscordOAuth
    and the interaction tests record into one they are given."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.exchanges: list[Exchange] = []

    def record(self, kind: str, method: str, path: str, headers: Any, body: Any, status: int, reply: Any) -> None:
        with self._lock:
            self.exchanges.append(Exchange(kind, method, path, dict(headers), body, status, reply))

    def of(self, kind: str) -> list[Exchange]:
        with self._lock:
            return [e for e in self.exchanges if e.kind == kind]


# --- the bot's REST API ----------------------------------------------------------------
# Routes as documented in discord-api-docs (resources/guild.mdx, user.mdx, message.mdx,
# audit-log.mdx); errors with Discord's JSON codes; rate-limit headers as in
# topics/rate-limits.mdx. Add endpoints by adding a row to ROUTES and a `_api_<name>` method.

BOT_TOKEN = "fake-bot-token"
BOT_USER_ID = "900000000000000001"
# Permission bits (topics/permissions.mdx)
KICK_MEMBERS, BAN_MEMBERS, ADMINISTRATOR, VIEW_AUDIT_LOG, MODERATE_MEMBERS = 1 << 1, 1 << 2, 1 << 3, 1 << 7, 1 << 40
MODERATION = KICK_MEMBERS | BAN_MEMBERS | VIEW_AUDIT_LOG | MODERATE_MEMBERS
_ids = itertools.count(1_200_000_000_000_000_000)


def snowflake() -> str:
    return str(next(_ids))


def discord_error(status: int, code: int, message: str) -> Reply:
    return Reply(status, {"message": message, "code": code})


@dataclass
class Call:
    """One REST request as the fake saw it."""

    method: str
    route: str  # the ROUTES name, e.g. "put_ban"
    path: str
    params: dict[str, str]
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int = 0
    at: float = 0.0

    @property
    def reason(self) -> str | None:
        value = self.headers.get("X-Audit-Log-Reason")
        return unquote(value) if value is not None else None


@dataclass
class FakeGuild:
    id: str
    name: str = "Fake server"
    owner_id: str = "100"
    roles: list[dict[str, Any]] = field(default_factory=list)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id -> member object
    bans: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id -> ban object
    audit_log: list[dict[str, Any]] = field(default_factory=list)
    incident_actions: dict[str, Any] = field(default_factory=dict)  # invites/DMs paused until

    def add_member(self, user_id: str, *roles: str, name: str = "") -> dict[str, Any]:
        member = {"user": {"id": user_id, "username": name or f"user{user_id[-4:]}"}, "roles": list(roles),
                  "communication_disabled_until": None}
        self.members[user_id] = member
        return member

    def add_role(self, name: str, position: int, permissions: int = 0) -> str:
        role_id = snowflake()
        self.roles.append({"id": role_id, "name": name, "position": position, "permissions": str(permissions)})
        return role_id

    def log(self, action_type: int, target_id: str | None, user_id: str, *, reason: str | None = None,
            changes: list[dict[str, Any]] | None = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Append an audit log entry (as Discord does for actions in its client)."""
        entry = {"id": snowflake(), "action_type": action_type, "target_id": target_id, "user_id": user_id,
                 "changes": changes or [], "options": options or {}}
        if reason:
            entry["reason"] = reason
        self.audit_log.append(entry)
        return entry

    def timed_out_until(self, user_id: str) -> str | None:
        return (self.members.get(user_id) or {}).get("communication_disabled_until")


class BotApi:
    """The REST half of FakeDiscord (state and handlers)."""

    ROUTES: list[tuple[str, str, str]] = [
        ("GET", r"/users/@me", "me"),
        ("POST", r"/users/@me/channels", "create_dm"),
        ("POST", r"/channels/(?P<channel_id>\d+)/messages", "create_message"),
        ("GET", r"/guilds/(?P<guild_id>\d+)", "guild"),
        ("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", "member"),
        ("PATCH", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", "modify_member"),
        ("DELETE", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", "kick"),
        ("GET", r"/guilds/(?P<guild_id>\d+)/bans", "bans"),
        ("PUT", r"/guilds/(?P<guild_id>\d+)/bans/(?P<user_id>\d+)", "put_ban"),
        ("DELETE", r"/guilds/(?P<guild_id>\d+)/bans/(?P<user_id>\d+)", "delete_ban"),
        ("GET", r"/guilds/(?P<guild_id>\d+)/audit-logs", "audit_log"),
        # the gateway (issue 21): what discord.py asks before it connects
        ("GET", r"/gateway/bot", "gateway_bot"),
        ("GET", r"/oauth2/applications/@me", "application"),
        # raids (issue 21): guild.mdx "Bulk Guild Ban", "Modify Guild Incident Actions"
        ("POST", r"/guilds/(?P<guild_id>\d+)/bulk-ban", "bulk_ban"),
        ("PUT", r"/guilds/(?P<guild_id>\d+)/incident-actions", "incident_actions"),
        # modmail (issue 21): channel.mdx "Start Thread in Forum or Media Channel"
        ("POST", r"/channels/(?P<channel_id>\d+)/threads", "forum_post"),
        # the evidence vault: message.mdx "Get Channel Message"
        ("GET", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", "channel_message"),
    ]

    def _init_bot_api(self) -> None:
        self.bot_token = BOT_TOKEN
        self.bot_user = {"id": BOT_USER_ID, "username": "modsys", "bot": True, "discriminator": "0", "avatar": None}
        # GET /gateway/bot names this: a FakeGateway's url, else a closed local port (never Discord's)
        self.gateway_url = "ws://127.0.0.1:9/"
        self.recommended_shards = 1
        self.cdn_files: dict[str, tuple[bytes, str]] = {}  # path -> (bytes, content type)
        self.cdn_redirects: dict[str, str] = {}  # path -> Location
        self.cdn_requests: list[str] = []
        self.forum_posts: dict[str, dict[str, Any]] = {}  # thread id -> {"parent", "name", "messages"}
        self.channel_messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, message) -> message
        self.cdn_down = False  # True: every link is dead (404), as after Discord's links expire
        self.guilds: dict[str, FakeGuild] = {}
        self.closed_dms: set[str] = set()  # users whose DMs are closed (50007)
        self.dms: dict[str, list[dict[str, Any]]] = {}  # user id -> messages the bot sent them
        self.calls: list[Call] = []
        self.capture = Capture()  # every request and reply, REST and webhooks
        self.failures: list[tuple[str, Reply]] = []  # (route name, reply): one-shot, in order
        self.stalls: dict[str, float] = {}  # route name -> seconds: do it, then hang before answering (once)
        self.bucket_limit: tuple[int, float] | None = None  # (requests, per seconds) per route and guild/channel
        self.global_limit: int | None = None  # requests per second for the whole bot
        self._windows: dict[str, tuple[float, int]] = {}
        self._recent: list[float] = []
        self._api_lock = threading.RLock()
        self._compiled = [(m, re.compile(rf"^{p}/?$"), name) for m, p, name in self.ROUTES]

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v10"  # type: ignore[attr-defined]

    def add_guild(self, guild_id: str = "500000000000000001", *, bot_permissions: int = MODERATION,
                  bot_position: int = 10) -> FakeGuild:
        """A guild the bot is in, with a bot role of `bot_permissions` at `bot_position`."""
        guild = FakeGuild(guild_id)
        guild.roles.append({"id": guild_id, "name": "@everyone", "position": 0, "permissions": "0"})
        role = guild.add_role("modsys", bot_position, bot_permissions)
        guild.add_member(BOT_USER_ID, role, name="modsys")
        with self._api_lock:
            self.guilds[guild_id] = guild
        return guild

    # --- the CDN (cdn.discordapp.com): attachments behind signed links ---------------------

    def attach(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        """Serve `data` as an attachment; returns its URL (signed as Discord signs them)."""
        path = f"/attachments/{snowflake()}/{snowflake()}/{name}"
        with self._api_lock:
            self.cdn_files[path] = (data, content_type)
        return f"{self.base_url}{path}?ex=67c0a2f1&is=67bf5171&hm=0f1e2d3c"  # type: ignore[attr-defined]

    def cdn(self, path: str) -> Reply:
        with self._api_lock:
            self.cdn_requests.append(path)
            if path in self.cdn_redirects:
                return Reply(302, None, {"Location": self.cdn_redirects[path]})
            if self.cdn_down or path not in self.cdn_files:
                return Reply(404, {"message": "This content is no longer available."})
            data, content_type = self.cdn_files[path]
        return Reply(200, raw=data, headers={"Content-Type": content_type})

    def fail(self, route: str, reply: Reply, times: int = 1) -> None:
        """The next `times` requests to the route named `route` get `reply`."""
        with self._api_lock:
            self.failures.extend([(route, reply)] * times)

    def stall(self, route: str, seconds: float) -> None:
        """The next request to `route` takes effect, then the answer hangs `seconds`
        (a client killed meanwhile never learns that it worked)."""
        with self._api_lock:
            self.stalls[route] = seconds

    def calls_to(self, route: str) -> list[Call]:
        with self._api_lock:
            return [c for c in self.calls if c.route == route]

    def wait_for_calls(self, route: str, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.calls_to(route)) >= count:
                return True
            time.sleep(0.01)
        return False

    # --- dispatch --------------------------------------------------------------------

    def rest(self, method: str, raw_path: str, headers: Any, raw: bytes) -> Reply | None:
        parts = urlsplit(raw_path)
        if parts.path.startswith("/attachments/"):
            return self.cdn(parts.path)
        path = re.sub(r"^/api(/v\d+)?", "", parts.path)
        for m, pattern, name in self._compiled:
            if m == method and (match := pattern.match(path)):
                break
        else:
            return Reply(404, {"message": "404: Not Found", "code": 0})
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return discord_error(400, 50109, "The request body contains invalid JSON.")
        call = Call(method, name, path, match.groupdict(), {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    body, {k: v for k, v in headers.items()}, at=time.monotonic())
        with self._api_lock:
            reply = self._answer_call(call, match.groupdict())
            call.status = reply.status
            self.calls.append(call)
        self.capture.record("rest", method, parts.path, call.headers, body, reply.status, reply.body)
        if reply.delay and self._stopping.wait(reply.delay):  # type: ignore[attr-defined]
            return None  # stopped while hanging: no answer
        return reply

    def _answer_call(self, call: Call, params: dict[str, str]) -> Reply:
        if call.headers.get("Authorization") != f"Bot {self.bot_token}":
            return discord_error(401, 0, "401: Unauthorized")
        limited = self._rate_limit(call, params)
        if limited is not None:
            return limited
        for i, (route, reply) in enumerate(self.failures):
            if route == call.route:
                del self.failures[i]
                return self._with_headers(reply, call, params)
        guild = self.guilds.get(params.get("guild_id", ""))
        if "guild_id" in params and guild is None:
            return discord_error(404, 10004, "Unknown Guild")
        reply = getattr(self, f"_api_{call.route}")(call, guild, **{k: v for k, v in params.items() if k != "guild_id"})
        if call.route in self.stalls:
            reply = dataclasses.replace(reply, delay=self.stalls.pop(call.route))
        return self._with_headers(reply, call, params)

    # --- rate limits -------------------------------------------------------------------

    def _bucket(self, call: Call, params: dict[str, str]) -> str:
        return f"{call.method}-{call.route}"

    def _with_headers(self, reply: Reply, call: Call, params: dict[str, str]) -> Reply:
        if self.bucket_limit is None or reply.status == 429:
            return reply
        limit, per = self.bucket_limit
        start, used = self._windows.get(self._window_key(call, params), (time.monotonic(), 0))
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(limit - used, 0)),
                   "X-RateLimit-Reset-After": f"{max(start + per - time.monotonic(), 0):.3f}",
                   "X-RateLimit-Bucket": self._bucket(call, params), **reply.headers}
        return dataclasses.replace(reply, headers=headers)

    def _window_key(self, call: Call, params: dict[str, str]) -> str:
        return f"{self._bucket(call, params)}:{params.get('guild_id') or params.get('channel_id') or ''}"

    def _rate_limit(self, call: Call, params: dict[str, str]) -> Reply | None:
        now = time.monotonic()
        if self.global_limit is not None:
            self._recent = [t for t in self._recent if t > now - 1.0]
            if len(self._recent) >= self.global_limit:
                wait = self._recent[0] + 1.0 - now
                return Reply(429, {"message": "You are being rate limited.", "retry_after": round(wait, 3),
                                   "global": True},
                             {"Retry-After": str(math.ceil(wait)), "X-RateLimit-Global": "true",
                              "X-RateLimit-Scope": "global"})
            self._recent.append(now)
        if self.bucket_limit is None:
            return None
        limit, per = self.bucket_limit
        key = self._window_key(call, params)
        start, used = self._windows.get(key, (now, 0))
        if now >= start + per:
            start, used = now, 0
        if used >= limit:
            wait = start + per - now
            return Reply(429, {"message": "You are being rate limited.", "retry_after": round(wait, 3), "global": False},
                         {"Retry-After": str(math.ceil(wait)), "X-RateLimit-Limit": str(limit),
                          "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": f"{wait:.3f}",
                          "X-RateLimit-Bucket": self._bucket(call, params), "X-RateLimit-Scope": "user"})
        self._windows[key] = (start, used + 1)
        return None

    # --- permissions, as Discord computes them (topics/permissions.mdx) ------------------

    def _permissions(self, guild: FakeGuild, user_id: str) -> int:
        member = guild.members.get(user_id)
        if member is None:
            return 0
        if user_id == guild.owner_id:
            return -1
        roles = {r["id"]: r for r in guild.roles}
        bits = int(roles[guild.id]["permissions"]) if guild.id in roles else 0
        for role_id in member["roles"]:
            bits |= int(roles[role_id]["permissions"])
        return -1 if bits & ADMINISTRATOR else bits

    def _top(self, guild: FakeGuild, user_id: str) -> int:
        member = guild.members.get(user_id) or {"roles": []}
        positions = {r["id"]: r["position"] for r in guild.roles}
        return max((positions[r] for r in member["roles"]), default=0)

    def _may(self, guild: FakeGuild, permission: int, target: str | None = None) -> Reply | None:
        if not self._permissions(guild, BOT_USER_ID) & permission:
            return discord_error(403, 50013, "Missing Permissions")
        if target is not None and target in guild.members and (
                target == guild.owner_id or self._top(guild, target) >= self._top(guild, BOT_USER_ID)):
            return discord_error(403, 50013, "Missing Permissions")
        return None

    def _logged(self, guild: FakeGuild, call: Call, action_type: int, target: str, changes: list | None = None) -> None:
        guild.log(action_type, target, BOT_USER_ID, reason=call.reason, changes=changes)

    # --- handlers ------------------------------------------------------------------------

    def _api_me(self, call: Call, guild: None) -> Reply:
        return Reply(200, dict(self.bot_user))

    def _api_guild(self, call: Call, guild: FakeGuild) -> Reply:
        return Reply(200, {"id": guild.id, "name": guild.name, "owner_id": guild.owner_id, "roles": guild.roles})

    def _api_member(self, call: Call, guild: FakeGuild, user_id: str) -> Reply:
        member = guild.members.get(user_id)
        return Reply(200, member) if member else discord_error(404, 10007, "Unknown Member")

    def _api_modify_member(self, call: Call, guild: FakeGuild, user_id: str) -> Reply:
        if not isinstance(call.json, dict) or "communication_disabled_until" not in call.json:
            return discord_error(400, 50035, "Invalid Form Body")
        if user_id not in guild.members:
            return discord_error(404, 10007, "Unknown Member")
        if denied := self._may(guild, MODERATE_MEMBERS, user_id):
            return denied
        until = call.json["communication_disabled_until"]
        if until is not None:
            when = datetime.fromisoformat(until)
            if when > datetime.now(UTC) + timedelta(days=28, minutes=1):
                return discord_error(400, 50035, "Invalid Form Body: communication_disabled_until over 28 days")
        old = guild.members[user_id]["communication_disabled_until"]
        guild.members[user_id]["communication_disabled_until"] = until
        change = {"key": "communication_disabled_until", **({"old_value": old} if old else {}),
                  **({"new_value": until} if until else {})}
        self._logged(guild, call, 24, user_id, [change])
        return Reply(200, guild.members[user_id])

    def _api_kick(self, call: Call, guild: FakeGuild, user_id: str) -> Reply:
        if user_id not in guild.members:
            return discord_error(404, 10007, "Unknown Member")
        if denied := self._may(guild, KICK_MEMBERS, user_id):
            return denied
        del guild.members[user_id]
        self._logged(guild, call, 20, user_id)
        return Reply(204)

    def _api_bans(self, call: Call, guild: FakeGuild) -> Reply:
        if denied := self._may(guild, BAN_MEMBERS):
            return denied
        limit = int(call.query.get("limit", "1000"))
        if not 1 <= limit <= 1000:
            return discord_error(400, 50035, "Invalid Form Body: limit")
        after = int(call.query.get("after", "0"))
        page = sorted((int(u), ban) for u, ban in guild.bans.items() if int(u) > after)[:limit]
        return Reply(200, [ban for _, ban in page])

    def _api_put_ban(self, call: Call, guild: FakeGuild, user_id: str) -> Reply:
        seconds = (call.json or {}).get("delete_message_seconds", 0)
        if not (isinstance(seconds, int) and 0 <= seconds <= 604800):
            return discord_error(400, 50035, "Invalid Form Body: delete_message_seconds")
        if denied := self._may(guild, BAN_MEMBERS, user_id):
            return denied
        if user_id not in guild.bans:  # Discord: banning the banned changes nothing
            guild.bans[user_id] = {"reason": call.reason, "user": {"id": user_id, "username": f"user{user_id[-4:]}"}}
            guild.members.pop(user_id, None)
            self._logged(guild, call, 22, user_id)
        return Reply(204)

    def _api_delete_ban(self, call: Call, guild: FakeGuild, user_id: str) -> Reply:
        if denied := self._may(guild, BAN_MEMBERS):
            return denied
        if user_id not in guild.bans:
            return discord_error(404, 10026, "Unknown Ban")
        del guild.bans[user_id]
        self._logged(guild, call, 23, user_id)
        return Reply(204)

    def _api_audit_log(self, call: Call, guild: FakeGuild) -> Reply:
        if denied := self._may(guild, VIEW_AUDIT_LOG):
            return denied
        limit = int(call.query.get("limit", "50"))
        if not 1 <= limit <= 100:
            return discord_error(400, 50035, "Invalid Form Body: limit")
        after = int(call.query.get("after", "0"))  # `after`: ascending (audit-log.mdx)
        entries = sorted((e for e in guild.audit_log if int(e["id"]) > after), key=lambda e: int(e["id"]))[:limit]
        ids = {e["user_id"] for e in entries} | {e["target_id"] for e in entries if e["target_id"]}
        users = [{"id": u, "username": f"user{u[-4:]}"} for u in sorted(ids)]
        return Reply(200, {"audit_log_entries": entries, "users": users, "webhooks": [], "integrations": [],
                           "threads": [], "application_commands": [], "auto_moderation_rules": [],
                           "guild_scheduled_events": []})

    def _api_bulk_ban(self, call: Call, guild: FakeGuild) -> Reply:
        ids = (call.json or {}).get("user_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 200:
            return discord_error(400, 50035, "Invalid Form Body: user_ids (1 to 200)")
        if denied := self._may(guild, BAN_MEMBERS):
            return denied
        banned, failed = [], []
        for user_id in map(str, ids):
            if user_id in guild.members and self._may(guild, BAN_MEMBERS, user_id):
                failed.append(user_id)  # above the bot's role
                continue
            if user_id not in guild.bans:
                guild.bans[user_id] = {"reason": call.reason, "user": {"id": user_id, "username": f"user{user_id[-4:]}"}}
                guild.members.pop(user_id, None)
                self._logged(guild, call, 22, user_id)
            banned.append(user_id)
        return Reply(200, {"banned_users": banned, "failed_users": failed})

    def _api_incident_actions(self, call: Call, guild: FakeGuild) -> Reply:
        body = call.json or {}
        for key in ("invites_disabled_until", "dms_disabled_until"):
            value = body.get(key)
            if value is not None and datetime.fromisoformat(value) > datetime.now(UTC) + timedelta(hours=24, minutes=1):
                return discord_error(400, 50035, f"Invalid Form Body: {key} over 24 hours")
        guild.incident_actions = {k: body.get(k) for k in ("invites_disabled_until", "dms_disabled_until")}
        return Reply(200, guild.incident_actions)

    def _api_channel_message(self, call: Call, guild: None, channel_id: str, message_id: str) -> Reply:
        message = self.channel_messages.get((channel_id, message_id))
        return Reply(200, message) if message else discord_error(404, 10008, "Unknown Message")

    def _api_forum_post(self, call: Call, guild: None, channel_id: str) -> Reply:
        body = call.json or {}
        content = (body.get("message") or {}).get("content")
        if not body.get("name") or not content or len(content) > 2000:
            return discord_error(400, 50035, "Invalid Form Body: name and message.content")
        thread_id = snowflake()
        self.forum_posts[thread_id] = {"parent": channel_id, "name": body["name"], "messages": [content]}
        return Reply(201, {"id": thread_id, "parent_id": channel_id, "name": body["name"], "type": 11})

    def _api_gateway_bot(self, call: Call, guild: None) -> Reply:
        # gateway.mdx "Get Gateway Bot"
        return Reply(200, {"url": self.gateway_url, "shards": self.recommended_shards,
                           "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0,
                                                   "max_concurrency": 1}})

    def _api_application(self, call: Call, guild: None) -> Reply:
        # application.mdx "Get Current Application": the fields discord.py reads at login
        return Reply(200, {"id": BOT_USER_ID, "name": "modsys", "description": "", "icon": None,
                           "bot_public": False, "bot_require_code_grant": False, "verify_key": "0" * 64,
                           "owner": {"id": "100", "username": "owner", "discriminator": "0", "avatar": None},
                           "flags": 0, "rpc_origins": [], "summary": "", "team": None})

    def _api_create_dm(self, call: Call, guild: None) -> Reply:
        recipient = str((call.json or {}).get("recipient_id", ""))
        if not recipient.isdigit():
            return discord_error(400, 50035, "Invalid Form Body")
        return Reply(200, {"id": f"7{recipient}", "type": 1, "recipients": [{"id": recipient}]})

    def _api_create_message(self, call: Call, guild: None, channel_id: str) -> Reply:
        user_id = channel_id[1:]
        payload = call.json or {}
        if channel_id in self.forum_posts:  # a message in a forum post (modmail's copy)
            self.forum_posts[channel_id]["messages"].append(payload.get("content"))
            return Reply(200, {"id": snowflake(), "channel_id": channel_id, "content": payload.get("content")})
        if user_id in self.closed_dms:
            return discord_error(403, 50007, "Cannot send messages to this user")
        if not payload.get("content") or len(payload["content"]) > 2000:
            return discord_error(400, 50035, "Invalid Form Body: content")
        sent = self.dms.setdefault(user_id, [])
        nonce = payload.get("nonce")
        if payload.get("enforce_nonce") and nonce and (same := [m for m in sent if m["nonce"] == nonce]):
            return Reply(200, same[0])  # message.mdx: the earlier message is returned, none created
        message = {"id": snowflake(), "channel_id": channel_id, "content": payload["content"], "nonce": nonce,
                   "at": time.monotonic()}
        sent.append(message)
        return Reply(200, message)

    def dm_log(self) -> list[tuple[str, dict[str, Any]]]:
        """Every DM created (one per message, not per request), as (user id, message), in order."""
        with self._api_lock:
            return sorted(((u, m) for u, ms in self.dms.items() for m in ms), key=lambda um: um[1]["at"])


class FakeDiscord(BotApi):
    def __init__(self, *, validate: bool = True) -> None:
        self._init_bot_api()
        self.validate = validate
        self._lock = threading.Condition()
        self._mode = ok()
        self._queue: list[Reply] = []
        self._requests: list[Request] = []
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        # Track handler threads so server_close() joins them all: nothing lingers.
        self._server.daemon_threads = False
        self._server.block_on_close = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._server.handle_error = lambda request, address: None  # client hung up: not our problem
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> "FakeDiscord":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()  # wakes handlers sleeping in hang()
        if self._thread:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> "FakeDiscord":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, webhook_id: str = "1", token: str = "tok") -> str:
        return f"{self.base_url}/api/webhooks/{webhook_id}/{token}"

    # --- script -------------------------------------------------------------------

    def set_mode(self, reply: Reply) -> None:
        """Default answer for every request not taken by the queue."""
        with self._lock:
            self._mode = reply

    def enqueue(self, *replies: Reply, times: int = 1) -> None:
        """One-shot answers, used in order before falling back to the mode."""
        with self._lock:
            self._queue.extend(list(replies) * times)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._queue.pop(0) if self._queue else self._mode

    # --- what arrived -------------------------------------------------------------

    @property
    def attempts(self) -> list[Request]:
        """Every request, whatever the answer."""
        with self._lock:
            return list(self._requests)

    received = attempts

    @property
    def accepted(self) -> list[Request]:
        """Requests answered 2xx: the messages that reached the channel."""
        return [r for r in self.attempts if 200 <= r.status < 300]

    def payloads_for(self, webhook_id: str, *, accepted_only: bool = True) -> list[Any]:
        requests = self.accepted if accepted_only else self.attempts
        return [r.payload for r in requests if r.webhook_id == str(webhook_id)]

    def wait_for_accepted(self, count: int, timeout: float = 5.0) -> bool:
        """Block until `count` messages were accepted (for background workers)."""
        with self._lock:
            return self._lock.wait_for(
                lambda: sum(200 <= r.status < 300 for r in self._requests) >= count, timeout
            )

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads
    timeout = 5  # a client that connects and says nothing cannot block shutdown for long

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _rest(self) -> None:
        fake: FakeDiscord = self.server.fake  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = fake.rest(self.command, self.path, self.headers, raw)
        if reply is not None and reply.reset:
            self._reset()
        elif reply is not None:
            self._answer(reply)

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the peer gets a TCP RST, no HTTP answer."""
        import socket
        import struct

        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    do_GET = do_PUT = do_PATCH = do_DELETE = _rest

    def do_POST(self) -> None:
        fake: FakeDiscord = self.server.fake  # type: ignore[attr-defined]
        arrived = time.monotonic()
        parts = urlsplit(self.path)
        route = _ROUTE.match(parts.path)
        if not route:
            return self._rest()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None

        reply = fake._next_reply()
        if reply.delay and fake._stopping.wait(reply.delay):
            status = 0  # server stopped while hanging: no answer at all
        else:
            if 200 <= reply.status < 300 and fake.validate and (problems := discord_problems(payload)):
                reply = Reply(400, {"message": "Invalid Form Body", "code": 50035, "errors": problems})
            if reply.status == 204 and query.get("wait", "").lower() in ("true", "1"):
                reply = Reply(200, _message_object(route["id"], payload), reply.headers)
            status = reply.status
        headers = dict(self.headers.items())
        fake._record(Request(route["id"], route["token"], payload, query, arrived, status, headers))
        fake.capture.record("webhook", "POST", parts.path, headers, payload, status, reply.body if status else None)
        if status:
            self._answer(reply)

    def _answer(self, reply: Reply) -> None:
        body = reply.raw if reply.raw is not None else json.dumps(reply.body).encode() if reply.body is not None else b""
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if body and reply.raw is None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _message_object(webhook_id: str, payload: Any) -> dict[str, Any]:
    payload = payload if isinstance(payload, dict) else {}
    return {
        "id": str(next(_snowflakes)),
        "type": 0,
        "channel_id": "1000",
        "webhook_id": webhook_id,
        "content": payload.get("content", ""),
        "embeds": payload.get("embeds", []),
    }


def discord_problems(payload: Any) -> list[str]:
    """Why real Discord would refuse `payload` with a 400 (a subset of its checks)."""
    if not isinstance(payload, dict):
        return ["body is not a JSON object"]
    problems = []

    def too_long(value: Any, limit: int, where: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            problems.append(f"{where}: must be {limit} or fewer in length")

    content, embeds = payload.get("content"), payload.get("embeds") or []
    if not (isinstance(content, str) and content.strip()) and not embeds:
        return ["Cannot send an empty message"]
    too_long(content, 2000, "content")
    if len(embeds) > 10:
        problems.append("embeds: must be 10 or fewer in length")
    total = 0
    for i, embed in enumerate(embeds):
        texts = [
            (embed.get("title"), 256, "title"),
            (embed.get("description"), 4096, "description"),
            ((embed.get("footer") or {}).get("text"), 2048, "footer.text"),
            ((embed.get("author") or {}).get("name"), 256, "author.name"),
        ]
        color = embed.get("color")
        if color is not None and not (type(color) is int and 0 <= color <= 0xFFFFFF):
            problems.append(f"embeds.{i}.color: Int value should be less than or equal to 16777215")
        for key, value in (("url", embed.get("url")), ("author.url", (embed.get("author") or {}).get("url"))):
            if value is not None and not (isinstance(value, str) and value.startswith(("http://", "https://"))):
                problems.append(f"embeds.{i}.{key}: Not a well formed URL")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            problems.append(f"embeds.{i}.fields: must be 25 or fewer in length")
        for j, f in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                if not (isinstance(f.get(key), str) and f[key].strip()):
                    problems.append(f"embeds.{i}.fields.{j}.{key}: This field is required")
                texts.append((f.get(key), limit, f"fields.{j}.{key}"))
        for value, limit, where in texts:
            too_long(value, limit, f"embeds.{i}.{where}")
            total += len(value) if isinstance(value, str) else 0
    if total > 6000:
        problems.append("embeds: Embed size exceeds maximum size of 6000")
    return problems


@pytest.fixture
def fake_discord(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDiscord]:
    """A started FakeDiscord, stopped after the test (registered in tests/conftest.py)."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a developer's HTTP(S)_PROXY must not intercept
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def discord_bot(monkeypatch: pytest.MonkeyPatch, fake_discord: FakeDiscord) -> FakeDiscord:
    """The fake Discord as the bot's API: MODSYS_DISCORD_BOT_TOKEN and _API_URL point at it."""
    monkeypatch.setenv("MODSYS_DISCORD_BOT_TOKEN", fake_discord.bot_token)
    monkeypatch.setenv("MODSYS_DISCORD_API_URL", fake_discord.api_url)
    return fake_discord


GUILD = "500000000000000001"  # the test community's Discord server


@pytest.fixture
def guild(discord_bot: FakeDiscord, session: Any, community: Any) -> Any:
    """The test community tied to a guild the fake Discord knows, with the bot in it."""
    community.discord_guild_id = GUILD
    session.add(community)
    session.commit()
    return discord_bot.add_guild(GUILD)


def bot_settings(fake: FakeDiscord, **env: str) -> Any:
    """Settings of a process whose bot talks to `fake`."""
    from modsys.infra.config import load_settings

    return load_settings({"SECRET_KEY": "test-secret-key-not-for-production",
                          "MODSYS_DISCORD_BOT_TOKEN": fake.bot_token, "MODSYS_DISCORD_API_URL": fake.api_url, **env})
