"""Read models for the pages: what /admin and a case page show about Discord."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from modsys.adapters import discord
from modsys.adapters.discord import cases, drift, enforcement
from modsys.domain import events
from modsys.domain.models import (
    Action,
    DiscordDrift,
    DiscordEnforcement,
    DiscordImport,
    DiscordSyncCursor,
    Member,
    OutboxMessage,
    OutboxStatus,
)
from modsys.infra.config import Settings

# The member notices that carry the appeal link: the sanction's, or (for a case done
# in Discord) the one sent once its statement of reasons is written.
_LINK_NOTICES = (events.MemberNotified.name, events.ActionReasonCompleted.name)


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
class NeedsReason:
    action: Action
    member: Member
    executor: str  # who did it in Discord
    discord_reason: str


@dataclass(frozen=True)
class ReasonNeeded:
    """The moderators' list "done in Discord, reason needed": the count and the oldest cases."""

    count: int
    cases: list[NeedsReason]


def reason_needed(session: Session, community_id: int, limit: int = 10) -> ReasonNeeded:
    rows = []
    for imported in cases.reason_needed(session, community_id, limit):
        action = session.get(Action, imported.action_id)
        member = session.get(Member, action.member_id) if action else None
        if action is not None and member is not None:
            rows.append(NeedsReason(action, member, cases.executor_label(session, imported), imported.discord_reason))
    return ReasonNeeded(cases.reason_needed_count(session, community_id), rows)


@dataclass(frozen=True)
class CaseDiscord:
    enforcement: enforcement.EnforcementView
    imported: DiscordImport | None
    executor: str | None  # who did it in Discord, for a recorded case
    link_notice: OutboxMessage | None  # the latest DM that carries the appeal link

    @property
    def reason_needed(self) -> bool:
        return self.imported is not None and self.imported.reason_completed_at is None

    @property
    def link_sent(self) -> str:
        """What became of the member's appeal link, as its DM's outbox row says (never assumed)."""
        if self.link_notice is None:
            return "No DM with it was sent: send it to the member by hand."
        if self.link_notice.status == OutboxStatus.sent:
            return "It was sent to the member by DM."
        if self.link_notice.status == OutboxStatus.pending:
            return "It is queued for the member's DM."
        return f"Not notified: {self.link_notice.last_error}; send it by hand."


def _link_notice(session: Session, action: Action) -> OutboxMessage | None:
    return session.exec(select(OutboxMessage).where(
        OutboxMessage.community_id == action.community_id, OutboxMessage.channel == events.member_channel(action.id),
        OutboxMessage.event.in_(_LINK_NOTICES))  # type: ignore[attr-defined]
        .order_by(OutboxMessage.id.desc())).first()  # type: ignore[union-attr]


def for_case(session: Session, action: Action) -> CaseDiscord:
    imported = cases.imported_of(session, action.id)  # type: ignore[arg-type]
    return CaseDiscord(enforcement.view(session, action), imported,
                       cases.executor_label(session, imported) if imported else None, _link_notice(session, action))
