"""A fake Discord webhook endpoint: a real HTTP server on 127.0.0.1, so the code
under test goes through requests, sockets and timeouts exactly as in production.

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
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

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


class FakeDiscord:
    def __init__(self, *, validate: bool = True) -> None:
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

    def do_POST(self) -> None:
        fake: FakeDiscord = self.server.fake  # type: ignore[attr-defined]
        arrived = time.monotonic()
        parts = urlsplit(self.path)
        route = _ROUTE.match(parts.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not route:
            return self._answer(Reply(404, {"message": "404: Not Found", "code": 0}))
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
                reply = Reply(200, _message_object(route["id"], payload))
            status = reply.status
        fake._record(Request(route["id"], route["token"], payload, query, arrived, status))
        if status:
            self._answer(reply)

    def _answer(self, reply: Reply) -> None:
        body = json.dumps(reply.body).encode() if reply.body is not None else b""
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if body:
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
