"""discord.py's gateway connection, with modsys's intents and shards.

Intents (gateway.mdx "List of Intents"): GUILDS, GUILD_MEMBERS (privileged),
GUILD_MODERATION (bans and audit log entries), GUILD_MESSAGES, MESSAGE_CONTENT
(privileged), DIRECT_MESSAGES. discord.py identifies, heartbeats, resumes after a
drop or an op 7 RECONNECT (replayed events included) and identifies afresh when
Discord invalidates the session; a fresh READY makes modsys catch up from REST.

Caches are off (no member chunking, no message cache, no models beyond READY
and GUILD_CREATE): modsys reads the raw DISPATCH payloads (`socket_raw_receive`)
and keeps what it needs in its database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route
from sqlalchemy.engine import Engine

from modsys.adapters.discord.gateway.dispatch import CATCH_UP, Dispatcher
from modsys.infra.config import Settings

log = logging.getLogger(__name__)


def intents() -> discord.Intents:
    wanted = discord.Intents.none()
    wanted.guilds = wanted.members = wanted.moderation = True
    wanted.guild_messages = wanted.message_content = wanted.dm_messages = True
    return wanted


def point_at(settings: Settings) -> None:
    """discord.py's REST base and gateway URL for this process (class attributes:
    discord.py reads them there). The default gateway stays Discord's, which
    `GatewayClient` replaces with what GET /gateway/bot names."""
    Route.BASE = settings.discord_api_url
    if settings.discord_gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def _ignore(data: Any) -> None:
    pass


class GatewayClient(discord.AutoShardedClient):
    """One process's shards (`shard_ids` of `shard_count`; both None: Discord's
    recommended count, every shard in this process)."""

    def __init__(self, dispatcher: Dispatcher, settings: Settings, *, shard_ids: list[int] | None,
                 shard_count: int | None) -> None:
        super().__init__(intents=intents(), shard_ids=shard_ids, shard_count=shard_count,
                         enable_debug_events=True, chunk_guilds_at_startup=False, max_messages=None,
                         member_cache_flags=discord.MemberCacheFlags.none())
        self.dispatcher, self.settings = dispatcher, settings
        # discord.py builds its models only for what its connection needs; every other
        # event reaches modsys as Discord sent it (a shape discord.py doesn't expect
        # must not end the connection).
        parsers = self._connection.parsers
        for event in parsers:
            if event not in ("READY", "RESUMED", "GUILD_CREATE"):
                parsers[event] = _ignore

    async def launch_shards(self) -> None:
        if self.shard_count is None:  # gateway.mdx "Get Gateway Bot": the recommended shards
            self.shard_count, url, _ = await self.http.get_bot_gateway()
            if not self.settings.discord_gateway_url:
                DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        await super().launch_shards()

    async def on_socket_raw_receive(self, raw: str) -> None:
        message = json.loads(raw)
        if message.get("op") != 0 or not isinstance(message.get("d"), dict):
            return
        event = message["t"]
        self.dispatcher.put(event, message["d"])
        if event == "READY":  # a new session: what happened before it was never sent
            self.dispatcher.put(CATCH_UP, {})


def run(engine: Engine, settings: Settings, *, shard_ids: list[int] | None = None, shard_count: int | None = None,
        ready: Callable[[GatewayClient, asyncio.AbstractEventLoop], None] | None = None) -> None:
    """Connect and record until the client is closed (blocks)."""
    if not settings.discord_bot_token:
        raise ValueError("the gateway needs MODSYS_DISCORD_BOT_TOKEN")
    point_at(settings)
    dispatcher = Dispatcher(engine, settings).start()

    async def main() -> None:
        async with GatewayClient(dispatcher, settings, shard_ids=shard_ids, shard_count=shard_count) as client:
            if ready is not None:
                ready(client, asyncio.get_running_loop())
            await client.start(settings.discord_bot_token)  # type: ignore[arg-type]

    try:
        asyncio.run(main())
    finally:
        dispatcher.stop()


def start_embedded(engine: Engine, settings: Settings, *, shard_ids: list[int] | None = None,
                   shard_count: int | None = None) -> Callable[[], None]:
    """For `modsys serve`: the gateway on a thread of this process; returns its stop function."""
    started: dict[str, Any] = {}
    up = threading.Event()

    def hold(client: GatewayClient, loop: asyncio.AbstractEventLoop) -> None:
        started.update(client=client, loop=loop)
        up.set()

    def body() -> None:
        try:
            run(engine, settings, shard_ids=shard_ids, shard_count=shard_count, ready=hold)
        except Exception:
            log.exception("the gateway stopped")
        finally:
            up.set()

    thread = threading.Thread(target=body, name="modsys-gateway", daemon=True)
    thread.start()

    def stop() -> None:
        up.wait(10)
        if "client" in started and not started["loop"].is_closed():
            asyncio.run_coroutine_threadsafe(started["client"].close(), started["loop"]).result(10)
        thread.join(10)

    return stop
