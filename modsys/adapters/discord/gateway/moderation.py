"""Moderation seen live: GUILD_AUDIT_LOG_ENTRY_CREATE (gateway-events.mdx; the
GUILD_MODERATION intent and View Audit Log) is recorded like the audit-log sync
records a page, and after a new session (READY: whatever happened while no
session was open was never sent) the gateway catches up from REST: the audit
log from the sync's cursor, and the guild's bans against modsys's (drift).

Nothing is recorded twice: an entry is one `DiscordImport` per (community,
entry id), whichever of the live event and the sync comes first.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from modsys.adapters.discord.audit_log import classify, sync_audit_log
from modsys.adapters.discord.cases import NO_REASON, Found, lift_from_discord, record
from modsys.adapters.discord.drift import check_drift
from modsys.domain.actors import SCHEDULER
from modsys.domain.models import Community, DiscordImport
from modsys.infra.config import Settings
from modsys.infra.db import writing

log = logging.getLogger(__name__)
CATCH_UP_PAGES = 1000  # one catch-up drains the backlog (Discord keeps 45 days)


def record_entry(engine: Engine, community_id: int, entry: dict[str, Any]) -> bool:
    """Record one audit log entry seen on the gateway; False when it was recorded before."""
    with writing(engine) as session:
        if session.exec(select(DiscordImport.id).where(DiscordImport.community_id == community_id,
                                                       DiscordImport.audit_entry_id == str(entry.get("id")))).first():
            return False  # the sync (or a replayed event) recorded it: don't lift or record again
        found = classify(entry, {})
        community = session.get(Community, community_id)
        if isinstance(found, Found):
            if found.kind == "unban":
                lift_from_discord(session, SCHEDULER, community_id, found.user_id, ("ban",),
                                  f"unbanned in Discord: {found.reason or NO_REASON}")
            return record(session, SCHEDULER, community, found) is not None  # type: ignore[arg-type]
        if found == "lift:timeout":
            lift_from_discord(session, SCHEDULER, community_id, str(entry["target_id"]), ("timeout",),
                              f"timeout removed in Discord: {entry.get('reason') or NO_REASON}")
        return False


def catch_up(engine: Engine, settings: Settings) -> dict[str, Any]:
    """What a new session missed, from REST: the audit log, then the bans."""
    counts: dict[str, Any] = {"audit_log": sync_audit_log(engine, settings=settings, pages=CATCH_UP_PAGES)}
    counts["drift"] = check_drift(engine, settings=settings)
    log.info("gateway caught up from REST: %s", counts)
    return counts
