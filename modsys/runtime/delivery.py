"""Outbox -> Discord: deliver committed notifications at least once, in order
per channel, without holding a database transaction across an HTTP call.

Staff channels (modlog, appeals, leadership) go to their webhooks. The member's
notices (channel "member:<case>", modsys.domain.events.MemberEvent) go out as the
bot's DM: one channel per case, so the notice, the replies and the decision
arrive in order and a notice backing off holds up no other member's. A DM that
fails for a passing reason (5xx, a reset or hung connection, 429) is tried
again with backoff and the same nonce (Discord returns the first message
rather than sending a second); one refused for good (50007: DMs closed) is
dead at once with the reason. Without a bot it is skipped with the reason.
Dead and skipped notices are what staff see as "member not notified"
(modsys.notify.member_status) and /admin lists as not delivered.

A message is *claimed* by pushing its `next_attempt_at` a lease into the future
(short transaction, FOR UPDATE SKIP LOCKED on PostgreSQL), sent with no
transaction open, then marked in a second short transaction that only applies
if the lease is still ours. A crash between send and mark lets the lease run
out and the message is sent again (at least once); nothing else resends.

Order: only the oldest pending message of a channel (community + channel) may
be claimed, so a message backing off holds back the ones behind it, and a
leased one keeps other deliverers off its channel. Marking a message done
leases the channel's next message in the same transaction (hand over hand).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from modsys import audit
from modsys.adapters.discord import dm
from modsys.adapters.discord.client import DiscordClient, client_for
from modsys.adapters.discord.webhooks import (
    GONE,
    disable_gone,
    disabled_reason,
    webhook_url,
)
from modsys.domain import clock, events
from modsys.domain.models import NOT_DELIVERED, OutboxMessage, OutboxStatus
from modsys.infra.config import Settings
from modsys.infra.db import writing
from modsys.notify import (
    DeliveryResult,
    DiscordSender,
    backoff_delay,
    member_dm,
    redact_url,
)
from modsys.notify.messages import Skip, render
from modsys.services._base import service
from modsys.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # failed sends (429s excluded: Discord said when) before a message is dead
NO_BOT = ("no Discord bot is configured (MODSYS_DISCORD_BOT_TOKEN), so the member can't be sent a DM; "
          "send them the link by hand")
_T = OutboxMessage.__table__
_PENDING = OutboxStatus.pending.value


@dataclass(frozen=True)
class _Lease:
    id: int
    until: datetime  # the next_attempt_at we wrote: proof that the message is still ours


def _head_ids(limit: int, now: datetime, only: int | None = None) -> sa.Select:
    """Due channel heads: pending, due, with no older pending message in their channel
    (`only`: that message, if it is one). Aliased, so that inside the UPDATE below it
    is not correlated to the updated table."""
    head, older = aliased(OutboxMessage), aliased(OutboxMessage)
    blocked = sa.exists().where(older.status == _PENDING, older.community_id == head.community_id,
                                older.channel == head.channel, older.id < head.id).correlate(head)
    query = sa.select(head.id).where(head.status == _PENDING, head.next_attempt_at <= now, ~blocked)
    if only is not None:
        query = query.where(head.id == only)
    return query.order_by(head.id).limit(limit).with_for_update(skip_locked=True)


def _claim_heads(engine: Engine, lease: timedelta, limit: int, only: int | None = None) -> list[_Lease]:
    now = clock.now()
    until = now + lease
    with writing(engine) as session:
        ids = session.execute(
            sa.update(_T).where(_T.c.id.in_(_head_ids(limit, now, only).scalar_subquery()))
            .values(next_attempt_at=until).returning(_T.c.id)
        ).scalars().all()
    return [_Lease(i, until) for i in sorted(ids)]


def _finish(engine: Engine, lease: _Lease, values: dict[str, Any], lease_for: timedelta) -> _Lease | None:
    """Record the outcome (if the lease is still ours); when the message left the
    queue, lease its channel's next message if that one is due."""
    now = clock.now()
    with writing(engine) as session:
        done = session.execute(
            sa.update(_T).where(_T.c.id == lease.id, _T.c.status == _PENDING, _T.c.next_attempt_at == lease.until)
            .values(**values).returning(_T.c.community_id, _T.c.channel)
        ).first()
        if done is None:
            log.warning("outbox message %s: lease lost before its outcome was recorded", lease.id)
            return None
        if values.get("status", _PENDING) == _PENDING:
            return None  # still the head, backing off: the channel waits
        nxt = session.execute(
            sa.select(_T.c.id, _T.c.next_attempt_at)
            .where(_T.c.status == _PENDING, _T.c.community_id == done.community_id, _T.c.channel == done.channel)
            .order_by(_T.c.id).limit(1).with_for_update()  # wait, never skip: skipping would overtake
        ).first()
        if nxt is None or nxt.next_attempt_at > now:
            return None
        until = now + lease_for
        session.execute(sa.update(_T).where(_T.c.id == nxt.id).values(next_attempt_at=until))
        return _Lease(nxt.id, until)


