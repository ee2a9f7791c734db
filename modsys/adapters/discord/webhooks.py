"""Where each community's notifications go: one Discord webhook per channel.

Webhook URLs carry their secret token in the path, so they are never echoed:
errors describe the problem without the URL, listings go through `redact_url`.
"""

from __future__ import annotations

import os
from typing import Mapping
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from modsys import audit
from modsys.domain import clock
from modsys.domain.actors import Actor
from modsys.domain.errors import ValidationFailed
from modsys.domain.models import Channel, Community, WebhookEndpoint
from modsys.infra.db import write_transaction
from modsys.notify import redact_url

# Read for the default community when a scheduler starts (see `configure_from_env`).
WEBHOOK_ENV = {
    Channel.modlog: "MODSYS_WEBHOOK_MODLOG",
    Channel.appeals: "MODSYS_WEBHOOK_APPEALS",
    Channel.leadership: "MODSYS_WEBHOOK_LEADERSHIP",
}


def _check(channel: str, url: str) -> tuple[str, str]:
    if channel not in set(Channel):
        raise ValidationFailed(f"unknown channel {channel!r}; use one of {', '.join(Channel)}", field="channel")
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and len(url) <= 500
    except ValueError:
        ok = False
    if not ok:  # the message never quotes the URL: it may hold a token
        raise ValidationFailed("the webhook URL must be an http(s) URL of at most 500 characters", field="url")
    return channel, url


def set_webhook(session: Session, actor: Actor, community_id: int, channel: str, url: str) -> bool:
    """Create or replace the webhook of `channel`; audited (redacted). Returns
    False when it was already set to `url` (nothing written). Caller commits."""
    channel, url = _check(channel, url)
    row = session.exec(select(WebhookEndpoint).where(
        WebhookEndpoint.community_id == community_id, WebhookEndpoint.channel == channel)).first()
    if row is not None and row.url == url and row.disabled_at is None:
        return False
    if row is None:
        row = WebhookEndpoint(community_id=community_id, channel=channel, url=url)
    else:
        row.url, row.disabled_at, row.disabled_reason = url, None, ""  # set again: tried again
    session.add(row)
    session.flush()
    audit.record(session, actor, "webhook.configured", row, {"channel": channel, "url": redact_url(url)})
    return True


def webhook_url(session: Session, community_id: int, channel: str) -> str | None:
    """The channel's webhook, unless none is set or Discord said it is gone."""
    return session.exec(select(WebhookEndpoint.url).where(
        WebhookEndpoint.community_id == community_id, WebhookEndpoint.channel == channel,
        col(WebhookEndpoint.disabled_at).is_(None))).first()


def disabled_reason(session: Session, community_id: int, channel: str) -> str | None:
    """Why the channel's webhook is disabled (None when it is not)."""
    row = session.exec(select(WebhookEndpoint).where(
        WebhookEndpoint.community_id == community_id, WebhookEndpoint.channel == channel)).first()
    return row.disabled_reason if row is not None and row.disabled_at is not None else None


# Discord's answers that say a webhook is gone for good: 401 Invalid Webhook Token
# (50027), 404 Unknown Webhook (10015) (topics/opcodes-and-status-codes.mdx).
GONE = (401, 404)


def disable_gone(session: Session, url: str, error: str) -> int:
    """Disable every endpoint using `url` after Discord answered it is gone, so
    nothing is posted to it again (each post would be another invalid request)
    until an admin sets a URL. Caller commits; returns the rows disabled."""
    rows = session.exec(select(WebhookEndpoint).where(WebhookEndpoint.url == url,
                                                      col(WebhookEndpoint.disabled_at).is_(None))).all()
    for row in rows:
        row.disabled_at = clock.now()
        row.disabled_reason = (f"Discord answered {error} on {row.disabled_at:%Y-%m-%d %H:%M} UTC; "
                               f"set a new URL: modsys webhook set {row.channel} URL")[:300]
        session.add(row)
    return len(rows)


def list_webhooks(session: Session, community_id: int | None = None) -> list[tuple[str, str, str]]:
    """(community slug, channel, redacted URL) for every configured webhook (of one community);
    a disabled one says why after its URL (shown on /admin and by `modsys webhook list`)."""
    q = (select(Community.slug, WebhookEndpoint.channel, WebhookEndpoint.url, WebhookEndpoint.disabled_reason)
         .join(Community, Community.id == WebhookEndpoint.community_id)
         .order_by(Community.slug, WebhookEndpoint.channel))
    if community_id is not None:
        q = q.where(WebhookEndpoint.community_id == community_id)
    rows = session.exec(q).all()
    return [(slug, channel, redact_url(url) + (f" (disabled: {why})" if why else ""))
            for slug, channel, url, why in rows]


def configure_from_env(session: Session, actor: Actor, community_id: int,
                       environ: Mapping[str, str] | None = None) -> list[str]:
    """Apply MODSYS_WEBHOOK_* to the community; returns the channels that changed.
    Idempotent, so every scheduler start can call it. Commits."""
    env = os.environ if environ is None else environ
    write_transaction(session)
    changed = []
    for channel, var in WEBHOOK_ENV.items():
        if not env.get(var, "").strip():
            continue
        try:
            if set_webhook(session, actor, community_id, channel, env[var]):
                changed.append(channel)
        except ValidationFailed as e:
            session.rollback()
            raise ValidationFailed(f"{var}: {e.message}", field=var) from None
    session.commit()
    return changed
