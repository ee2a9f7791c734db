"""Scheduled work: escalation, reminders, expiry, appeal windows, the audit
check, outbox delivery, and Discord (enforcement, audit-log sync, drift).

Each job is a plain function `(engine) -> summary dict`, safe to run at any
time, twice, or after a crash half-way: it only acts on rows still in the state
it looks for, each batch is one transaction holding the change, its audit
events and its notifications, and notifications carry dedupe keys. Time comes
from `modsys.domain.clock`, the actor is `actors.SCHEDULER`. On PostgreSQL batches
claim rows with FOR UPDATE SKIP LOCKED, so two runs never take the same row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from modsys import audit
from modsys.adapters.discord import audit_log as discord_audit_log
from modsys.adapters.discord import delivery as discord_delivery
from modsys.adapters.discord import drift as discord_drift
from modsys.community import policy_for
from modsys.domain import clock, events
from modsys.domain.actors import SCHEDULER, Actor
from modsys.domain.appeal_flow import TRANSITIONS
from modsys.domain.models import (
    OPEN_APPEAL_STATES,
    Action,
    ActionStatus,
    Appeal,
    AppealReminder,
    AppealStatus,
    AuditEvent,
    Community,
    OutboxMessage,
    OutboxStatus,
)
from modsys.infra.config import Settings
from modsys.infra.db import writing
from modsys.runtime import delivery
from modsys.services.actions import expire_due_actions
from modsys.services.claims import release_idle

log = logging.getLogger(__name__)

BATCH = 1000
ESCALATION_REASON = "review SLA passed"
# States the transition table lets escalate (submitted, in_review): one source of truth.
ESCALATABLE = tuple(state.value for (state, verb) in TRANSITIONS if verb == "escalate")
VERIFY_EVERY = timedelta(hours=20)  # "nightly", with slack for a late or restarted scheduler
VERIFY_VERBS = ("audit.verified", "audit.verify_failed")


def _insert_new(session: Session, model: type, rows: list[dict[str, Any]], returning: Any = None) -> list[Any]:
    """Bulk INSERT that skips rows clashing with a unique key (dedupe keys,
    reminders already sent); with `returning`, the rows actually inserted."""
    if not rows:
        return []
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(model.__table__).on_conflict_do_nothing()
    if returning is None:
        session.execute(stmt, rows)
        return []
    return list(session.execute(stmt.returning(*returning), rows))


def _outbox_row(community_id: int, event: events.Event, dedupe_key: str, now: datetime) -> dict[str, Any]:
    return {**events.row(community_id, event), "dedupe_key": dedupe_key, "status": OutboxStatus.pending.value,
            "attempts": 0, "next_attempt_at": now, "last_error": "", "created_at": now}


def _communities(session: Session, where: Any) -> list[int]:
    return list(session.exec(select(Appeal.community_id).where(where).distinct()))


# --- escalation ----------------------------------------------------------------------


def escalate_overdue_appeals(engine: Engine, *, batch: int = BATCH) -> dict[str, int]:
    """Appeals still awaiting review past `review_due_at` go to leadership: one
    UPDATE ... RETURNING per batch, then the batch's audit events (chained) and
    leadership notifications in bulk, all in the batch's transaction."""
    now = clock.now()
    overdue = Appeal.status.in_(ESCALATABLE) & (Appeal.review_due_at <= now)
    with Session(engine) as session:
        communities = {cid: policy_for(session, cid).appeals.leadership_sla
                       for cid in _communities(session, overdue)}
    total = 0
    for community_id, leadership_sla in communities.items():
        while True:
            done = _escalate_batch(engine, community_id, now, now + leadership_sla, batch)
            total += done
            if done < batch:
                break
    return {"escalated": total}


