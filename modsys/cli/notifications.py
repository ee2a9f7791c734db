"""Discord webhooks and the outbox of notifications."""

from __future__ import annotations

import sys

import click

from modsys.cli.base import community_of, fail, main, open_db
from modsys.config import load_settings


@main.group()
def outbox() -> None:
    """Notifications waiting for delivery, or given up on."""


@outbox.command("list")
@click.option("--dead", is_flag=True, help="Only messages that gave up.")
def outbox_list(dead: bool) -> None:
    from modsys import delivery

    for message in delivery.list_messages(open_db()[1], status="dead" if dead else None):
        click.echo(delivery.describe(message))


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--dead", is_flag=True, help="Every dead message.")
def outbox_retry(ids: tuple[int, ...], dead: bool) -> None:
    """Queue dead (or skipped) messages again, by id or --dead."""
    from modsys import delivery

    if not ids and not dead:
        fail("name message ids, or use --dead for every dead message", 2)
    from modsys.actors import CLI

    click.echo(f"{delivery.retry(open_db()[1], CLI, list(ids), dead=dead)} message(s) queued again")


@main.group()
def webhook() -> None:
    """Discord webhooks of the community (URLs are secrets: always shown redacted)."""


@webhook.command("set")
@click.argument("channel")
@click.argument("url")
def webhook_set(channel: str, url: str) -> None:
    """Point CHANNEL (modlog, appeals, leadership, member) at URL; "-" reads it from stdin."""
    from modsys.actors import CLI
    from modsys.errors import DomainError
    from modsys.notify import redact_url
    from modsys.webhooks import set_webhook

    settings = load_settings()
    url = sys.stdin.readline().strip() if url == "-" else url
    _, session = open_db(settings)
    try:
        set_webhook(session, CLI, community_of(session, settings).id, channel, url)
        session.commit()
    except DomainError as e:
        fail(e.message)
    click.echo(f"{channel} webhook: {redact_url(url)}")


@webhook.command("list")
def webhook_list() -> None:
    from modsys.webhooks import list_webhooks

    for slug, channel, redacted in list_webhooks(open_db()[1]):
        click.echo(f"{slug}  {channel:<10}  {redacted}")
