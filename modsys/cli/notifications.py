"""Discord webhooks and the outbox of notifications."""

from __future__ import annotations

import sys

import click

from modsys.cli.base import community_of, community_option, fail, main, open_db
from modsys.infra.config import load_settings


@main.group()
def outbox() -> None:
    """Notifications waiting for delivery, or given up on."""


@outbox.command("list")
@click.option("--dead", is_flag=True, help="Only messages that gave up.")
@community_option
def outbox_list(dead: bool, community_slug: str | None) -> None:
    from modsys.runtime import delivery

    settings = load_settings()
    _, session = open_db(settings)
    community = community_of(session, settings, community_slug)
    for message in delivery.list_messages(session, community.id, status="dead" if dead else None):
        click.echo(delivery.describe(message))


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--dead", is_flag=True, help="Every dead or skipped message.")
@community_option
def outbox_retry(ids: tuple[int, ...], dead: bool, community_slug: str | None) -> None:
    """Queue dead or skipped messages again, by id or --dead (all of them)."""
    from modsys.runtime import delivery

    if not ids and not dead:
        fail("name message ids, or use --dead for every dead or skipped message", 2)
    from modsys.domain.actors import CLI

    settings = load_settings()
    _, session = open_db(settings)
    community = community_of(session, settings, community_slug)
    click.echo(f"{delivery.retry(session, CLI, list(ids), dead=dead, community_id=community.id)} message(s) queued again")


@main.group()
def webhook() -> None:
    """Discord webhooks of the community (URLs are secrets: always shown redacted)."""


@webhook.command("set")
@click.argument("channel")
@click.argument("url")
@community_option
def webhook_set(channel: str, url: str, community_slug: str | None) -> None:
    """Point CHANNEL (modlog, appeals, leadership, member) at URL; "-" reads it from stdin."""
    from modsys.adapters.discord.webhooks import set_webhook
    from modsys.domain.actors import CLI
    from modsys.domain.errors import DomainError
    from modsys.notify import redact_url

    settings = load_settings()
    url = sys.stdin.readline().strip() if url == "-" else url
    _, session = open_db(settings)
    try:
        set_webhook(session, CLI, community_of(session, settings, community_slug).id, channel, url)
        session.commit()
    except DomainError as e:
        fail(e.message)
    click.echo(f"{channel} webhook: {redact_url(url)}")


@webhook.command("list")
@community_option
def webhook_list(community_slug: str | None) -> None:
    from modsys.adapters.discord.webhooks import list_webhooks

    settings = load_settings()
    _, session = open_db(settings)
    community = community_of(session, settings, community_slug)
    for slug, channel, redacted in list_webhooks(session, community.id):
        click.echo(f"{slug}  {channel:<10}  {redacted}")
