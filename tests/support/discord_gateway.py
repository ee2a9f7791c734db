"""A fake Discord gateway: a real websocket server on 127.0.0.1 (the `websockets`
package) that speaks the gateway protocol as topics/gateway.mdx describes it,
so discord.py connects to it exactly as it would to Discord.

    with FakeGateway() as gw:                     # MODSYS_DISCORD_GATEWAY_URL=gw.url
        gw.add_guild(GUILD)
        ...start the gateway process...
        gw.wait_identified()
        gw.dispatch("MESSAGE_DELETE", {...}, guild_id=GUILD)
        gw.reconnect()                            # op 7: the client resumes
        gw.drop()                                 # the connection dies without a close frame

Opcodes (gateway-events.mdx): 0 DISPATCH, 1 HEARTBEAT, 2 IDENTIFY, 6 RESUME,
7 RECONNECT, 9 INVALID_SESSION, 10 HELLO, 11 HEARTBEAT_ACK. A session keeps every
event it was sent; RESUME with a known session replays those after `seq` and
then sends RESUMED (as Discord does). Events dispatched while a session has no
connection wait in it for its RESUME. A new IDENTIFY is a new session: what the
old one missed is lost, as on Discord. `?compress=zlib-stream` is honoured (one
zlib context per connection, each message ending in a Z_SYNC_FLUSH).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.support.discord_server import BOT_TOKEN, BOT_USER_ID

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 0, 1, 2, 6, 7, 9, 10, 11


@dataclass
class Session:
    id: str
    shard: tuple[int, int]
    intents: int
    events: list[dict[str, Any]] = field(default_factory=list)  # every DISPATCH sent, with its `s`
    connection: ServerConnection | None = None
    zlib: Any = None

    @property
    def seq(self) -> int:
        return self.events[-1]["s"] if self.events else 0


class FakeGateway:
    def __init__(self, *, token: str = BOT_TOKEN, heartbeat_interval_ms: int = 1000) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.guilds: list[str] = []
        self.sessions: dict[str, Session] = {}
        self.identifies: list[dict[str, Any]] = []  # IDENTIFY payloads (`d`), in order
        self.resumes: list[dict[str, Any]] = []  # RESUME payloads (`d`)
        self.heartbeats = 0
        self._lock = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> FakeGateway:
        self._thread.start()
        async def start() -> Any:
            return await serve(self._handle, "127.0.0.1", 0)

        self._server = self._run(start())
        return self

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            await self._server.wait_closed()

        self._run(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> FakeGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = list(self._server.sockets)[0].getsockname()[:2]
        return f"ws://{host}:{port}/"

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # --- script --------------------------------------------------------------------

    def add_guild(self, guild_id: str) -> None:
        self.guilds.append(guild_id)

    def dispatch(self, event: str, data: dict[str, Any], *, guild_id: str | None = None) -> None:
        """Send a DISPATCH to the live session of the shard that holds `guild_id` (every
        session when None; gateway.mdx "Sharding": shard_id = (guild_id >> 22) % num_shards)."""
        self._run(self._dispatch(event, data, guild_id))

    def reconnect(self) -> None:
        """op 7 RECONNECT to every connected session (the client should resume)."""
        self._run(self._each_connection(lambda s: self._send(s, {"op": RECONNECT, "d": None})))

    def drop(self) -> None:
        """Kill every connection without a close handshake (a network drop)."""
        def kill(s: Session) -> Any:
            with self._lock:
                connection, s.connection = s.connection, None  # from now on, events wait for the RESUME
            if connection is not None:
                connection.transport.abort()
            return asyncio.sleep(0)

        self._run(self._each_connection(kill))

    def connected(self) -> list[Session]:
        with self._lock:
            return [s for s in self.sessions.values() if s.connection is not None]

    def wait_identified(self, count: int = 1, timeout: float = 20.0) -> bool:
        return self._wait(lambda: len(self.identifies) >= count and len(self.connected()) >= 1, timeout)

    def wait_resumed(self, count: int = 1, timeout: float = 20.0) -> bool:
        return self._wait(lambda: len(self.resumes) >= count and len(self.connected()) >= 1, timeout)

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return False

    # --- protocol --------------------------------------------------------------------

    async def _each_connection(self, fn: Callable[[Session], Any]) -> None:
        for session in self.connected():
            await fn(session)

    async def _dispatch(self, event: str, data: dict[str, Any], guild_id: str | None) -> None:
        with self._lock:
            targets = [s for s in self.sessions.values() if s.connection is not None or s.events]
            if guild_id is not None:
                targets = [s for s in targets if (int(guild_id) >> 22) % s.shard[1] == s.shard[0]]
            live = [s for s in targets if s.connection is not None]
            targets = live or targets[-1:]  # nobody connected: the latest session keeps it for its RESUME
        for session in targets:
            message = {"op": DISPATCH, "t": event, "s": session.seq + 1, "d": data}
            session.events.append(message)
            if session.connection is not None:
                await self._send(session, message)

    async def _send(self, session: Session, message: dict[str, Any]) -> None:
        raw = json.dumps(message)
        try:
            if session.zlib is not None:
                await session.connection.send(session.zlib.compress(raw.encode()) + session.zlib.flush(zlib.Z_SYNC_FLUSH))  # type: ignore[union-attr]
            else:
                await session.connection.send(raw)  # type: ignore[union-attr]
        except (ConnectionClosed, OSError):
            pass  # the connection is going away; the session keeps the event for a RESUME

    async def _handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path).query)  # type: ignore[union-attr]
        compress = (query.get("compress") or [""])[0] == "zlib-stream"
        probe = Session("", (0, 1), 0, connection=ws, zlib=zlib.compressobj() if compress else None)
        await self._send(probe, {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        session: Session | None = None
        try:
            async for raw in ws:
                message = json.loads(raw)
                op, data = message.get("op"), message.get("d")
                if op == HEARTBEAT:
                    with self._lock:
                        self.heartbeats += 1
                    await self._send(probe, {"op": HEARTBEAT_ACK})
                elif op == IDENTIFY:
                    session = await self._identify(probe, data or {})
                    if session is None:
                        return
                elif op == RESUME:
                    session = await self._resume(probe, data or {})
                    if session is None:
                        return
        except (ConnectionClosed, OSError):
            pass  # dropped: the session waits for a RESUME
        finally:
            with self._lock:
                if session is not None and session.connection is ws:
                    session.connection = None

    async def _identify(self, probe: Session, data: dict[str, Any]) -> Session | None:
        if data.get("token") != self.token:
            await probe.connection.close(4004, "Authentication failed.")  # type: ignore[union-attr]
            return None
        shard = tuple(data.get("shard") or (0, 1))
        session = Session(secrets.token_hex(16), (int(shard[0]), int(shard[1])), int(data.get("intents") or 0),
                          connection=probe.connection, zlib=probe.zlib)
        with self._lock:
            self.sessions[session.id] = session
            self.identifies.append(data)
        mine = [g for g in self.guilds if (int(g) >> 22) % session.shard[1] == session.shard[0]]
        ready = {"v": 10, "user": {"id": BOT_USER_ID, "username": "modsys", "discriminator": "0", "avatar": None,
                                   "bot": True},
                 "guilds": [{"id": g, "unavailable": True} for g in mine], "session_id": session.id,
                 "resume_gateway_url": self.url, "shard": list(session.shard),
                 "application": {"id": BOT_USER_ID, "flags": 0}}
        await self._dispatch_to(session, "READY", ready)
        for guild in mine:
            await self._dispatch_to(session, "GUILD_CREATE", {
                "id": guild, "name": "Fake server", "unavailable": False, "member_count": 1, "roles": [],
                "channels": [], "threads": [], "members": [], "emojis": [], "stickers": [], "presences": [],
                "voice_states": [], "features": [], "owner_id": "100", "large": False, "stage_instances": [],
                "guild_scheduled_events": [], "soundboard_sounds": []})
        return session

    async def _dispatch_to(self, session: Session, event: str, data: dict[str, Any]) -> None:
        message = {"op": DISPATCH, "t": event, "s": session.seq + 1, "d": data}
        session.events.append(message)
        await self._send(session, message)

    async def _resume(self, probe: Session, data: dict[str, Any]) -> Session | None:
        with self._lock:
            session = self.sessions.get(str(data.get("session_id")))
            self.resumes.append(data)
        if session is None or data.get("token") != self.token:
            await self._send(probe, {"op": INVALID_SESSION, "d": False})
            return None
        with self._lock:
            session.connection, session.zlib = probe.connection, probe.zlib
        for message in [m for m in session.events if m["s"] > int(data.get("seq") or 0)]:
            await self._send(session, message)
        await self._dispatch_to(session, "RESUMED", {})
        return session


# --- fixtures (a pytest plugin: tests/conftest.py registers this module) ------------------


@pytest.fixture
def fake_gateway(discord_bot: Any) -> Any:
    """A started FakeGateway that announces the test guild; GET /gateway/bot names it."""
    from tests.support.discord_server import GUILD

    with FakeGateway() as gw:
        gw.add_guild(GUILD)
        discord_bot.gateway_url = gw.url
        yield gw


@pytest.fixture
def running(engine: Any, guild: Any, discord_bot: Any, fake_gateway: FakeGateway, tmp_path: Any) -> Any:
    """modsys's gateway, in this process, connected to `fake_gateway`."""
    from modsys.adapters.discord.gateway.connection import start_embedded
    from tests.support.discord_server import bot_settings

    settings = bot_settings(discord_bot, MODSYS_DISCORD_GATEWAY_URL=fake_gateway.url,
                            MODSYS_AUDIT_CHECKPOINTS=str(tmp_path / "instance" / "checkpoints.log"))
    stop = start_embedded(engine, settings)
    try:
        assert fake_gateway.wait_identified(), "the gateway never identified"
        fake_gateway.settings = settings  # type: ignore[attr-defined]
        yield fake_gateway
    finally:
        stop()
