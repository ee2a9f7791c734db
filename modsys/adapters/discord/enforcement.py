"""What Discord must do when a case takes effect or is lifted, queued in the
same transaction as the change (never sent inside a request).

Why a table of its own and not the outbox: the outbox is ordered per channel
and delivers notifications to webhooks; enforcement must be ordered per
*member* (a ban is never applied after its own unban), goes through the bot's
rate-limited client, and each row carries state the case page shows (applied
when and how, the DM's outcome, why it failed). Both are written in the
service's transaction, so nothing is enforced that was not committed.

Services call `queue(session, action, "apply" | "reverse")` once per hook point
(filing, co-sign, revoke, overturn, expiry) and `replace(session, old, new)` for
a modified sanction. Without a bot token nothing is queued: today's behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from modsys import permissions
from modsys.adapters import discord
from modsys.domain import clock, kinds
from modsys.domain.errors import NotFound, ValidationFailed
from modsys.domain.models import (
    Action,
    ActionSource,
    ActionStatus,
    DiscordEnforcement,
    EnforcementStatus,
)
from modsys.services._base import service
from modsys.uow import UnitOfWork


@dataclass(frozen=True)
class KindEnforcement:
    """How one action kind is enforced in Discord, from its declaration in modsys.domain.kinds."""

    apply: str | None  # the request that applies it: "ban" | "timeout" | "kick" | "unban" | None
    reverse: str | None  # the request that lifts it: "unban" | "untimeout" | None (a kick can't be undone)
    permission: str  # the bot permission those requests need (named as in Discord's settings)
    dm_first: bool  # the member is told by DM before it lands


# The bot permission each request needs (permissions.mdx; named as in Discord's settings).
PERMISSION = {"ban": "Ban Members", "unban": "Ban Members", "timeout": "Moderate Members",
              "untimeout": "Moderate Members", "kick": "Kick Members"}
# Kinds that do something in Discord. Notes are internal: nothing happens there.
ENFORCEMENT: dict[str, KindEnforcement] = {
    k.name: KindEnforcement(k.enforce or None, k.reverse or None, PERMISSION.get(k.enforce, ""), k.dm_first)
    for k in kinds.KINDS.values() if k.enforce or k.dm_first
}
# The Discord state a request leaves the member in ("unban" and "untimeout" clear these).
EFFECT = {"ban": "ban", "timeout": "timeout"}

OPS = ("apply", "reverse", "notify")

# The form's choices for bans: none, 1 hour, 1 day, 7 days (Discord allows 0-604800 s,
# guild.mdx "Create Guild Ban").
DELETE_MESSAGE_CHOICES = {0: "none", 3600: "1 hour", 86400: "1 day", 604800: "7 days"}


def check_delete_message_seconds(kind: str, seconds: int) -> int:
    if seconds not in DELETE_MESSAGE_CHOICES:
        raise ValidationFailed("delete messages: choose none, 1 hour, 1 day or 7 days", field="delete_message_seconds")
    if seconds and kind != "ban":
        raise ValidationFailed("only a ban deletes the member's recent messages", field="delete_message_seconds")
    return seconds


def _wanted(action: Action, op: str) -> bool:
    spec = ENFORCEMENT.get(action.kind)
    if spec is None:
        return False
    if op == "notify":
        return spec.dm_first
    return bool(spec.apply or spec.dm_first) if op == "apply" else bool(spec.reverse)


def queue(session: Session, action: Action, op: str, *, delete_message_seconds: int = 0) -> DiscordEnforcement | None:
    """Queue `op` of `action` for Discord, once (idempotent): "apply" (DM, then the
    sanction), "reverse" (lift it), "notify" (only the DM: a case done in Discord).
    An action waiting for its second signature is queued *held*: co-signing releases it."""
    if op not in OPS:
        raise ValueError(f"unknown enforcement op {op!r}")
    seconds = check_delete_message_seconds(action.kind, delete_message_seconds)
    if not _wanted(action, op) or discord.target(session, action.community_id)[0] is None:
        return None
    existing = session.exec(select(DiscordEnforcement).where(
        DiscordEnforcement.dedupe_key == f"{action.id}:{op}")).first()
    if op == "reverse":
        _drop_held(session, action)
        if not _reached_discord(session, action):
            return None
    if existing is not None:
        if existing.status == EnforcementStatus.held and action.status == ActionStatus.active:
            existing.status, existing.next_attempt_at = EnforcementStatus.pending, clock.now()
            session.add(existing)
        return existing
    held = action.status == ActionStatus.pending_cosign
    if op != "reverse" and not held and action.status != ActionStatus.active:
        return None  # filed already over (a modification that ended in the past)
    row = DiscordEnforcement(
        community_id=action.community_id, action_id=action.id, member_id=action.member_id, op=op,
        dedupe_key=f"{action.id}:{op}", delete_message_seconds=seconds,
        status=EnforcementStatus.held if held else EnforcementStatus.pending,
        next_attempt_at=clock.now(), created_at=clock.now())
    session.add(row)
    session.flush()
    return row


def _reached_discord(session: Session, action: Action) -> bool:
    """Only what was (or is being) applied in Discord is lifted there: a case found in
    Discord's own log, or one whose apply was sent or is queued."""
    if action.source == ActionSource.discord:
        return True
    return session.exec(select(DiscordEnforcement.id).where(
        DiscordEnforcement.action_id == action.id, DiscordEnforcement.op == "apply",
        DiscordEnforcement.status.in_((EnforcementStatus.pending, EnforcementStatus.done, EnforcementStatus.dead)))
    ).first() is not None