def _escalate_batch(engine: Engine, community_id: int, now: datetime, leadership_due: datetime, batch: int) -> int:
    t = Appeal.__table__
    a = aliased(Appeal)  # the subquery's own FROM, not correlated to the UPDATE's table
    ids = (select(a.id).where(a.community_id == community_id, a.status.in_(ESCALATABLE), a.review_due_at <= now)
           .order_by(a.review_due_at, a.id).limit(batch).with_for_update(skip_locked=True))
    with writing(engine) as session:
        rows = session.execute(
            sa.update(t).where(t.c.id.in_(ids.scalar_subquery()), t.c.status.in_(ESCALATABLE))
            .values(status=AppealStatus.escalated.value, escalated_at=now, escalated_by_id=None,
                    escalation_reason=ESCALATION_REASON, recommendation="", leadership_due_at=leadership_due)
            .returning(t.c.id, t.c.action_id, t.c.status, t.c.review_due_at)
        ).all()
        rows.sort(key=lambda r: r.id)  # a stable, readable order in the audit log
        audit.record_many(session, SCHEDULER, "appeal.escalated", "appeal", [
            (r.id, community_id, {"reason": ESCALATION_REASON, "recommendation": "",
                                  "leadership_due_at": leadership_due, "review_due_at": r.review_due_at})
            for r in rows])
        _insert_new(session, OutboxMessage, [
            _outbox_row(community_id, events.AppealEscalated(r.id, ESCALATION_REASON), f"appeal.escalated:{r.id}", now)
            for r in rows])
    return len(rows)


# --- reminders -----------------------------------------------------------------------

# stage: (appeal states, SLA start column, SLA due column, the reminder's event)
STAGES = {
    "review": (ESCALATABLE, Appeal.submitted_at, Appeal.review_due_at, events.ReviewReminderDue),
    "leadership": ((AppealStatus.escalated.value,), Appeal.escalated_at, Appeal.leadership_due_at,
                   events.DecisionReminderDue),
}


def send_reminders(engine: Engine) -> dict[str, int]:
    """Remind once per appeal, stage and policy threshold (a share of the SLA).
    A run that finds several thresholds passed at once (the scheduler was down)
    records them all but sends one reminder, for the highest."""
    now = clock.now()
    sent = 0
    with writing(engine) as session:
        for community_id in _communities(session, Appeal.status.in_(ESCALATABLE + (AppealStatus.escalated.value,))):
            thresholds = sorted(policy_for(session, community_id).appeals.reminders)
            for stage in STAGES:
                sent += _remind(session, community_id, stage, thresholds, now)
    return {"reminders": sent}


def _remind(session: Session, community_id: int, stage: str, thresholds: list[float], now: datetime) -> int:
    if not thresholds:
        return 0
    states, start, due, reminder = STAGES[stage]
    last_done = sa.exists().where(AppealReminder.appeal_id == Appeal.id, AppealReminder.stage == stage,
                                  AppealReminder.threshold == thresholds[-1])
    query = select(Appeal.id, Appeal.action_id, start, due).where(
        Appeal.community_id == community_id, Appeal.status.in_(states), start.is_not(None), due.is_not(None),
        ~last_done)
    if stage == "review":
        query = query.where(due > now)  # overdue ones are being escalated instead
    reached: dict[int, tuple[Any, list[float]]] = {}
    for row in session.execute(query):
        began, ends = row[2], row[3]
        passed = [t for t in thresholds if now >= began + (ends - began) * t]
        if passed:
            reached[row.id] = (row, passed)
    new = _insert_new(session, AppealReminder, [
        {"appeal_id": appeal_id, "stage": stage, "threshold": t, "sent_at": now}
        for appeal_id, (_, passed) in reached.items() for t in passed],
        returning=(AppealReminder.appeal_id, AppealReminder.threshold))
    highest: dict[int, float] = {}
    for appeal_id, threshold in new:  # only what this run recorded: never twice
        highest[appeal_id] = max(threshold, highest.get(appeal_id, 0.0))
    messages = [_outbox_row(community_id, reminder(appeal_id, threshold),
                            f"appeal.reminder:{appeal_id}:{stage}:{threshold:g}", now)
                for appeal_id, threshold in sorted(highest.items())]
    _insert_new(session, OutboxMessage, messages)
    return len(messages)


