"""Raids: bursts of joins, or of accounts posting the same text, seen on the
gateway; one alert to moderators; one click to lock down and ban; one click to
undo it all.

Detection (`Detector`, in the gateway process: a guild is on one shard) keeps a
sliding window per community; past the policy's threshold (`raids.joins`,
`raids.messages`) the accounts in the window open an incident, and later ones
join the same incident while it is open and the burst goes on: one alert
(dashboard, and the mod log pinging `raids.alert_role_id`).

The response (`respond`) records the moderator's decision; the
`deliver_raid_responses` job then, outside any request, files one ban case per
account (`file_cases`, 100 per transaction, as the moderator who responded),
each appealable with its own statement of reasons; pauses invites and DMs
(`PUT /guilds/{id}/incident-actions`, guild.mdx "Modify Guild Incident Actions",
at most 24 hours ahead), DMs every member their case and appeal link (before the
ban: a banned member shares no server with the bot), and bans them with
`POST /guilds/{id}/bulk-ban` (guild.mdx "Bulk Guild Ban": up to 200 user ids per
call). Accounts the bulk ban reports as failed fall back to the one-by-one
enforcement queue, which retries and reports. `undo` revokes every case (the
usual queue unbans each) and lifts the lockdown.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from modsys import permissions
from modsys.adapters import discord
from modsys.adapters.discord import dm
from modsys.adapters.discord.client import DiscordClient, client_for
from modsys.adapters.discord.delivery import REASON_PREFIX
from modsys.community import policy_for
from modsys.domain import clock, events
from modsys.domain.actors import Actor
from modsys.domain.errors import Conflict, ValidationFailed
from modsys.domain.models import (
    Action,
    DiscordEnforcement,
    EnforcementStatus,
    Member,
    RaidAccount,
    RaidIncident,
    RaidStatus,
    StaffUser,
)
from modsys.infra.config import Settings
from modsys.infra.db import writing
from modsys.runtime import delivery
from modsys.services._base import clean_text, service
from modsys.services.actions import NewAction, file_action, revoke_action
from modsys.uow import UnitOfWork

log = logging.getLogger(__name__)
BULK_BAN_MAX = 200  # guild.mdx "Bulk Guild Ban": user_ids, max 200
LOCKDOWN_MAX = timedelta(hours=24)  # guild.mdx "Incident Actions": at most 24 hours in the future
FILE_BATCH = 100  # cases per transaction: a large raid never holds the database for long


# --- detection (the gateway) ------------------------------------------------------------


class Detector:
    """Sliding windows per community: joins, and accounts per message text."""

    def __init__(self) -> None:
        self.joins: dict[int, deque[tuple[datetime, str, str]]] = {}
        self.texts: dict[tuple[int, str], deque[tuple[datetime, str, str]]] = {}
        self.ongoing: dict[tuple[int, str], datetime] = {}  # (community, trigger) -> last account added

    def on_join(self, engine: Engine, community_id: int, user_id: str, name: str) -> int | None:
        with Session(engine) as session:
            burst = policy_for(session, community_id).raids.joins
        window = self.joins.setdefault(community_id, deque())
        return self._see(engine, community_id, "joins", window, burst.count, burst.within, user_id, name)

    def on_message(self, engine: Engine, community_id: int, user_id: str, name: str, text: str) -> int | None:
        key = re.sub(r"\s+", " ", text.strip().lower())
        if len(key) < 3:
            return None
        with Session(engine) as session:
            burst = policy_for(session, community_id).raids.messages
        window = self.texts.setdefault((community_id, key[:200]), deque())
        if any(u == user_id for _, u, _ in window):
            return None  # one account repeating itself is spam, not a raid
        return self._see(engine, community_id, "messages", window, burst.count, burst.within, user_id, name)

    def _see(self, engine: Engine, community_id: int, trigger: str, window: deque, count: int, within: timedelta,
             user_id: str, name: str) -> int | None:
        now = clock.now()
        last = self.ongoing.get((community_id, trigger))
        if last is not None and now - last <= within:  # the burst goes on: straight into its incident
            self.ongoing[(community_id, trigger)] = now
            return raise_alert(engine, community_id, trigger, [(now, user_id, name)], within)
        window.append((now, user_id, name))
        while window and window[0][0] < now - within:
            window.popleft()
        if len(window) < count:
            return None
        incident_id = raise_alert(engine, community_id, trigger, list(window), within)
        window.clear()
        self.ongoing[(community_id, trigger)] = now
        return incident_id


def raise_alert(engine: Engine, community_id: int, trigger: str, accounts: list[tuple[datetime, str, str]],
                within: timedelta) -> int:
    """Add the accounts to the community's open incident (one still in progress), or open one with an alert."""
    now = clock.now()
    with writing(engine) as session:
        incident = session.exec(select(RaidIncident).where(
            RaidIncident.community_id == community_id, RaidIncident.status == RaidStatus.open,
            RaidIncident.last_seen_at >= now - 5 * within).order_by(col(RaidIncident.id).desc())).first()
        new = incident is None
        if incident is None:
            incident = RaidIncident(community_id=community_id, trigger=trigger, started_at=accounts[0][0],
                                    last_seen_at=now)
            session.add(incident)
            session.flush()
        incident.last_seen_at = now
        session.add(incident)
        known = set(session.exec(select(RaidAccount.platform_user_id).where(RaidAccount.incident_id == incident.id)))
        for at, user_id, name in accounts:
            if user_id not in known:
                known.add(user_id)
                session.add(RaidAccount(incident_id=incident.id, platform_user_id=user_id,  # type: ignore[arg-type]
                                        display_name=(name or f"user {user_id}")[:100], seen_at=at))
        if new:
            events.record(session, community_id, events.RaidDetected(incident.id),  # type: ignore[arg-type]
                          dedupe_key=f"raid:{incident.id}")
        return incident.id  # type: ignore[return-value]


