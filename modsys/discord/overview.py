"""Read models for the pages: what /admin and a case page show about Discord."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from modsys import discord
from modsys.config import Settings
from modsys.discord import cases, drift, enforcement
from modsys.models import (
    Action,
    DiscordDrift,
    DiscordEnforcement,
    DiscordImport,
    DiscordSyncCursor,
)


@dataclass(frozen=True)
class AdminOverview:
    configured: str  # "" when modsys acts in Discord, else why not
    guild_id: str | None
    failed: list[DiscordEnforcement]
    drift: list[DiscordDrift]
    reason_needed: list[DiscordImport]
    cursor: DiscordSyncCursor | None


def admin_overview(session: Session, community_id: int, settings: Settings) -> AdminOverview:
    guild, why = discord.target(session, community_id, settings)
    cursor = session.exec(select(DiscordSyncCursor).where(DiscordSyncCursor.community_id == community_id)).first()
    return AdminOverview(why, guild, enforcement.failed(session, community_id), drift.open_findings(session, community_id),
                         cases.reason_needed(session, community_id), cursor)


@dataclass(frozen=True)
class CaseDiscord:
    enforcement: enforcement.EnforcementView
    imported: DiscordImport | None
    executor: str | None  # who did it in Discord, for a recorded case

    @property
    def reason_needed(self) -> bool:
        return self.imported is not None and self.imported.reason_completed_at is None


def for_case(session: Session, action: Action) -> CaseDiscord:
    imported = cases.imported_of(session, action.id)  # type: ignore[arg-type]
    return CaseDiscord(enforcement.view(session, action), imported,
                       cases.executor_label(session, imported) if imported else None)
