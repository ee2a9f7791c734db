"""Queued enforcement -> Discord: at least once, in order per member, with no
database transaction open across an HTTP call.

Same lease scheme as the outbox (`modsys.runtime.delivery`): a row is claimed by pushing
its `next_attempt_at` a lease into the future, the requests go out with no
transaction open, and the outcome is written only if the lease is still ours.
A process killed mid-delivery leaves the lease to run out; the row is then sent
again, which is harmless: a ban is a PUT, a timeout a PATCH to an absolute time,
an unban/kick DELETE that finds nothing is success, and the DM's nonce makes
Discord return the first message instead of sending a second.

The member hears first: before a sanction lands, the case's notice (queued in
the outbox by the same transaction, rendered by modsys.notify.member_dm) is
delivered now, within `dm.DM_WAIT` seconds; the sanction never waits longer.
A DM that failed for a passing reason stays in the outbox, which retries it
after the sanction; the row records the first attempt's outcome.

Order: only a member's oldest pending row may be claimed. When its turn comes a
row is re-checked against the case (an "apply" of a case lifted meanwhile is
skipped; a "reverse" while another active case keeps the same state is
skipped), so retrying an old failure never undoes a later decision.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from modsys.adapters import discord
from modsys.adapters.discord import dm
from modsys.adapters.discord.client import (
    UNKNOWN_BAN,
    UNKNOWN_MEMBER,
    DiscordClient,
    Reply,
    client_for,
)
from modsys.adapters.discord.enforcement import (
    DELETE_MESSAGE_CHOICES,
    EFFECT,
    ENFORCEMENT,
)
from modsys.domain import clock
from modsys.domain.models import (
    Action,
    ActionStatus,
    DiscordEnforcement,
    EnforcementStatus,
    Member,
)
from modsys.infra.config import Settings
from modsys.infra.db import writing
from modsys.notify import backoff_delay
from modsys.runtime import delivery

MAX_ATTEMPTS = 8  # failed tries (429s excluded: Discord said when) before a row is dead
LEASE = timedelta(seconds=60)  # outlives a DM (10 s) and a request with its timeouts
TIMEOUT_MAX = timedelta(days=28)  # guild.mdx "Modify Guild Member": "up to 28 days in the future"
REASON_PREFIX = "modsys case #"  # how the audit-log sync recognises our own requests
_T = DiscordEnforcement.__table__
_PENDING = EnforcementStatus.pending.value


@dataclass(frozen=True)
class _Lease:
    id: int
    until: datetime


def audit_log_reason(action: Action, op: str) -> str:
    reason = f"{REASON_PREFIX}{action.id}: {', '.join(action.rules) or action.kind}"
    return reason if op == "apply" else f"{reason} ({action.status})"


def _claim(engine: Engine, limit: int) -> list[_Lease]:
    now = clock.now()
    until = now + LEASE
    head, older = aliased(DiscordEnforcement), aliased(DiscordEnforcement)
    blocked = sa.exists().where(older.status == _PENDING, older.community_id == head.community_id,
                                older.member_id == head.member_id, older.id < head.id).correlate(head)
    ids = (sa.select(head.id).where(head.status == _PENDING, head.next_attempt_at <= now, ~blocked)
           .order_by(head.id).limit(limit).with_for_update(skip_locked=True))
    with writing(engine) as session:
        claimed = session.execute(sa.update(_T).where(_T.c.id.in_(ids.scalar_subquery()))
                                  .values(next_attempt_at=until).returning(_T.c.id)).scalars().all()
    return [_Lease(i, until) for i in sorted(claimed)]


def _write(engine: Engine, lease: _Lease, values: dict[str, Any]) -> bool:
    """Record an outcome if the lease is still ours."""
    with writing(engine) as session:
        done = session.execute(sa.update(_T).where(_T.c.id == lease.id, _T.c.status == _PENDING,
                                                   _T.c.next_attempt_at == lease.until)
                               .values(**values).returning(_T.c.id)).first()
    return done is not None


@dataclass(frozen=True)
class _Job:
    """Everything a row's requests need, read in one short transaction."""

    request: str | None
    guild: str
    user_id: str
    reason: str
    until: datetime | None
    delete_message_seconds: int
    permission: str
    tell_member: bool  # deliver the case's notice before the request
    attempts: int


def _prepare(engine: Engine, lease: _Lease, settings: Settings) -> _Job | str | None:
    """The job, or why the row is skipped (a str), or None when the lease is gone."""
    with Session(engine) as session:
        row = session.get(DiscordEnforcement, lease.id)
        if row is None or row.status != _PENDING or row.next_attempt_at != lease.until:
            return None
        action, member = session.get(Action, row.action_id), session.get(Member, row.member_id)
        guild, why = discord.target(session, row.community_id, settings)
        if action is None or member is None or guild is None:
            return why or "the case no longer exists"
        spec = ENFORCEMENT[action.kind]
        if row.op != "reverse" and action.status != ActionStatus.active:
            return f"case #{action.id} is {action.status} now"
        if row.op == "reverse" and (other := _still_in_force(session, action)) is not None:
            return f"the member still has an active {other.kind} (case #{other.id})"
        until = None
        if action.kind == "timeout" and row.op == "apply":
            if action.ends_at is None or action.ends_at <= clock.now():
                return "the timeout already ended"
            until = min(action.ends_at, clock.now() + TIMEOUT_MAX)
        tell_member = row.op != "reverse" and spec.dm_first and row.dm_status is None
        request = {"apply": spec.apply, "reverse": spec.reverse}.get(row.op)  # "notify": only the DM
        return _Job(request, guild, member.platform_user_id,
                    audit_log_reason(action, row.op), until, row.delete_message_seconds, spec.permission,
                    tell_member, row.attempts)