def _release(engine: Engine, leases: list[_Lease]) -> None:
    """Give back leases we will not use (budget spent): due again at once."""
    now = clock.now()
    with writing(engine) as session:
        for lease in leases:
            session.execute(sa.update(_T).where(_T.c.id == lease.id, _T.c.next_attempt_at == lease.until)
                         .values(next_attempt_at=now))


@dataclass(frozen=True)
class _Senders:
    """How this run reaches Discord: webhooks, and the bot for the member's DMs (None: no bot)."""

    webhook: DiscordSender
    bot: DiscordClient | None
    dm_wait: float


@dataclass(frozen=True)
class _Job:
    attempts: int
    url: str = ""  # a staff channel's webhook
    payload: dict[str, Any] | None = None
    dm: member_dm.Dm | None = None  # or the member's DM


def _prepare(engine: Engine, lease: _Lease, settings: Settings, senders: _Senders) -> _Job | None:
    """What a leased message sends; None if the lease is gone. Raises Skip."""
    with Session(engine) as session:
        message = session.get(OutboxMessage, lease.id)
        if message is None or message.status != _PENDING or message.next_attempt_at != lease.until:
            return None
        if events.is_member_channel(message.channel):
            event = events.parse(message.event, message.payload or {})
            if not isinstance(event, events.MemberEvent):
                raise Skip(f"{message.event!r} is not a member notice")
            if senders.bot is None:
                raise Skip(NO_BOT)
            return _Job(message.attempts, dm=member_dm.render(session, event, settings))
        url = webhook_url(session, message.community_id, message.channel)
        if url is None:
            why = disabled_reason(session, message.community_id, message.channel)
            raise Skip(f"the {message.channel} webhook is disabled: {why}" if why
                       else f"no webhook is configured for the {message.channel} channel")
        return _Job(message.attempts, url=url, payload=render(session, message, settings))


def _outcome(result: DeliveryResult, attempts: int, max_attempts: int, url: str) -> dict[str, Any]:
    """Column values for the message after one send."""
    now = clock.now()
    error = (result.error.replace(url, redact_url(url)) if url else result.error)[:500]  # never the URL
    if result.ok:
        return {"status": OutboxStatus.sent, "sent_at": now, "attempts": attempts + 1, "last_error": ""}
    if result.retry_after is not None:  # not the message's fault: wait as told, costs no attempt
        return {"next_attempt_at": now + timedelta(seconds=backoff_delay(attempts + 1, result.retry_after)),
                "last_error": error}
    attempts += 1
    if result.permanent or attempts >= max_attempts:
        return {"status": OutboxStatus.dead, "attempts": attempts, "last_error": error}
    return {"next_attempt_at": now + timedelta(seconds=backoff_delay(attempts)), "attempts": attempts,
            "last_error": error}


def nonce(message_id: int) -> str:
    """The DM's nonce: the same on every try of one notice, so Discord sends it once."""
    return f"modsys-n{message_id}"


def _send(job: _Job, lease: _Lease, senders: _Senders, wait: float | None) -> DeliveryResult:
    if job.dm is None:
        assert job.payload is not None
        return senders.webhook.send(job.url, job.payload)
    assert senders.bot is not None
    sent = dm.send(senders.bot, job.dm.user_id, job.dm.content, nonce(lease.id),
                   wait=senders.dm_wait if wait is None else wait)
    return DeliveryResult(ok=sent.delivered, retry_after=sent.retry_after, permanent=sent.permanent,
                          error=sent.detail)


def _deliver_one(engine: Engine, lease: _Lease, senders: _Senders, settings: Settings,
                 max_attempts: int, lease_for: timedelta, wait: float | None = None) -> tuple[str, _Lease | None]:
    try:
        job = _prepare(engine, lease, settings, senders)
    except Skip as reason:
        return "skipped", _finish(engine, lease, {"status": OutboxStatus.skipped, "last_error": str(reason)}, lease_for)
    if job is None:
        return "lost", None
    result = _send(job, lease, senders, wait)  # no transaction is open here
    if job.dm is None and result.status in GONE:
        with writing(engine) as session:
            disable_gone(session, job.url, result.error)
    values = _outcome(result, job.attempts, max_attempts, job.url)
    kind = "sent" if result.ok else str(values.get("status", "retry"))
    return kind, _finish(engine, lease, values, lease_for)


def _senders(settings: Settings, sender: DiscordSender | None, client: DiscordClient | None,
             dm_wait: float) -> _Senders:
    bot = client or (client_for(settings) if settings.discord_bot_token else None)
    return _Senders(sender or DiscordSender(), bot, dm_wait)


def _lease_for(senders: _Senders) -> timedelta:
    return timedelta(seconds=2 * max(senders.webhook.timeout, senders.dm_wait) + 5)  # outlives one send


