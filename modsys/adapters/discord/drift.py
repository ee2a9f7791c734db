"""Drift: modsys's active bans and timeouts against Discord's, daily.

Bans: every ban of the guild (`GET /guilds/{id}/bans`, guild.mdx "Get Guild
Bans": up to 1000 a page, ascending by user id, paged with `after`) against the
active ban cases. Timeouts: each active timeout case's member (`GET
/guilds/{id}/members/{user}`); Discord-side timeouts without a case can't be
listed without the privileged members intent, and the audit-log sync records
those anyway. Cases whose enforcement is still queued are not drift.

Findings stay open on /admin until fixed (import as a case, re-apply, close)
or a later check finds them gone. A ban found only in Discord keeps the ban's
reason and the user's name from the ban list: an import keeps them as the draft.

Runs daily, and now: `modsys discord drift [--community SLUG]`, or the /admin
button, which asks the scheduler (`request_check`, run within a minute by
`check_requested`: no web request ever waits on Discord).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from modsys import permissions
from modsys.adapters.discord import enforcement, guild_id_for
from modsys.adapters.discord.audit_log import cursor_of
from modsys.adapters.discord.cases import Found, record
from modsys.adapters.discord.client import UNKNOWN_MEMBER, DiscordClient, client_for
from modsys.domain import clock
from modsys.domain.errors import Conflict, ValidationFailed
from modsys.domain.models import (
    Action,
    ActionStatus,
    Community,
    DiscordDrift,
    DiscordEnforcement,
    DiscordSyncCursor,
    EnforcementStatus,
    Member,
)
from modsys.infra.config import Settings
from modsys.infra.db import writing
from modsys.services._base import service
from modsys.uow import UnitOfWork

BAN_PAGE = 1000  # guild.mdx: "up to maximum 1000"
MAX_BAN_PAGES = 200  # 200,000 bans: beyond that the check stops and says so
log = logging.getLogger(__name__)

MAX_TIMEOUT_LOOKUPS = 500  # member lookups per community and run


class DriftError(Exception):
    pass


def _discord_bans(client: DiscordClient, guild: str) -> dict[str, dict[str, Any]]:
    bans: dict[str, dict[str, Any]] = {}
    after = "0"
    for _ in range(MAX_BAN_PAGES):
        reply = client.bans(guild, after=after, limit=BAN_PAGE)
        if not reply.ok:
            raise DriftError(reply.explain("Ban Members"))
        page = reply.data or []
        for ban in page:
            bans[str(ban["user"]["id"])] = ban
        if len(page) < BAN_PAGE:
            return bans
        after = str(page[-1]["user"]["id"])
    raise DriftError(f"more than {MAX_BAN_PAGES * BAN_PAGE} bans: the check stopped")


def _active(session: Session, community_id: int, kind: str) -> dict[str, Action]:
    """Active cases of `kind` whose enforcement is not still on its way, by Discord user id."""
    queued = sa.exists().where(DiscordEnforcement.action_id == Action.id,
                               DiscordEnforcement.status.in_((EnforcementStatus.pending, EnforcementStatus.held)))
    rows = session.exec(select(Action, Member.platform_user_id).join(Member, Member.id == Action.member_id)
                        .where(Action.community_id == community_id, Action.kind == kind,
                               Action.status == ActionStatus.active, ~queued)).all()
    return {uid: action for action, uid in rows}


def check_drift(engine: Engine, *, settings: Settings, client: DiscordClient | None = None,
                community_id: int | None = None, requested_only: bool = False) -> dict[str, int]:
    """Check every community with a guild (or `community_id`; or, with `requested_only`,
    those whose check was asked for). Counts: open findings, errors, communities checked."""
    if not settings.discord_bot_token:
        return {}
    with Session(engine) as session:
        query = select(Community)
        if community_id is not None:
            query = query.where(Community.id == community_id)
        if requested_only:
            query = query.join(DiscordSyncCursor, DiscordSyncCursor.community_id == Community.id).where(
                DiscordSyncCursor.drift_requested_at.is_not(None))
        communities = [(c.id, guild_id_for(c, settings)) for c in session.exec(query)]
    counts = {"open": 0, "errors": 0, "checked": 0}
    if not communities:
        return counts
    client = client or client_for(settings)
    for cid, guild in communities:
        if not guild:
            continue
        try:
            findings = _findings(engine, client, cid, guild)  # type: ignore[arg-type]
        except DriftError as e:  # keep the last findings: an outage is not "no drift"
            log.warning("drift check of community %s failed: %s", cid, e)
            counts["errors"] += 1
        else:
            counts["open"] += _store(engine, cid, findings)  # type: ignore[arg-type]
            counts["checked"] += 1
        _checked(engine, cid)  # type: ignore[arg-type]
    return counts


def check_requested(engine: Engine, *, settings: Settings,
                    client: DiscordClient | None = None) -> dict[str, int]:
    """The checks asked for from /admin (the scheduler runs this every minute)."""
    return check_drift(engine, settings=settings, client=client, requested_only=True)


def _checked(engine: Engine, community_id: int) -> None:
    with writing(engine) as session:
        cursor = cursor_of(session, community_id)
        cursor.drift_requested_at, cursor.drift_checked_at = None, clock.now()
        session.add(cursor)


@service
def request_check(uow: UnitOfWork, community_id: int) -> DiscordSyncCursor:
    """"Check drift now" from /admin: the scheduler runs it within a minute. Audited."""
    uow.bind(community_id)
    uow.staff_with(permissions.can_fix_drift)
    cursor = cursor_of(uow.session, community_id)
    cursor.drift_requested_at = clock.now()
    uow.session.add(cursor)
    uow.record("discord.drift_requested", cursor, {})
    return cursor


def _findings(engine: Engine, client: DiscordClient, community_id: int, guild: str) -> list[tuple]:
    """(kind, problem, user id, case id, Discord's ban object or None) for each difference."""
    bans = _discord_bans(client, guild)
    with Session(engine) as session:
        banned = _active(session, community_id, "ban")
        timed_out = _active(session, community_id, "timeout")
    found: list[tuple] = []
    found += [("ban", "missing_case", uid, None, bans[uid]) for uid in sorted(set(bans) - set(banned), key=int)]
    found += [("ban", "missing_in_discord", uid, banned[uid].id, None)
              for uid in sorted(set(banned) - set(bans), key=int)]
    now = clock.now()
    for uid, action in list(timed_out.items())[:MAX_TIMEOUT_LOOKUPS]:
        if action.ends_at is None or action.ends_at <= now:
            continue
        reply = client.member(guild, uid)
        if reply.status == 404 and reply.code == UNKNOWN_MEMBER:
            continue  # left the server: Discord keeps no timeout to compare
        if not reply.ok:
            raise DriftError(reply.explain("Moderate Members"))
        until = (reply.data or {}).get("communication_disabled_until")
        if not until or datetime.fromisoformat(until) <= now:
            found.append(("timeout", "missing_in_discord", uid, action.id, None))
    return found


def _ban_facts(ban: dict[str, Any] | None) -> tuple[str, str]:
    """(reason, name) from a ban object (guild.mdx "Ban Object": reason, user)."""
    if not ban:
        return "", ""
    user = ban.get("user") or {}
    name = user.get("global_name") or user.get("username") or ""
    return str(ban.get("reason") or "")[:600], str(name)[:100]


def _store(engine: Engine, community_id: int, findings: list[tuple]) -> int:
    """Keep open what is still found, close what is gone, add what is new."""
    now = clock.now()
    with writing(engine) as session:
        open_rows = list(session.exec(select(DiscordDrift).where(DiscordDrift.community_id == community_id,
                                                                DiscordDrift.resolved_at.is_(None))))
        current = {(kind, problem, uid) for kind, problem, uid, _, _ in findings}
        known = {(d.kind, d.problem, d.platform_user_id): d for d in open_rows}
        for key, row in known.items():
            if key not in current:
                row.resolved_at, row.resolution = now, "no longer differs"
                session.add(row)
        for kind, problem, uid, action_id, ban in findings:
            if (kind, problem, uid) not in known:
                reason, name = _ban_facts(ban)
                session.add(DiscordDrift(community_id=community_id, kind=kind, problem=problem, platform_user_id=uid,
                                         action_id=action_id, found_at=now, discord_reason=reason, user_name=name))
    return len(findings)


def open_findings(session: Session, community_id: int, limit: int = 100) -> list[DiscordDrift]:
    return list(session.exec(select(DiscordDrift).where(DiscordDrift.community_id == community_id,
                                                        DiscordDrift.resolved_at.is_(None))
                             .order_by(DiscordDrift.id).limit(limit)))


FIXES = {"missing_case": ("import",), "missing_in_discord": ("reapply", "close")}


@service
def fix(uow: UnitOfWork, drift_id: int, how: str) -> DiscordDrift:
    """One-click fixes from /admin: "import" a Discord ban as a case (reason needed),
    "reapply" a case's sanction in Discord, or "close" the case (lifted outside modsys)."""
    staff = uow.staff_with(permissions.can_fix_drift)
    session, actor = uow.session, uow.actor
    drift = uow.get(DiscordDrift, drift_id, "drift finding")
    if drift.resolved_at is not None:
        raise Conflict(f"drift finding {drift_id} was already resolved ({drift.resolution})")
    if how not in FIXES.get(drift.problem, ()):
        raise ValidationFailed(f"a {drift.problem} finding is fixed by {' or '.join(FIXES.get(drift.problem, ()))}",
                               field="how")
    action = session.get(Action, drift.action_id) if drift.action_id else None
    if how == "import":
        community = session.get(Community, drift.community_id)
        found = Found(entry_id=f"drift:{drift.platform_user_id}:{drift.id}", action_type=22, kind="ban",
                      user_id=drift.platform_user_id, user_name=drift.user_name or f"user {drift.platform_user_id}",
                      executor_id=None, reason=drift.discord_reason, at=drift.found_at)
        action = record(session, actor, community, found)  # type: ignore[arg-type]
        result = f"imported as case #{action.id}" if action else "already imported"
    elif how == "reapply":
        if action is None or action.status != ActionStatus.active:
            raise Conflict("the case is no longer active; nothing to re-apply")
        enforcement.request_again(session, action)
        result = f"case #{action.id} queued again for Discord"
    else:
        if action is None or action.status != ActionStatus.active:
            raise Conflict("the case is no longer active")
        action.status, action.lifted_by_id, action.lifted_at = ActionStatus.revoked, staff.id, clock.now()
        action.lifted_reason = "lifted in Discord outside modsys (found by the drift check)"
        action.ends_at = clock.now()
        session.add(action)
        uow.record("action.revoked", action, {"reason": action.lifted_reason, "drift_id": drift.id})
        result = f"case #{action.id} closed"
    drift.resolved_at, drift.resolution = clock.now(), f"{result} by {staff.username}"
    session.add(drift)
    uow.record("discord.drift_fixed", drift, {"how": how, "result": result})
    return drift