def _drop_held(session: Session, action: Action) -> None:
    """A case lifted before its second signature never reaches Discord."""
    session.execute(sa.update(DiscordEnforcement.__table__).where(
        DiscordEnforcement.action_id == action.id, DiscordEnforcement.status == EnforcementStatus.held)
        .values(status=EnforcementStatus.skipped, last_error="lifted before it took effect"))


def replace(session: Session, old: Action, new: Action) -> None:
    """A modified sanction: lift the old one in Discord unless the new one sets the
    same state anyway (a shorter ban re-PUTs the ban; a shorter timeout re-PATCHes
    the end), then apply the new one."""
    same_effect = EFFECT.get(old.kind) is not None and EFFECT.get(old.kind) == EFFECT.get(new.kind)
    if not (same_effect and new.status == ActionStatus.active):
        queue(session, old, "reverse")
    queue(session, new, "apply")


def request_again(session: Session, action: Action) -> DiscordEnforcement | None:
    """Queue the action's apply once more (drift found it missing in Discord)."""
    n = session.exec(select(sa.func.count()).select_from(DiscordEnforcement)
                     .where(DiscordEnforcement.action_id == action.id)).one()
    if discord.target(session, action.community_id)[0] is None or action.status != ActionStatus.active:
        return None
    row = DiscordEnforcement(community_id=action.community_id, action_id=action.id, member_id=action.member_id,
                             op="apply", dedupe_key=f"{action.id}:apply:{n + 1}", dm_status="none",
                             next_attempt_at=clock.now(), created_at=clock.now())
    session.add(row)
    session.flush()
    return row


# --- what the case page and the API show ----------------------------------------------


@dataclass(frozen=True)
class EnforcementView:
    state: str  # "not_configured" | "nothing" | "held" | "pending" | "applied" | "failed" | "skipped"
    summary: str  # one line for people
    dm: str | None  # "member notified by DM" | "not notified: ..." | None (no DM tried yet / none due)
    rows: list[DiscordEnforcement]

    @property
    def retry_ids(self) -> list[int]:
        return [r.id for r in self.rows if r.status == EnforcementStatus.dead]  # type: ignore[misc]

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "summary": self.summary, "dm": self.dm,
                "steps": [{"id": r.id, "op": r.op, "status": r.status, "result": r.result or None,
                           "error": r.last_error or None, "attempts": r.attempts,
                           "done_at": r.done_at.isoformat() if r.done_at else None} for r in self.rows]}


def _describe(row: DiscordEnforcement) -> str:
    if row.status == EnforcementStatus.done:
        return f"{row.op}: {row.result} ({row.done_at:%Y-%m-%d %H:%M:%S} UTC)"
    if row.status == EnforcementStatus.dead:
        return f"{row.op} failed: {row.last_error}"
    if row.status == EnforcementStatus.skipped:
        return f"{row.op} not sent: {row.last_error}"
    if row.status == EnforcementStatus.held:
        return f"{row.op} waits for the second signature"
    return f"{row.op} pending" + (f" ({row.last_error})" if row.last_error else "")


def dm_line(row: DiscordEnforcement) -> str | None:
    """The DM tried before the sanction landed (what became of it after: modsys.notify.member_status)."""
    if row.dm_status == "delivered":
        return "member notified by DM"
    if row.dm_status == "failed":
        return f"not notified: {row.dm_detail}"
    if row.dm_status == "retrying":
        return f"not notified before the sanction: {row.dm_detail} (see Member notices)"
    return None


def view(session: Session, action: Action) -> EnforcementView:
    rows = list(session.exec(select(DiscordEnforcement).where(DiscordEnforcement.action_id == action.id)
                             .order_by(DiscordEnforcement.id)))
    dm = next((line for r in rows if (line := dm_line(r))), None)
    if not rows:
        guild, why = discord.target(session, action.community_id)
        if guild is None:
            return EnforcementView("not_configured", why, None, rows)
        return EnforcementView("nothing", "nothing to do in Discord for this case", None, rows)
    last = rows[-1]
    state = {EnforcementStatus.done: "applied", EnforcementStatus.dead: "failed",
             EnforcementStatus.held: "held", EnforcementStatus.skipped: "skipped"}.get(last.status, "pending")
    if any(r.status == EnforcementStatus.dead for r in rows):
        state = "failed"
    return EnforcementView(state, "; ".join(_describe(r) for r in rows), dm, rows)


def failed(session: Session, community_id: int, limit: int = 50) -> list[DiscordEnforcement]:
    """Dead enforcement of a community, newest first (for /admin)."""
    return list(session.exec(select(DiscordEnforcement).where(
        DiscordEnforcement.community_id == community_id, DiscordEnforcement.status == EnforcementStatus.dead)
        .order_by(DiscordEnforcement.id.desc()).limit(limit)))


@service
def retry(uow: UnitOfWork, ids: list[int], community_id: int) -> int:
    """Queue failed enforcement again with fresh attempts (staff of the community; audited).
    Delivery re-checks that the case is still in force, so an old ban never lands after its unban."""
    uow.bind(community_id)
    uow.staff_with(permissions.can_retry_enforcement)
    if not ids:
        raise NotFound("no such failed enforcement in this community")
    rows = [uow.get(DiscordEnforcement, i, "failed enforcement") for i in ids]
    retried = [r for r in rows if r is not None and r.status == EnforcementStatus.dead]
    for row in retried:
        row.status, row.attempts, row.next_attempt_at, row.last_error = (
            EnforcementStatus.pending, 0, clock.now(), "")
        uow.session.add(row)
        uow.record("discord.enforcement_retried", row, {"action_id": row.action_id, "op": row.op})
    return len(retried)