def open_incidents(session: Session, community_id: int) -> list[RaidIncident]:
    """Alerts moderators have not acted on (the dashboard)."""
    return list(session.exec(select(RaidIncident).where(RaidIncident.community_id == community_id,
                                                        RaidIncident.status == RaidStatus.open)
                             .order_by(col(RaidIncident.id).desc())))


def recent(session: Session, community_id: int, limit: int = 50) -> list[RaidIncident]:
    """The community's incidents, newest first (/raids)."""
    return list(session.exec(select(RaidIncident).where(RaidIncident.community_id == community_id)
                             .order_by(col(RaidIncident.id).desc()).limit(limit)))


def accounts_of(session: Session, incident_id: int) -> list[RaidAccount]:
    return list(session.exec(select(RaidAccount).where(RaidAccount.incident_id == incident_id)
                             .order_by(col(RaidAccount.id))))


# --- the response (services) -----------------------------------------------------------------


@service
def respond(uow: UnitOfWork, incident_id: int, lockdown: timedelta | None = None) -> RaidIncident:
    """One click: lock down (invites and DMs paused) and ban every account, one appealable
    case each. The request only decides; the job files the cases in batches and sends."""
    incident = uow.get(RaidIncident, incident_id, "raid incident")
    staff = uow.staff_with(lambda user: permissions.can_file(user, "ban"))
    if incident.status != RaidStatus.open:
        raise Conflict(f"raid incident #{incident.id} is {incident.status}; only an open alert can be acted on")
    lockdown = uow.policy.raids.lockdown if lockdown is None else lockdown
    if not timedelta(0) <= lockdown <= LOCKDOWN_MAX:
        raise ValidationFailed("Discord pauses invites and DMs for at most 24 hours", field="lockdown")
    now = clock.now()
    incident.status, incident.responded_by_id, incident.responded_at = RaidStatus.banning, staff.id, now
    if lockdown:
        incident.lockdown_until, incident.lockdown_state = now + lockdown, "pending"
    uow.session.add(incident)
    uow.record("raid.responded", incident, {"accounts": len(accounts_of(uow.session, incident.id)),  # type: ignore[arg-type]
                                            "lockdown_until": incident.lockdown_until})
    return incident


