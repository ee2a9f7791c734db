"""modsys as the permanent record: read each guild's audit log (Discord keeps it
45 days) and record what moderators and AutoMod did in Discord.

`GET /guilds/{id}/audit-logs?after=<last entry>&limit=100` returns entries
oldest first (audit-log.mdx: "If `after` is used, the list is ... in ascending
order"; limit 1-100). The cursor of each community moves one page at a time in
the transaction that records the page, so a crash re-reads at most one page,
and `DiscordImport`'s unique (community, entry id) records nothing twice.

Recorded (audit-log.mdx, "Audit Log Events"): MEMBER_KICK 20, MEMBER_BAN_ADD 22,
MEMBER_BAN_REMOVE 23, MEMBER_UPDATE 24 when `communication_disabled_until`
changed (set: a timeout; removed: the timeout lifted), and AutoMod's
AUTO_MODERATION_BLOCK_MESSAGE 143, _FLAG_TO_CHANNEL 144 (notes: nobody was
sanctioned) and _USER_COMMUNICATION_DISABLED 145 (a timeout). Entries whose
reason starts with modsys's own `X-Audit-Log-Reason` prefix are modsys's
requests, already cases: skipped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from modsys.adapters.discord import guild_id_for
from modsys.adapters.discord.cases import (
    NO_REASON,
    Found,
    lift_from_discord,
    record,
    snowflake_time,
)
from modsys.adapters.discord.client import DiscordClient, client_for
from modsys.adapters.discord.delivery import REASON_PREFIX
from modsys.domain import clock
from modsys.domain.actors import SCHEDULER
from modsys.domain.models import Community, DiscordSyncCursor
from modsys.infra.config import Settings
from modsys.infra.db import writing

PAGE = 100  # audit-log.mdx: limit 1-100
PAGES_PER_RUN = 20  # a backlog (first run: up to 45 days) drains over several runs


def _until(entry: dict[str, Any]) -> tuple[bool, datetime | None]:
    """(whether communication_disabled_until changed, its new value)."""
    for change in entry.get("changes") or []:
        if change.get("key") == "communication_disabled_until":
            value = change.get("new_value")
            return True, datetime.fromisoformat(value) if value else None
    return False, None


def classify(entry: dict[str, Any], names: dict[str, str]) -> Found | str | None:
    """A case to record, "lift:<kind>" for an unban or cleared timeout, or None (not ours to record)."""
    kind_by_type = {20: "kick", 22: "ban", 23: "unban", 143: "note", 144: "note", 145: "timeout"}
    action_type = int(entry.get("action_type", 0))
    reason = (entry.get("reason") or "").strip()
    if reason.startswith(REASON_PREFIX) or not entry.get("target_id"):
        return None
    ends_at = None
    if action_type == 24:
        changed, ends_at = _until(entry)
        if not changed:
            return None  # a nickname or role change
        if ends_at is None:
            return "lift:timeout"
        kind = "timeout"
    elif action_type in kind_by_type:
        kind = kind_by_type[action_type]
        if action_type == 145:
            ends_at = _until(entry)[1]
    else:
        return None
    if action_type in (143, 144):
        rule = (entry.get("options") or {}).get("auto_moderation_rule_name", "")
        reason = reason or f"AutoMod rule {rule!r} {'blocked' if action_type == 143 else 'flagged'} a message"
    user = str(entry["target_id"])
    return Found(entry_id=str(entry["id"]), action_type=action_type, kind=kind, user_id=user,
                 user_name=names.get(user, f"user {user}")[:100], executor_id=entry.get("user_id"),
                 reason=reason, at=snowflake_time(str(entry["id"])), ends_at=ends_at)


def cursor_of(session: Session, community_id: int) -> DiscordSyncCursor:
    cursor = session.exec(select(DiscordSyncCursor).where(DiscordSyncCursor.community_id == community_id)).first()
    if cursor is None:
        cursor = DiscordSyncCursor(community_id=community_id)
        session.add(cursor)
        session.flush()
    return cursor


def _record_page(engine: Engine, community_id: int, after: str, entries: list[dict[str, Any]],
                 names: dict[str, str], counts: dict[str, int]) -> str | None:
    """Record a page and move the cursor, in one transaction; the new cursor (None: lost a race)."""
    with writing(engine) as session:
        cursor = cursor_of(session, community_id)
        if cursor.last_entry_id != after:
            return None  # another run moved it meanwhile: it recorded this page
        community = session.get(Community, community_id)
        for entry in entries:
            found = classify(entry, names)
            if isinstance(found, Found):
                if found.kind == "unban":
                    lift_from_discord(session, SCHEDULER, community_id, found.user_id, ("ban",),
                                      f"unbanned in Discord: {found.reason or NO_REASON}")
                counts["recorded"] += record(session, SCHEDULER, community, found) is not None  # type: ignore[arg-type]
            elif found == "lift:timeout":
                lifted = lift_from_discord(session, SCHEDULER, community_id, str(entry["target_id"]), ("timeout",),
                                           f"timeout removed in Discord: {entry.get('reason') or NO_REASON}")
                counts["lifted"] += len(lifted)
        cursor.last_entry_id = str(entries[-1]["id"]) if entries else after
        cursor.last_run_at, cursor.last_error = clock.now(), ""
        session.add(cursor)
        return cursor.last_entry_id


def sync_audit_log(engine: Engine, *, settings: Settings, client: DiscordClient | None = None,
                   pages: int = PAGES_PER_RUN) -> dict[str, int]:
    """One run for every community with a guild: counts recorded, lifted, pages, errors."""
    if not settings.discord_bot_token:
        return {}
    client = client or client_for(settings)
    counts = {"recorded": 0, "lifted": 0, "pages": 0, "errors": 0}
    with Session(engine) as session:
        communities = [(c.id, guild_id_for(c, settings)) for c in session.exec(select(Community))]
    for community_id, guild in communities:
        if guild:
            _sync_one(engine, community_id, guild, client, pages, counts)  # type: ignore[arg-type]
    return counts


def _sync_one(engine: Engine, community_id: int, guild: str, client: DiscordClient, pages: int,
              counts: dict[str, int]) -> None:
    with writing(engine) as session:
        after = cursor_of(session, community_id).last_entry_id
    for _ in range(pages):
        reply = client.audit_log(guild, after=after, limit=PAGE)
        if not reply.ok:
            counts["errors"] += 1
            _note_error(engine, community_id, reply.explain("View Audit Log"))
            return
        data = reply.data or {}
        entries = sorted(data.get("audit_log_entries") or [], key=lambda e: int(e["id"]))
        names = {str(u["id"]): u.get("global_name") or u.get("username") or str(u["id"])
                 for u in data.get("users") or []}
        moved = _record_page(engine, community_id, after, entries, names, counts)
        counts["pages"] += 1
        if moved is None or len(entries) < PAGE:
            return
        after = moved


def _note_error(engine: Engine, community_id: int, error: str) -> None:
    with writing(engine) as session:
        cursor = cursor_of(session, community_id)
        cursor.last_error, cursor.last_run_at = error[:500], clock.now()
        session.add(cursor)