def _still_in_force(session: Session, action: Action) -> Action | None:
    effect = EFFECT.get(action.kind)
    kinds = [k for k, e in EFFECT.items() if e == effect]
    return session.exec(select(Action).where(Action.member_id == action.member_id, Action.id != action.id,
                                             Action.kind.in_(kinds), Action.status == ActionStatus.active)).first()


def _send(client: DiscordClient, job: _Job) -> tuple[Reply, str]:
    """One request; (reply, what it achieved) with idempotent no-ops counted as success."""
    g, u, why = job.guild, job.user_id, job.reason
    if job.request == "ban":
        reply = client.ban(g, u, why, job.delete_message_seconds)
        deleted = job.delete_message_seconds
        return reply, "banned" + (f", {DELETE_MESSAGE_CHOICES[deleted]} of messages deleted" if deleted else "")
    if job.request == "timeout":
        assert job.until is not None
        return client.timeout(g, u, job.until, why), f"timed out until {job.until:%Y-%m-%d %H:%M} UTC"
    if job.request == "kick":
        reply = client.kick(g, u, why)
        if reply.status == 404 and reply.code == UNKNOWN_MEMBER:
            return Reply(True, 404), "was no longer in the server"
        return reply, "kicked"
    if job.request == "unban":
        reply = client.unban(g, u, why)
        if reply.status == 404 and reply.code == UNKNOWN_BAN:
            return Reply(True, 404), "was not banned in Discord"
        return reply, "ban lifted"
    if job.request == "untimeout":
        reply = client.timeout(g, u, None, why)
        if reply.status == 404 and reply.code == UNKNOWN_MEMBER:
            return Reply(True, 404), "was no longer in the server"
        return reply, "timeout cleared"
    raise ValueError(f"unknown request {job.request!r}")


def _outcome(reply: Reply, result: str, job: _Job) -> dict[str, Any]:
    now = clock.now()
    if reply.ok:
        return {"status": EnforcementStatus.done, "result": result, "done_at": now,
                "attempts": job.attempts + 1, "last_error": ""}
    error = reply.explain(job.permission)[:500]
    if reply.rate_limited:  # not the row's fault: wait as told, costs no attempt
        return {"next_attempt_at": now + timedelta(seconds=backoff_delay(1, reply.retry_after)), "last_error": error}
    attempts = job.attempts + 1
    if not reply.retryable or attempts >= MAX_ATTEMPTS:
        return {"status": EnforcementStatus.dead, "attempts": attempts, "last_error": error}
    return {"next_attempt_at": now + timedelta(seconds=backoff_delay(attempts)), "attempts": attempts,
            "last_error": error}


def _deliver_one(engine: Engine, lease: _Lease, client: DiscordClient, settings: Settings, dm_wait: float) -> str:
    job = _prepare(engine, lease, settings)
    if job is None:
        return "lost"
    if isinstance(job, str):
        _write(engine, lease, {"status": EnforcementStatus.skipped, "last_error": job[:500]})
        return "skipped"
    told = None
    if job.tell_member:
        action_id = _action_id(engine, lease)
        told = delivery.tell_member_now(engine, action_id, settings=settings, client=client, wait=dm_wait)
        status = "none" if told is None else "delivered" if told.delivered else "failed" if told.permanent \
            else "retrying"
        if not _write(engine, lease, {"dm_status": status, "dm_detail": "" if told is None else told.detail[:300]}):
            return "lost"
    if job.request is None:  # a warning: the DM is all Discord sees of it
        _write(engine, lease, {"status": EnforcementStatus.done, "done_at": clock.now(), "attempts": job.attempts + 1,
                               "result": "member told by DM" if told and told.delivered else "nothing to do"})
        return "done"
    reply, result = _send(client, job)
    values = _outcome(reply, result, job)
    _write(engine, lease, values)
    return str(values.get("status", "retry"))


def _action_id(engine: Engine, lease: _Lease) -> int:
    with Session(engine) as session:
        return session.get(DiscordEnforcement, lease.id).action_id  # type: ignore[union-attr]


def deliver_enforcement(engine: Engine, *, settings: Settings, client: DiscordClient | None = None,
                        budget_s: float = 20.0, claim: int = 100, dm_wait: float = dm.DM_WAIT) -> dict[str, int]:
    """Send due enforcement until none is due or `budget_s` is spent. Counts: done, retry, dead, skipped."""
    if not settings.discord_bot_token:
        return {}
    client = client or client_for(settings)
    stop_at = time.monotonic() + budget_s
    counts: Counter[str] = Counter()
    while time.monotonic() < stop_at:
        leases = _claim(engine, claim)
        if not leases:
            break
        for i, lease in enumerate(leases):
            if time.monotonic() >= stop_at:
                _release(engine, leases[i:])
                break
            counts[_deliver_one(engine, lease, client, settings, dm_wait)] += 1
    counts.pop("lost", None)
    return dict(counts)


def _release(engine: Engine, leases: list[_Lease]) -> None:
    now = clock.now()
    with writing(engine) as session:
        for lease in leases:
            session.execute(sa.update(_T).where(_T.c.id == lease.id, _T.c.next_attempt_at == lease.until)
                            .values(next_attempt_at=now))
