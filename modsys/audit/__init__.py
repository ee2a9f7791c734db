"""Append-only, hash-chained audit log and its verifier.

Each event's hash is SHA-256 over the previous hash and a canonical JSON of the
event, so editing, deleting or reordering any row breaks the chain from that
row on. `AuditHead` holds the tip: appends lock it (serialising writers on
PostgreSQL; SQLite transactions are already serial) and the verifier checks
the last row against it, so a deleted tail is caught too.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Iterable, Iterator

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from modsys.domain import clock
from modsys.domain.actors import Actor
from modsys.domain.models import AuditEvent, AuditHead
from modsys.infra.db import write_transaction

GENESIS = "0" * 64

# Set by the web layer per request, so audit rows can be matched to logs.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def _canonical(value: Any) -> Any:
    """JSON-normal form: what is stored is exactly what was hashed."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def compute_hash(event: AuditEvent) -> str:
    body = {
        "seq": event.seq,
        "community_id": event.community_id,
        "created_at": event.created_at.isoformat(timespec="microseconds"),
        "actor": [event.actor_kind, event.actor_id, event.actor_name],
        "verb": event.verb,
        "subject": [event.subject_type, event.subject_id],
        "data": event.data,
        "request_id": event.request_id,
    }
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((event.prev_hash + encoded).encode()).hexdigest()


def record(
    session: Session,
    actor: Actor,
    verb: str,
    subject: Any,
    data: dict[str, Any] | None = None,
    *,
    community_id: int | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction. `subject` is a table row."""
    head = session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()
                        .execution_options(populate_existing=True)).one()
    event = AuditEvent(
        seq=head.seq + 1,
        community_id=community_id if community_id is not None else getattr(subject, "community_id", None),
        created_at=clock.now(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        verb=verb,
        subject_type=type(subject).__name__.lower(),
        subject_id=getattr(subject, "id", None),
        data=_canonical(data or {}),
        request_id=request_id.get(),
        prev_hash=head.hash,
        hash="",
    )
    event.hash = compute_hash(event)
    head.seq, head.hash = event.seq, event.hash
    session.add(event)
    session.add(head)
    return event


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str = ""


def _events(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
            .execution_options(populate_existing=True)  # what the database holds, not our cache
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


@contextmanager
def snapshot(engine: Engine) -> Iterator[Session]:
    """A session reading one consistent snapshot, taking no write lock: writers
    carry on while the chain is walked, and rows they append meanwhile can't
    look like a cut tail."""
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


def verify_snapshot(engine: Engine) -> VerifyResult:
    """`verify` in one consistent snapshot (see `snapshot`)."""
    with snapshot(engine) as session:
        return verify(session)


def lock_head(session: Session) -> None:
    """Wait until no append is in flight and hold off new ones until the
    session's transaction ends (PostgreSQL: the head's row lock; SQLite: the
    database's write lock)."""
    write_transaction(session)
    session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).one()


def verify(session: Session) -> VerifyResult:
    """Walk the whole chain; report the first broken link."""
    prev, expected_seq, checked = GENESIS, 1, 0
    for event in _events(session):
        if event.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq, f"event #{expected_seq} is missing (next is #{event.seq})")
        if event.prev_hash != prev:
            return VerifyResult(False, checked, event.seq, f"event #{event.seq} does not link to event #{event.seq - 1}")
        if compute_hash(event) != event.hash:
            return VerifyResult(False, checked, event.seq, f"event #{event.seq} was altered (hash mismatch)")
        prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    head = session.get(AuditHead, 1, populate_existing=True)
    if head is not None and (head.seq != checked or head.hash != prev):
        return VerifyResult(False, checked, checked + 1, f"the chain ends at #{checked} but its head records #{head.seq}: events were removed")
    return VerifyResult(True, checked)


def record_many(
    session: Session,
    actor: Actor,
    verb: str,
    subject_type: str,
    items: Iterable[tuple[int | None, int | None, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Append one event per (subject_id, community_id, data) in the caller's
    transaction, chained exactly as `record` chains them, under one head lock
    and in one bulk INSERT (set-based jobs write thousands per batch). Returns
    the inserted rows as dicts."""
    head = session.exec(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
        .execution_options(populate_existing=True)  # the row we locked, not a cached copy
    ).one()
    now, rid, prev, seq = clock.now(), request_id.get(), head.hash, head.seq
    rows = []
    for subject_id, community_id, data in items:
        seq += 1
        # A plain namespace, not an AuditEvent: compute_hash only reads attributes,
        # and building 10,000 ORM objects would cost more than the rest of the job.
        event = SimpleNamespace(
            seq=seq, community_id=community_id, created_at=now, actor_kind=actor.kind, actor_id=actor.id,
            actor_name=actor.name, verb=verb, subject_type=subject_type, subject_id=subject_id,
            data=_canonical(data or {}), request_id=rid, prev_hash=prev, hash="",
        )
        event.hash = prev = compute_hash(event)  # type: ignore[arg-type]
        rows.append(vars(event))
    if rows:
        session.execute(insert(AuditEvent.__table__), rows)
        head.seq, head.hash = seq, prev
        session.add(head)
    return rows