# --- sanctions and appeal windows ---------------------------------------------------------


def expire_sanctions(engine: Engine, *, batch: int = 500) -> dict[str, int]:
    """Timed sanctions past their end, community by community (the service audits
    and announces each)."""
    now = clock.now()
    with Session(engine) as session:
        due = list(session.exec(select(Action.community_id).where(
            Action.status == ActionStatus.active, Action.ends_at.is_not(None), Action.ends_at <= now).distinct()))
    total = 0
    for community_id in sorted(due):
        while True:
            with Session(engine) as session:
                done = len(expire_due_actions(session, SCHEDULER.within(community_id), limit=batch))
            total += done
            if done < batch:
                break
    return {"expired": total}


def close_appeal_windows(engine: Engine, *, batch: int = BATCH) -> dict[str, int]:
    """Actions whose appeal deadline passed with no open appeal stop being
    appealable. Pending co-signature actions are left alone: co-signing opens a
    fresh window. (`evidence.appeal_possible_or_open` already treats a passed
    deadline as closed; this makes it explicit, and audited.)"""
    t = Action.__table__
    a = aliased(Action)
    now = clock.now()
    open_appeal = sa.exists().where(Appeal.action_id == a.id, Appeal.status.in_(OPEN_APPEAL_STATES))
    total = 0
    while True:
        ids = (select(a.id).where(a.appealable.is_(True), a.appeal_deadline < now,
                                  a.status != ActionStatus.pending_cosign.value, ~open_appeal)
               .order_by(a.id).limit(batch).with_for_update(of=a, skip_locked=True))
        with writing(engine) as session:
            rows = session.execute(
                sa.update(t).where(t.c.id.in_(ids.scalar_subquery()), t.c.appealable.is_(True))
                .values(appealable=False).returning(t.c.id, t.c.community_id, t.c.appeal_deadline)
            ).all()
            rows.sort(key=lambda r: r.id)
            audit.record_many(session, SCHEDULER, "action.appeal_window_closed", "action",
                              [(r.id, r.community_id, {"appeal_deadline": r.appeal_deadline}) for r in rows])
        total += len(rows)
        if len(rows) < batch:
            return {"windows_closed": total}


# --- audit chain ---------------------------------------------------------------------


def verify_audit_chain(engine: Engine, *, settings: Settings, force: bool = False) -> dict[str, Any]:
    """Walk the audit chain and check it against the recorded checkpoints (at most
    once per VERIFY_EVERY unless forced); the result is recorded in the chain
    itself, which also tells the next run it is not due."""
    from modsys.audit import checkpoint as audit_checkpoint

    now = clock.now()
    if not force and not _verify_due(engine, now):
        return {"verified": False, "reason": "not due"}
    result, checkpoints = audit_checkpoint.verify_recorded(engine, settings)
    with writing(engine) as session:
        if not force and not _verify_due(session, now):
            return {"verified": False, "reason": "not due"}  # a concurrent run recorded it first
        return _record_verification(session, SCHEDULER, result, checkpoints, now)


def record_verification(engine: Engine, actor: Actor, result: audit.VerifyResult, checkpoints: int) -> dict[str, Any]:
    """Record a verification's result where /audit and /admin show it (the CLI's too)."""
    with writing(engine) as session:
        return _record_verification(session, actor, result, checkpoints, clock.now())


def _record_verification(session: Session, actor: Actor, result: audit.VerifyResult, checkpoints: int,
                         now: datetime) -> dict[str, Any]:
    """A broken chain alerts every community's leadership channel, once per broken event."""
    if result.ok:
        audit.record_many(session, actor, "audit.verified", "auditchain",
                          [(None, None, {"checked": result.checked, "checkpoints": checkpoints})])
        return {"verified": True, "ok": True, "checked": result.checked}
    log.error("audit chain broken at event #%s: %s", result.broken_seq, result.reason)
    audit.record_many(session, actor, "audit.verify_failed", "auditchain", [
        (None, None, {"checked": result.checked, "broken_seq": result.broken_seq, "reason": result.reason})])
    alert = events.AuditChainBroken(result.broken_seq, result.reason)
    _insert_new(session, OutboxMessage, [
        _outbox_row(cid, alert, f"audit.broken:{result.broken_seq}:{cid}", now)
        for cid in session.exec(select(Community.id)).all()])
    return {"verified": True, "ok": False, "broken_seq": result.broken_seq}


