"""Writing notifications. They are rows in the same transaction as the change
they report; the scheduler delivers them later (see `modsys.runtime.jobs`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from modsys.domain import clock
from modsys.domain.models import OutboxMessage


def enqueue(
    session: Session,
    community_id: int,
    channel: str,
    event: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
) -> OutboxMessage:
    """`payload` is an embed description: title, description, fields, url, color.
    A `dedupe_key` makes it at-most-once: a second message with the same key is not queued."""
    if dedupe_key is not None:
        existing = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)).first()
        if existing is not None:
            return existing
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
    if dedupe_key is None:
        session.add(message)
        return message
    try:
        with session.begin_nested():  # a concurrent writer may queue the same key first
            session.add(message)
    except IntegrityError:
        return session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)).one()
    return message