def deliver_outbox(engine: Engine, *, settings: Settings, sender: DiscordSender | None = None,
                   client: DiscordClient | None = None, max_attempts: int = MAX_ATTEMPTS, budget_s: float = 20.0,
                   claim: int = 100, dm_wait: float = dm.DM_WAIT) -> dict[str, int]:
    """Deliver every due message (round-robin over channels) until none is due or
    `budget_s` seconds are spent. Returns counts: sent, retry, dead, skipped."""
    senders = _senders(settings, sender, client, dm_wait)
    lease_for = _lease_for(senders)
    stop_at = time.monotonic() + budget_s
    counts: Counter[str] = Counter()
    while time.monotonic() < stop_at:
        queue = deque(_claim_heads(engine, lease_for, claim))
        if not queue:
            break
        while queue:
            if time.monotonic() >= stop_at:
                _release(engine, list(queue))
                break
            kind, following = _deliver_one(engine, queue.popleft(), senders, settings, max_attempts, lease_for)
            counts[kind] += 1
            if following is not None:
                queue.append(following)  # the channel's next message, after the other channels' turn
    counts.pop("lost", None)
    return dict(counts)


def tell_member_now(engine: Engine, action_id: int, *, settings: Settings, client: DiscordClient,
                    wait: float = dm.DM_WAIT) -> dm.DmOutcome | None:
    """Deliver the case's sanction notice now, before the sanction lands (Discord
    enforcement calls this), within `wait` seconds. None when the case has no notice.
    A notice that fails for a passing reason stays queued: the outbox tries it again
    after the sanction, with the same nonce."""
    with Session(engine) as session:
        notice_id = session.exec(select(OutboxMessage.id).where(
            OutboxMessage.channel == events.member_channel(action_id),
            OutboxMessage.event == events.MemberNotified.name).order_by(OutboxMessage.id)).first()
    if notice_id is None:
        return None
    senders = _Senders(DiscordSender(), client, wait)
    lease_for = _lease_for(senders)
    deadline = time.monotonic() + wait
    tried = False
    while True:
        with Session(engine) as session:
            notice = session.get(OutboxMessage, notice_id)
        assert notice is not None
        if notice.status == OutboxStatus.sent:
            return dm.DmOutcome(True)
        if notice.status != _PENDING:
            return dm.DmOutcome(False, notice.last_error, permanent=True)
        if tried or notice.attempts or notice.last_error:  # tried already: the outbox carries on
            return dm.DmOutcome(False, notice.last_error)
        left = deadline - time.monotonic()
        if left <= 0.05:  # another deliverer holds it and has not finished: the sanction waits no longer
            return dm.DmOutcome(False, "the DM was still being sent when the sanction went ahead")
        leases = _claim_heads(engine, lease_for, 1, only=notice_id)
        if leases:
            _deliver_one(engine, leases[0], senders, settings, MAX_ATTEMPTS, lease_for, wait=left)
            tried = True
        else:
            time.sleep(0.1)  # leased by the outbox's deliverer right now


# --- operator commands (`modsys outbox ...`) ----------------------------------------


def list_messages(session: Session, community_id: int, *, status: str | None = None,
                  limit: int = 50) -> list[OutboxMessage]:
    """The community's undelivered messages (pending, dead, skipped), newest first, or those of `status`."""
    wanted = [status] if status else [OutboxStatus.pending, OutboxStatus.dead, OutboxStatus.skipped]
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.community_id == community_id,
                                                         OutboxMessage.status.in_(wanted))
                             .order_by(OutboxMessage.id.desc()).limit(limit)))


@service
def retry(uow: UnitOfWork, ids: list[int] | None = None, *, dead: bool = False,
          community_id: int | None = None) -> int:
    """Put dead or skipped messages back in the queue with fresh attempts; by id,
    or every one of them with `dead=True`. They keep their place in channel order.
    Admins (of their community) or the operator at the CLI (of `community_id`,
    else of every community); audited."""
    if community_id is not None:
        uow.bind(community_id)
    uow.admin_or_operator()
    if not ids and not dead:
        return 0
    session, actor = uow.session, uow.actor
    where = [_T.c.status.in_(NOT_DELIVERED)]
    if ids:
        where.append(_T.c.id.in_(ids))
    if uow.community_id is not None:
        where.append(_T.c.community_id == uow.community_id)
    retried = session.execute(sa.update(_T).where(*where).values(
        status=_PENDING, attempts=0, next_attempt_at=clock.now()).returning(_T.c.id, _T.c.community_id)).all()
    if retried:
        audit.record_many(session, actor, "outbox.retried", "outboxmessage",
                          [(message_id, cid, {}) for message_id, cid in retried])
    return len(retried)


def describe(message: OutboxMessage) -> str:
    """One line for `modsys outbox list` (last_error never holds a URL)."""
    return (f"#{message.id} {message.status:<8} {message.channel:<10} {message.event:<26} "
            f"attempts={message.attempts} next={message.next_attempt_at:%Y-%m-%d %H:%M:%S} {message.last_error}")