def _verify_due(bind: Engine | Session, now: datetime) -> bool:
    query = select(sa.func.max(AuditEvent.created_at)).where(AuditEvent.verb.in_(VERIFY_VERBS))
    if isinstance(bind, Session):
        last = bind.exec(query).one()
    else:
        with Session(bind) as session:
            last = session.exec(query).one()
    return last is None or now - last >= VERIFY_EVERY


def checkpoint_audit_chain(engine: Engine, *, settings: Settings) -> dict[str, Any]:
    """Sign the chain's head into the checkpoint log, outside the database (see
    `modsys.audit.checkpoint`); a chain that fails its verification is not
    signed, and the failure is recorded and alerted like the nightly check's."""
    from modsys.audit import checkpoint as audit_checkpoint

    try:
        checkpoint = audit_checkpoint.record(engine, settings)
    except audit_checkpoint.ChainBroken as e:
        record_verification(engine, SCHEDULER, e.result, 0)
        return {"checkpoint_seq": None, "refused": e.result.reason}
    return {"checkpoint_seq": checkpoint.seq}


# --- claims ---------------------------------------------------------------------------


def release_idle_claims(engine: Engine) -> dict[str, int]:
    """Give back flags and appeals a moderator claimed and left alone longer than the
    policy's `claims.idle_release`."""
    with writing(engine) as session:
        return {"released": release_idle(session, SCHEDULER)}


# --- delivery and the registry ----------------------------------------------------------


def deliver(engine: Engine, *, settings: Settings, **options: Any) -> dict[str, int]:
    """Send due outbox messages to Discord (see `modsys.runtime.delivery`)."""
    return delivery.deliver_outbox(engine, settings=settings, **options)


def deliver_discord_enforcement(engine: Engine, *, settings: Settings, **options: Any) -> dict[str, int]:
    """Apply and lift cases in Discord (see `modsys.adapters.discord.delivery`); nothing without a bot token."""
    return discord_delivery.deliver_enforcement(engine, settings=settings, **options)


def sync_discord_audit_log(engine: Engine, *, settings: Settings, **options: Any) -> dict[str, int]:
    """Record what moderators and AutoMod did in Discord (see `modsys.adapters.discord.audit_log`)."""
    return discord_audit_log.sync_audit_log(engine, settings=settings, **options)


def check_discord_drift(engine: Engine, *, settings: Settings, **options: Any) -> dict[str, int]:
    """Compare active bans and timeouts with Discord's (see `modsys.adapters.discord.drift`)."""
    return discord_drift.check_drift(engine, settings=settings, **options)


def check_requested_discord_drift(engine: Engine, *, settings: Settings, **options: Any) -> dict[str, int]:
    """The drift checks asked for from /admin ("check drift now")."""
    return discord_drift.check_requested(engine, settings=settings, **options)


def purge_message_log(engine: Engine, **options: Any) -> dict[str, int]:
    """Delete logged messages past the policy's retention (see `modsys.adapters.discord.gateway.message_log`)."""
    from modsys.adapters.discord.gateway.message_log import purge_expired

    return purge_expired(engine, **options)


def fetch_evidence_files(engine: Engine, *, settings: Settings, **options: Any) -> dict[str, int]:
    """Download Discord attachments that became evidence (see `modsys.adapters.discord.vault`)."""
    from modsys.adapters.discord.vault import fetch_due

    return fetch_due(engine, settings, **options)