@service
def file_cases(uow: UnitOfWork, incident_id: int, limit: int = FILE_BATCH) -> int:
    """The next `limit` accounts' ban cases, filed by the moderator who responded (the job)."""
    incident = uow.get(RaidIncident, incident_id, "raid incident")
    if incident.status != RaidStatus.banning:
        return 0
    policy = uow.policy.raids
    total = len(accounts_of(uow.session, incident.id))  # type: ignore[arg-type]
    todo = list(uow.session.exec(select(RaidAccount).where(RaidAccount.incident_id == incident.id,
                                                           col(RaidAccount.action_id).is_(None))
                                 .order_by(col(RaidAccount.id)).limit(limit)))
    for account in todo:
        action = file_action(uow.session, uow.actor, NewAction(
            member_id=None, platform_user_id=account.platform_user_id, display_name=account.display_name,
            kind="ban", rules=[policy.ban_rule], public_reason=policy.ban_reason,
            facts=f"Your account was one of {total} in raid incident #{incident.id}, "
                  f"first seen {incident.started_at:%Y-%m-%d %H:%M} UTC.",
            duration=policy.ban_duration))
        account.action_id = action.id
        uow.session.add(account)
        # The incident sends it: DM first, then one bulk ban for all (not 1 request per member).
        for row in uow.session.exec(select(DiscordEnforcement).where(DiscordEnforcement.action_id == action.id,
                                                                     DiscordEnforcement.status == EnforcementStatus.pending)):
            row.status = EnforcementStatus.incident
            uow.session.add(row)
    return len(todo)


@service
def dismiss(uow: UnitOfWork, incident_id: int) -> RaidIncident:
    incident = uow.get(RaidIncident, incident_id, "raid incident")
    uow.staff_with(permissions.can_work_flags)
    if incident.status != RaidStatus.open:
        raise Conflict(f"raid incident #{incident.id} is {incident.status}; only an open alert can be dismissed")
    incident.status = RaidStatus.dismissed
    uow.session.add(incident)
    uow.record("raid.dismissed", incident, {})
    return incident


@service
def undo(uow: UnitOfWork, incident_id: int, reason: str) -> RaidIncident:
    """One click: revoke every case of the incident (each unbanned in Discord) and lift the lockdown."""
    incident = uow.get(RaidIncident, incident_id, "raid incident")
    staff = uow.staff_with(lambda user: permissions.can_file(user, "ban"))
    if incident.status not in (RaidStatus.banning, RaidStatus.done):
        raise Conflict(f"raid incident #{incident.id} is {incident.status}; only a response can be undone")
    text = clean_text(reason, "reason", min_len=10, max_len=1500)
    revoked = 0
    for account in accounts_of(uow.session, incident.id):  # type: ignore[arg-type]
        action = uow.session.get(Action, account.action_id) if account.action_id else None
        if action is not None and action.status in ("active", "pending_cosign"):
            for row in uow.session.exec(select(DiscordEnforcement).where(
                    DiscordEnforcement.action_id == action.id, DiscordEnforcement.status == EnforcementStatus.incident)):
                row.status, row.last_error = EnforcementStatus.skipped, "the raid response was undone first"
                uow.session.add(row)
            revoke_action(uow.session, uow.actor, action.id, f"Raid incident #{incident.id} undone: {text}")
            revoked += 1
    now = clock.now()
    incident.status, incident.undone_by_id, incident.undone_at = RaidStatus.undone, staff.id, now
    if incident.lockdown_until is not None and incident.lockdown_until > now:
        incident.lockdown_state = "lifting"
    uow.session.add(incident)
    uow.record("raid.undone", incident, {"revoked": revoked, "reason": text})
    return incident


# --- delivery (the scheduler) ------------------------------------------------------------------


def deliver(engine: Engine, *, settings: Settings, client: DiscordClient | None = None,
            dm_wait: float = dm.DM_WAIT) -> dict[str, int]:
    """Lockdowns, DMs and bulk bans of responded incidents; lockdowns lifted on undo."""
    if not settings.discord_bot_token:
        return {}
    client = client or client_for(settings)
    counts = {"incidents": 0, "dms": 0, "banned": 0, "fallback": 0}
    with Session(engine) as session:
        due = list(session.exec(select(RaidIncident).where(
            (RaidIncident.status == RaidStatus.banning)
            | col(RaidIncident.lockdown_state).in_(("pending", "lifting")))))
    for incident in due:
        with Session(engine) as session:
            guild, _ = discord.target(session, incident.community_id, settings)
        if guild is None:
            continue
        counts["incidents"] += 1
        if incident.status == RaidStatus.banning:
            _file_all(engine, incident)
        if incident.lockdown_state in ("pending", "lifting"):
            _lockdown(engine, client, guild, incident)
        if incident.status == RaidStatus.banning:
            _ban(engine, client, settings, guild, incident, counts, dm_wait)
    return counts


