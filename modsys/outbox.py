"""Writing notifications. They are rows in the same transaction as the change
they report; the scheduler delivers them later (see `modsys.jobs`)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from modsys import clock
from modsys.models import OutboxMessage


def enqueue(
    session: Session,
    community_id: int,
    channel: str,
    event: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
) -> OutboxMessage:
    """`payload` is an embed description: title, description, fields, url, color."""
    now = clock.now()
    message = OutboxMessage(
        community_id=community_id,
        channel=channel,
        event=event,
        payload=payload,
        dedupe_key=dedupe_key,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(message)
    return message
