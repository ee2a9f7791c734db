"""`modsys gateway`: the connection to Discord's gateway, as its own process."""

from __future__ import annotations

import asyncio
import signal

import click

from modsys.cli.base import fail, main, open_db
from modsys.infra.config import ConfigError, load_settings


def _shard_ids(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError:
        raise click.BadParameter("a comma-separated list of shard numbers, e.g. 0,1") from None


@main.command()
@click.option("--shard-ids", help="The shards this process runs, e.g. 0,1 (default: all of --shard-count).")
@click.option("--shard-count", type=click.IntRange(min=1),
              help="Shards across all gateway processes (default: Discord's recommendation, GET /gateway/bot).")
def gateway(shard_ids: str | None, shard_count: int | None) -> None:
    """Connect to Discord's gateway: message log, moderation seen live, catch-up after outages."""
    from modsys.adapters.discord.gateway.connection import run
    from modsys.infra.crypto import cipher_for
    from modsys.infra.logging_setup import configure_logging

    settings = load_settings()
    configure_logging(settings)
    if not settings.discord_bot_token:
        fail("the gateway needs the bot's token: set MODSYS_DISCORD_BOT_TOKEN (docs/discord.md)")
    ids = _shard_ids(shard_ids)
    if ids is not None and shard_count is None:
        fail("--shard-ids needs --shard-count (the total across every gateway process)")
    if ids is not None and shard_count is not None and ids[-1] >= shard_count:
        fail(f"shard ids run from 0 to {shard_count - 1} with --shard-count {shard_count}")
    try:
        cipher_for(settings)  # production refuses to store message content without MODSYS_DATA_KEY
    except ConfigError as e:
        fail(str(e))
    engine, _ = open_db(settings)

    def on_signals(client, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: loop.create_task(client.close()))

    run(engine, settings, shard_ids=ids, shard_count=shard_count, ready=on_signals)