def deliver_raid_responses(engine: Engine, *, settings: Settings, **options: Any) -> dict[str, int]:
    """Lockdowns, DMs and bulk bans of raid incidents (see `modsys.adapters.discord.gateway.raids`)."""
    from modsys.adapters.discord.gateway.raids import deliver

    return deliver(engine, settings=settings, **options)


def deliver_modmail(engine: Engine, *, settings: Settings, **options: Any) -> dict[str, int]:
    """Moderators' replies and appeal-link answers as DMs, forum copies (see `modsys.adapters.discord.gateway.modmail`)."""
    from modsys.adapters.discord.gateway.modmail import deliver

    return deliver(engine, settings=settings, **options)


def settle_triage(engine: Engine, **options: Any) -> dict[str, int]:
    """Scored live-triage messages: over the thresholds into the queue, the rest deleted (`modsys.adapters.discord.gateway.triage`)."""
    from modsys.adapters.discord.gateway.triage import settle

    return settle(engine, **options)


def keep_report_context(engine: Engine, *, settings: Settings, **options: Any) -> dict[str, int]:
    """Messages around reported ones, and report candidates into the vault (`modsys.adapters.discord.gateway.context`)."""
    from modsys.adapters.discord.gateway.context import keep

    return keep(engine, settings, **options)


# Run in this order by `run_once`: state changes first, so their notifications
# go out in the same run.
def count_transparency(engine: Engine) -> dict[str, int]:
    """Recount the transparency rollups of the months changed since the last run
    (see `modsys.reads.export.rollups`)."""
    from modsys.reads.export.rollups import refresh

    return refresh(engine)


JOBS: dict[str, Callable[..., dict[str, Any]]] = {
    "expire_sanctions": expire_sanctions,
    "close_appeal_windows": close_appeal_windows,
    "escalate_overdue_appeals": escalate_overdue_appeals,
    "send_reminders": send_reminders,
    "verify_audit_chain": verify_audit_chain,
    "checkpoint_audit_chain": checkpoint_audit_chain,  # after the verification it checkpoints
    "release_idle_claims": release_idle_claims,
    "sync_discord_audit_log": sync_discord_audit_log,  # records cases done in Discord: their modlog post follows
    "count_transparency": count_transparency,
    "deliver_outbox": deliver,
    "deliver_modmail": deliver_modmail,
    "deliver_raid_responses": deliver_raid_responses,  # before the queue: it falls back to it
    "deliver_discord_enforcement": deliver_discord_enforcement,
    "check_discord_drift": check_discord_drift,
    "check_requested_discord_drift": check_requested_discord_drift,
    "purge_message_log": purge_message_log,
    "settle_triage": settle_triage,
    "keep_report_context": keep_report_context,  # before the vault: it queues downloads
    "fetch_evidence_files": fetch_evidence_files,
}
# Jobs given the process's settings (one object, built at the entry point: `modsys serve`'s
# generated SECRET_KEY must reach Discord delivery as it reaches the outbox).
NEEDS_SETTINGS = {"checkpoint_audit_chain", "verify_audit_chain", "deliver_outbox", "deliver_discord_enforcement",
                  "sync_discord_audit_log", "check_discord_drift", "check_requested_discord_drift",
                  "fetch_evidence_files", "deliver_raid_responses", "deliver_modmail", "keep_report_context"}


def run_jobs(engine: Engine, names: Iterable[str] | None = None, *, settings: Settings | None = None,
             options: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Run the named jobs (default: all) once, in registry order."""
    wanted = set(JOBS) if names is None else set(names)
    unknown = wanted - set(JOBS)
    if unknown:
        raise ValueError(f"unknown job(s) {', '.join(sorted(unknown))}; jobs: {', '.join(JOBS)}")
    options = options or {}
    results = {}
    for name, job in JOBS.items():
        if name in wanted:
            extra = {"settings": settings} if name in NEEDS_SETTINGS and settings is not None else {}
            results[name] = job(engine, **extra, **options.get(name, {}))
    return results