def _file_all(engine: Engine, incident: RaidIncident) -> None:
    with Session(engine) as session:
        staff = session.get(StaffUser, incident.responded_by_id)
    if staff is None:
        return
    while True:
        with Session(engine) as session:
            if not file_cases(session, Actor.staff(staff), incident.id):
                return


def _lockdown(engine: Engine, client: DiscordClient, guild: str, incident: RaidIncident) -> None:
    until = incident.lockdown_until.isoformat() if incident.lockdown_state == "pending" else None  # type: ignore[union-attr]
    reply = client.request("PUT", "/guilds/{guild_id}/incident-actions", guild_id=guild,
                           json={"invites_disabled_until": until, "dms_disabled_until": until},
                           reason=f"modsys raid incident #{incident.id}")
    state = ("done" if until else "lifted") if reply.ok else reply.explain("Manage Server")[:200]
    with writing(engine) as session:
        row = session.get(RaidIncident, incident.id)
        row.lockdown_state = state  # type: ignore[union-attr]
        session.add(row)


def _ban(engine: Engine, client: DiscordClient, settings: Settings, guild: str, incident: RaidIncident,
         counts: dict[str, int], dm_wait: float) -> None:
    with Session(engine) as session:
        rows = list(session.exec(select(DiscordEnforcement).join(RaidAccount, RaidAccount.action_id == DiscordEnforcement.action_id)
                                 .where(RaidAccount.incident_id == incident.id,
                                        DiscordEnforcement.status == EnforcementStatus.incident)
                                 .order_by(col(DiscordEnforcement.id))))
        jobs = []
        for row in rows:
            member = session.get(Member, row.member_id)
            jobs.append((row.id, row.action_id, member.platform_user_id, row.dm_status is None))  # type: ignore[union-attr]
    # The DMs first (a banned member shares no server with the bot): each case's own
    # member notice, rendered and sent by the outbox like any sanction's (modsys.runtime.delivery).
    for row_id, action_id, _, tell in jobs:
        if tell:
            told = delivery.tell_member_now(engine, action_id, settings=settings, client=client, wait=dm_wait)
            status = "none" if told is None else "delivered" if told.delivered else "failed" if told.permanent \
                else "retrying"
            _update(engine, [row_id], {"dm_status": status, "dm_detail": "" if told is None else told.detail[:300]})
            counts["dms"] += 1
    for start in range(0, len(jobs), BULK_BAN_MAX):
        chunk = jobs[start:start + BULK_BAN_MAX]
        ids = [user_id for _, _, user_id, _ in chunk]
        reply = client.request("POST", "/guilds/{guild_id}/bulk-ban", guild_id=guild, json={"user_ids": ids, "delete_message_seconds": 0},
                               reason=f"{REASON_PREFIX}s of raid incident #{incident.id}")
        if reply.rate_limited:
            time.sleep(min(reply.retry_after or 1.0, 5.0))
            return  # the next run goes on from here
        banned = set(map(str, (reply.data or {}).get("banned_users") or [])) if reply.ok else set()
        done = [row_id for row_id, _, user_id, _ in chunk if user_id in banned]
        failed = [row_id for row_id, _, user_id, _ in chunk if user_id not in banned]
        _update(engine, done, {"status": EnforcementStatus.done, "done_at": clock.now(),
                               "result": f"banned (bulk ban of raid incident #{incident.id})"})
        why = "" if reply.ok else reply.explain("Ban Members")
        _update(engine, failed, {"status": EnforcementStatus.pending, "next_attempt_at": clock.now(),
                                 "last_error": (why or "the bulk ban did not ban this account; retried alone")[:500]})
        counts["banned"] += len(done)
        counts["fallback"] += len(failed)
    with writing(engine) as session:
        row = session.get(RaidIncident, incident.id)
        if row is not None and row.status == RaidStatus.banning:
            row.status = RaidStatus.done
            row.bulk_ban_result = f"{counts['banned']} banned in bulk, {counts['fallback']} left to the queue"
            session.add(row)


def _update(engine: Engine, ids: list[int], values: dict[str, Any]) -> None:
    if not ids:
        return
    with writing(engine) as session:
        for row in session.exec(select(DiscordEnforcement).where(col(DiscordEnforcement.id).in_(ids))):
            if row.status == EnforcementStatus.incident:
                for key, value in values.items():
                    setattr(row, key, value)
                session.add(row)
