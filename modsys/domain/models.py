"""SQLModel tables: the system of record.

Conventions: every row belongs to a Community; enums are stored as short
strings (portable across SQLite and PostgreSQL, cheap to migrate); times are
timezone-aware UTC (see `UTCDateTime`); JSON columns hold lists/dicts only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from modsys.domain.kinds import SOURCES, kind


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC; always returns aware UTC datetimes
    (SQLite drops the zone, PostgreSQL keeps it as timestamptz)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _str(n: int, **kw: Any) -> Any:
    return Field(sa_type=sa.String(n), **kw)


def _time(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _json(**kw: Any) -> Any:
    return Field(sa_type=sa.JSON, **kw)


def _fk(target: str, **kw: Any) -> Any:
    return Field(foreign_key=target, index=True, **kw)


# --- enums -----------------------------------------------------------------


class Role(StrEnum):
    moderator = "moderator"
    leadership = "leadership"
    admin = "admin"


# The role of modsys's own placeholder account that files cases done in Discord by an
# unlinked moderator or by AutoMod: no capability, never a login, never managed.
SYSTEM_ROLE = "system"


class ActionStatus(StrEnum):
    pending_cosign = "pending_cosign"  # waiting for a second signature (two-person rule)
    active = "active"
    expired = "expired"
    revoked = "revoked"
    overturned = "overturned"
    modified = "modified"


ActionSource = StrEnum("ActionSource", {name: name for name in SOURCES})  # type: ignore[misc]  # modsys.domain.kinds


class EvidenceKind(StrEnum):
    text = "text"
    link = "link"
    message_snapshot = "message_snapshot"
    file = "file"


class Visibility(StrEnum):
    public = "public"  # the appellant sees it
    private = "private"  # staff only


class FlagStatus(StrEnum):
    open = "open"
    dismissed = "dismissed"
    actioned = "actioned"
    triage = "triage"  # live triage (modsys.adapters.discord.gateway.triage): waits for its score; opened as automated detection or deleted


class ScoreState(StrEnum):
    pending = "pending"  # waiting for the scoring worker
    scored = "scored"
    unsupported_language = "unsupported_language"  # left for humans, unscored
    empty = "empty"  # nothing to score
    failed = "failed"


class AppealStatus(StrEnum):
    submitted = "submitted"
    in_review = "in_review"
    escalated = "escalated"
    decided = "decided"
    withdrawn = "withdrawn"


OPEN_APPEAL_STATES = (AppealStatus.submitted, AppealStatus.in_review, AppealStatus.escalated)


class AppealOutcome(StrEnum):
    upheld = "upheld"
    overturned = "overturned"
    modified = "modified"


class Channel(StrEnum):
    """Where a staff notification goes; each maps to a configurable webhook. The
    member is told by the bot's DM, never a webhook (modsys.domain.events.MemberEvent)."""

    modlog = "modlog"
    appeals = "appeals"
    leadership = "leadership"


class OutboxStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    dead = "dead"  # gave up after max attempts; shown to admins, retryable
    skipped = "skipped"  # couldn't be made (no webhook, no key, row gone); shown to admins, retryable


# Left the queue without being sent: only a retry sends them.
NOT_DELIVERED = (OutboxStatus.dead, OutboxStatus.skipped)


# --- tables ----------------------------------------------------------------


class Community(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("discord_guild_id", name="uq_community_discord_guild_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    slug: str = _str(64, unique=True)
    name: str = _str(200)
    platform: str = _str(32, default="discord")
    policy_path: str = _str(500)
    created_at: datetime = _time()
    discord_guild_id: Optional[str] = _str(32, default=None)  # the Discord server it moderates (unique)


class PolicyVersion(SQLModel, table=True):
    """The text of every policy version ever loaded, so a cited version can be read later."""

    __table_args__ = (sa.UniqueConstraint("community_id", "version"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    version: str = _str(64)
    label: str = _str(100, default="")
    content: str = Field(sa_type=sa.Text)
    loaded_at: datetime = _time()


class WebhookEndpoint(SQLModel, table=True):
    """A Discord webhook per community and channel. The URL is a secret."""

    __table_args__ = (sa.UniqueConstraint("community_id", "channel"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    channel: str = _str(32)
    url: str = _str(500)
    # Set when Discord said the webhook is gone (401/404): nothing is posted to it
    # again until an admin sets a URL (`set_webhook` clears it).
    disabled_at: Optional[datetime] = _time(default=None, nullable=True)
    disabled_reason: str = _str(300, default="", sa_column_kwargs={"server_default": ""})


class Member(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("community_id", "platform", "platform_user_id"),
                      # lookups by Discord id alone (most of them: one platform per community)
                      sa.Index("ix_member_community_user", "community_id", "platform_user_id"))
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    platform: str = _str(32, default="discord")
    platform_user_id: str = _str(64)
    display_name: str = _str(100)
    created_at: datetime = _time()


class StaffUser(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("community_id", "discord_user_id", name="uq_staffuser_discord_user"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    username: str = _str(64, unique=True)
    password_hash: str = _str(256)
    role: str = _str(16)
    active: bool = True
    # Changing this token invalidates every session of the user (logout, deactivation).
    session_token: str = _str(64)
    created_at: datetime = _time()
    discord_user_id: Optional[str] = _str(32, default=None)  # unique per community (set by an admin, or OAuth)
    # Two-factor (TOTP, RFC 6238): the secret exists from enrolment; it counts once confirmed.
    totp_secret: Optional[str] = _str(64, default=None)
    totp_enabled_at: Optional[datetime] = _time(default=None)
    totp_last_step: Optional[int] = Field(default=None, sa_type=sa.BigInteger)  # a code is used once


class ApiKey(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    name: str = _str(100)
    prefix: str = _str(16, index=True)  # shown to identify the key; the rest is only hashed
    key_hash: str = _str(128)
    role: str = _str(16)  # "reporter" (flags only), "moderator", "leadership"
    created_by_id: Optional[int] = _fk("staffuser.id", default=None)
    created_at: datetime = _time()
    revoked_at: Optional[datetime] = _time(default=None)


class Flag(SQLModel, table=True):
    """A reported message: one row per message, with a count of reporters."""

    __table_args__ = (
        sa.UniqueConstraint("community_id", "platform_message_id"),
        sa.Index("ix_flag_queue", "community_id", "status", "priority", "max_score"),
        sa.Index("ix_flag_scoring", "score_state", "claimed_until"),
        sa.Index("ix_flag_community_channel", "community_id", "channel_name"),  # the queue's channel filter
        sa.Index("ix_flag_community_language", "community_id", "language"),  # the queue's language filter
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    platform_message_id: str = _str(64)
    channel_id: str = _str(64)
    channel_name: str = _str(100, default="")
    author_id: int = _fk("member.id")
    content: str = Field(sa_type=sa.Text)
    language: Optional[str] = _str(16, default=None)  # declared by the reporter, else detected at scoring
    # Scored by the policy's fallback model: language not detected surely, or without a model of its own.
    low_confidence: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    message_sent_at: Optional[datetime] = _time(default=None)
    reason: str = _str(500, default="")  # first reporter's reason
    reporter_count: int = 0
    status: str = _str(16, default=FlagStatus.open)
    # Scoring (the model orders the queue; it never decides).
    score_state: str = _str(32, default=ScoreState.pending)
    max_score: Optional[float] = None
    max_label: Optional[str] = _str(32, default=None)
    priority: bool = False  # a score crossed a policy threshold
    claimed_by: Optional[str] = _str(100, default=None)
    claimed_until: Optional[datetime] = _time(default=None)
    resolved_by_id: Optional[int] = _fk("staffuser.id", default=None)
    resolved_at: Optional[datetime] = _time(default=None)
    resolution_note: str = _str(2000, default="")
    created_at: datetime = _time(index=True)
    # Sum of its reporters' accuracy when they reported (modsys/services/reporting.py).
    reporter_weight: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})


class FlagReport(SQLModel, table=True):
    """One reporter's report of a flagged message (a reporter counts once)."""

    __table_args__ = (sa.UniqueConstraint("flag_id", "reporter_key"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    flag_id: int = _fk("flag.id")
    reporter_key: str = _str(120)  # source and reporter, e.g. "api3:1234" or "member17:17"
    reason: str = _str(500, default="")
    created_at: datetime = _time()


class ToxicityScore(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    flag_id: int = _fk("flag.id")
    model_name: str = _str(64)
    model_sha256: str = _str(64)
    package_version: str = _str(32)
    labels: dict[str, float] = _json()
    max_label: str = _str(32)
    max_score: float
    over_threshold: list[str] = _json(default_factory=list)
    created_at: datetime = _time(index=True)  # scoring latency over the last hour (/metrics)
    # issue 14: which backend produced it (model_sha256 is then that backend's file),
    # and whether it came from a shadow candidate (stored for comparison, never orders the queue)
    backend: str = _str(16, default="torch", sa_column_kwargs={"server_default": "torch"})
    shadow: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class Action(SQLModel, table=True):
    """A moderation case: a note, warning, timeout, ban or unban of one member."""

    __table_args__ = (sa.Index("ix_action_member", "member_id", "created_at"),
                      sa.Index("ix_action_expiry", "status", "ends_at"),
                      sa.Index("ix_action_community_created", "community_id", "created_at", "id"))
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    member_id: int = Field(foreign_key="member.id")
    kind: str = _str(16)
    moderator_id: int = _fk("staffuser.id")
    cosigner_id: Optional[int] = _fk("staffuser.id", default=None)
    cosigned_at: Optional[datetime] = _time(default=None)
    rules: list[str] = _json()
    policy_version: str = _str(64)
    public_reason: str = Field(sa_type=sa.Text)
    private_note: str = Field(sa_type=sa.Text, default="")
    starts_at: datetime = _time()
    ends_at: Optional[datetime] = _time(default=None)  # None = permanent (or not timed)
    status: str = _str(16, default=ActionStatus.active)
    source: str = _str(32, default=ActionSource.moderator)
    flag_id: Optional[int] = _fk("flag.id", default=None)
    appealable: bool = True
    appeal_deadline: Optional[datetime] = _time(default=None)
    supersedes_id: Optional[int] = _fk("action.id", default=None)  # set on a modified sanction
    lifted_by_id: Optional[int] = _fk("staffuser.id", default=None)
    lifted_at: Optional[datetime] = _time(default=None)
    lifted_reason: str = _str(2000, default="")
    created_at: datetime = _time()
    # When the message acted on was sent, for a case filed on a message without a flag
    # ("Act on this message"); a flag's case reads Flag.message_sent_at. The DSA content_date.
    content_at: Optional[datetime] = _time(default=None)

    @property
    def is_permanent(self) -> bool:
        return kind(self.kind).timed and not kind(self.kind).duration_required and self.ends_at is None


class StatementOfReasons(SQLModel, table=True):
    """What the member is told (EU DSA Art. 17). Written once when the action is
    filed; field names follow the DSA Transparency Database."""

    id: Optional[int] = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id", unique=True)
    decision_ground: str = _str(64)  # DECISION_GROUND_ILLEGAL_CONTENT | _INCOMPATIBLE_CONTENT
    category: str = _str(96)  # STATEMENT_CATEGORY_*
    decision_account: Optional[str] = _str(64, default=None)  # DECISION_ACCOUNT_SUSPENDED | _TERMINATED
    measure: str = _str(200)  # "24 hours timeout", "permanent ban", "warning"
    end_date_account_restriction: Optional[datetime] = _time(default=None)
    decision_facts: str = Field(sa_type=sa.Text)  # facts and circumstances
    ground_reference: str = Field(sa_type=sa.Text)  # the rule(s) relied on, with policy version
    ground_explanation: str = Field(sa_type=sa.Text)  # why the rule applies
    automated_detection: bool = False
    automated_decision: str = _str(64, default="AUTOMATED_DECISION_NOT_AUTOMATED")
    redress: str = Field(sa_type=sa.Text)  # how to appeal and by when
    created_at: datetime = _time()
    decision_provision: Optional[str] = _str(64, default=None)  # DECISION_PROVISION_* (modsys.domain.kinds)


class Evidence(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    action_id: Optional[int] = _fk("action.id", default=None)
    flag_id: Optional[int] = _fk("flag.id", default=None)
    appeal_id: Optional[int] = _fk("appeal.id", default=None)  # attachments of an appeal
    kind: str = _str(32)
    visibility: str = _str(16)
    content: str = Field(sa_type=sa.Text, default="")  # text, URL or snapshot
    blob: Optional[bytes] = Field(default=None, sa_type=sa.LargeBinary)
    filename: str = _str(255, default="")
    mime_type: str = _str(100, default="text/plain")
    size: int = 0
    sha256: str = _str(64)
    added_by_id: Optional[int] = _fk("staffuser.id", default=None)
    added_by_member_id: Optional[int] = _fk("member.id", default=None)
    created_at: datetime = _time()
    sensitive: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})  # blurred until clicked


class Appeal(SQLModel, table=True):
    __table_args__ = (
        # One open appeal per action, enforced by the database (races included).
        sa.Index(
            "uq_appeal_open_per_action", "action_id", unique=True,
            sqlite_where=sa.text("status IN ('submitted', 'in_review', 'escalated')"),
            postgresql_where=sa.text("status IN ('submitted', 'in_review', 'escalated')"),
        ),
        sa.Index("ix_appeal_sla", "status", "review_due_at"),
        # The moderators' queue, oldest deadline first (also how the sweep finds overdue appeals).
        sa.Index(
            "ix_appeal_review_queue", "community_id", "review_due_at", "id",
            sqlite_where=sa.text("status IN ('submitted', 'in_review')"),
            postgresql_where=sa.text("status IN ('submitted', 'in_review')"),
        ),
        # The appeals list in due order across every state (web/workspace, `modsys.reads.listing.appeals`).
        sa.Index("ix_appeal_community_due", "community_id", "review_due_at", "id"),
        # Leadership deadlines passed since the transparency rollups last looked (modsys.reads.export.rollups).
        sa.Index("ix_appeal_leadership_due", "leadership_due_at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    action_id: int = _fk("action.id")
    appellant_id: int = _fk("member.id")
    statement: str = Field(sa_type=sa.Text)
    status: str = _str(16, default=AppealStatus.submitted)
    submitted_at: datetime = _time()
    review_due_at: datetime = _time()
    reviewer_id: Optional[int] = _fk("staffuser.id", default=None)
    review_started_at: Optional[datetime] = _time(default=None)
    escalated_at: Optional[datetime] = _time(default=None)
    escalated_by_id: Optional[int] = _fk("staffuser.id", default=None)  # None = the scheduler
    escalation_reason: str = Field(sa_type=sa.Text, default="")
    recommendation: str = Field(sa_type=sa.Text, default="")  # reviewer's advice to leadership
    leadership_due_at: Optional[datetime] = _time(default=None)
    outcome: Optional[str] = _str(16, default=None)
    outcome_reasons: str = Field(sa_type=sa.Text, default="")
    modified_action_id: Optional[int] = _fk("action.id", default=None)
    decided_by_id: Optional[int] = _fk("staffuser.id", default=None)
    decided_at: Optional[datetime] = _time(default=None)
    withdrawn_at: Optional[datetime] = _time(default=None)


class AppealMessage(SQLModel, table=True):
    """The thread between the appellant and staff."""

    id: Optional[int] = Field(default=None, primary_key=True)
    appeal_id: int = _fk("appeal.id")
    author_staff_id: Optional[int] = _fk("staffuser.id", default=None)
    author_member_id: Optional[int] = _fk("member.id", default=None)
    body: str = Field(sa_type=sa.Text)
    created_at: datetime = _time()


class AppealReminder(SQLModel, table=True):
    """A reminder sent for an appeal at a share of its SLA; unique, so never twice."""

    __table_args__ = (sa.UniqueConstraint("appeal_id", "stage", "threshold"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    appeal_id: int = _fk("appeal.id")
    stage: str = _str(16)  # "review" or "leadership"
    threshold: float
    sent_at: datetime = _time()


class OfficialStatement(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    appeal_id: int = _fk("appeal.id")
    title: str = _str(200)
    body: str = Field(sa_type=sa.Text)
    author_id: int = _fk("staffuser.id")
    published_at: datetime = _time(index=True)


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained event log. `seq` is contiguous; each row's hash
    covers its content and the previous row's hash."""

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    community_id: Optional[int] = _fk("community.id", default=None)
    created_at: datetime = _time()
    actor_kind: str = _str(16)  # staff | member | system | api
    actor_id: Optional[int] = None
    actor_name: str = _str(100)
    verb: str = _str(64, index=True)
    subject_type: str = _str(32)
    subject_id: Optional[int] = None
    data: dict[str, Any] = _json(default_factory=dict)
    request_id: Optional[str] = _str(64, default=None)
    prev_hash: str = _str(64)
    hash: str = _str(64)


class AuditHead(SQLModel, table=True):
    """The chain's tip. Appends lock this row, which serialises writers and lets
    the verifier detect a deleted tail."""

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = _str(64, default="0" * 64)


class OutboxMessage(SQLModel, table=True):
    """A notification written in the same transaction as the change it reports;
    delivered later by the scheduler (at least once)."""

    __table_args__ = (sa.Index("ix_outbox_due", "status", "channel", "id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    channel: str = _str(32)
    event: str = _str(64)
    payload: dict[str, Any] = _json()
    dedupe_key: Optional[str] = _str(200, default=None, unique=True)
    status: str = _str(16, default=OutboxStatus.pending)
    attempts: int = 0
    next_attempt_at: datetime = _time()
    last_error: str = _str(500, default="")
    created_at: datetime = _time()
    sent_at: Optional[datetime] = _time(default=None)



# --- Discord enforcement, audit-log sync and drift (issue 11) ---------------------------


class EnforcementStatus(StrEnum):
    held = "held"  # the case waits for its second signature
    pending = "pending"
    done = "done"  # Discord did it (or it was already so)
    dead = "dead"  # gave up: `last_error` says what a person must fix; retryable
    skipped = "skipped"  # no longer wanted when its turn came (the case was lifted meanwhile)
    incident = "incident"  # sent by its raid incident (DM, then one bulk ban; modsys.adapters.discord.gateway.raids)


class DiscordEnforcement(SQLModel, table=True):
    """One thing Discord must do for a case ("apply" or "reverse" it), written in
    the transaction that changed the case and delivered later, in order per member."""

    __table_args__ = (sa.Index("ix_discordenforcement_due", "status", "community_id", "member_id", "id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    action_id: int = _fk("action.id")
    member_id: int = Field(foreign_key="member.id")
    op: str = _str(16)  # "apply" | "reverse"
    dedupe_key: str = _str(100, unique=True)  # "<action>:<op>[:<n>]": queued once per change
    delete_message_seconds: int = 0  # bans: how much of the member's recent messages Discord deletes
    status: str = _str(16, default=EnforcementStatus.pending)
    attempts: int = 0
    next_attempt_at: datetime = _time()
    last_error: str = _str(500, default="")
    result: str = _str(200, default="")  # what Discord now does, e.g. "banned", "timed out until ..."
    dm_status: Optional[str] = _str(16, default=None)  # None: not tried | "delivered" | "failed" | "none"
    dm_detail: str = _str(300, default="")
    created_at: datetime = _time()
    done_at: Optional[datetime] = _time(default=None)


class DiscordImport(SQLModel, table=True):
    """A case recorded from the guild's audit log (done outside modsys)."""

    __table_args__ = (sa.UniqueConstraint("community_id", "audit_entry_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    action_id: int = _fk("action.id")
    audit_entry_id: str = _str(32)  # the Discord audit log entry (or "drift:<user id>" for a drift import)
    action_type: int
    executor_discord_id: Optional[str] = _str(32, default=None)
    discord_reason: str = _str(600, default="")
    reason_completed_at: Optional[datetime] = _time(default=None)  # None: "reason needed"
    created_at: datetime = _time()


class DiscordSyncCursor(SQLModel, table=True):
    """A community's Discord bookkeeping: where the audit-log sync stopped, and the drift check."""

    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", unique=True)
    last_entry_id: str = _str(32, default="0")
    last_run_at: Optional[datetime] = _time(default=None)
    last_error: str = _str(500, default="")
    drift_requested_at: Optional[datetime] = _time(default=None)  # "check drift now" from /admin
    drift_checked_at: Optional[datetime] = _time(default=None)


class DiscordDrift(SQLModel, table=True):
    """A difference between modsys's active bans/timeouts and Discord's, found by
    the daily drift check; open until fixed or no longer true."""

    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    kind: str = _str(16)  # "ban" | "timeout"
    problem: str = _str(32)  # "missing_case" (only in Discord) | "missing_in_discord"
    platform_user_id: str = _str(64)
    action_id: Optional[int] = _fk("action.id", default=None)
    found_at: datetime = _time()
    resolved_at: Optional[datetime] = _time(default=None)
    resolution: str = _str(200, default="")
    # What Discord's ban list said (a "missing_case" import keeps them as the draft).
    discord_reason: str = _str(600, default="", sa_column_kwargs={"server_default": ""})
    user_name: str = _str(100, default="", sa_column_kwargs={"server_default": ""})


# --- Discord front door (issue 12) -------------------------------------------


class DiscordDraft(SQLModel, table=True):
    """What a Discord context-menu command saw (the reported message, the member),
    kept between the command and the modal that completes it: a modal submission
    carries only its own fields, so the message travels here, never through the
    client. Short-lived; `modsys.adapters.discord.front_door` refuses and prunes old ones."""

    id: str = Field(sa_type=sa.String(32), primary_key=True)  # random, in the modal's custom_id
    community_id: int = _fk("community.id")
    discord_user_id: str = _str(32)  # only the user who opened the modal may submit it
    purpose: str = _str(16)  # "report" | "act"
    data: dict[str, Any] = _json(default_factory=dict)
    created_at: datetime = _time(index=True)


class DiscordInteraction(SQLModel, table=True):
    """Each Discord interaction id, recorded when it arrives: Discord sends an
    interaction once, so a second arrival is a replay and gets the first reply
    (`modsys.adapters.discord.interaction_log`). The primary key makes that hold across
    processes. Pruned once no signature for it can still be fresh."""

    id: str = Field(sa_type=sa.String(32), primary_key=True)  # the interaction's snowflake
    received_at: datetime = _time(index=True)
    reply: Optional[dict[str, Any]] = _json(default=None, nullable=True)  # None: still being answered


# --- issue 13: misuse of the reporting mechanism (DSA Art. 23) ---------------------------


class ReporterStanding(SQLModel, table=True):
    """A reporter (FlagReport.reporter_key) who was warned or suspended for reports
    that were repeatedly dismissed. No row: in good standing."""

    __table_args__ = (sa.UniqueConstraint("community_id", "reporter_key"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    reporter_key: str = _str(120)
    warned_at: Optional[datetime] = _time(default=None)
    suspended_until: Optional[datetime] = _time(default=None)
    suspensions: int = 0
    dismissed: int = 0  # dismissed reports in the policy's lookback when last evaluated
    resolved: int = 0  # of which resolved (actioned or dismissed)
    updated_at: datetime = _time()


# --- workspace (issue 13b): claims, two-factor recovery codes, search indexes -------------------


class ClaimSubject(StrEnum):
    flag = "flag"
    appeal = "appeal"


class WorkClaim(SQLModel, table=True):
    """A moderator holding a flag or an appeal (one holder per item). Separate from
    `Flag.claimed_by`, which is the scoring worker's lease."""

    __table_args__ = (sa.UniqueConstraint("subject_type", "subject_id"),
                      sa.Index("ix_workclaim_holder", "staff_id", "claimed_at"))
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    subject_type: str = _str(16)
    subject_id: int
    staff_id: int = Field(foreign_key="staffuser.id")
    claimed_at: datetime = _time()
    touched_at: datetime = _time(index=True)  # the idle release counts from here


class RecoveryCode(SQLModel, table=True):
    """A one-time two-factor recovery code, stored hashed."""

    id: Optional[int] = Field(default=None, primary_key=True)
    staff_id: int = _fk("staffuser.id")
    code_hash: str = _str(256)
    used_at: Optional[datetime] = _time(default=None)


# Full-text search (modsys/reads/search.py) on PostgreSQL: GIN indexes over the same
# expressions the queries use. Expression indexes exist on PostgreSQL only
# (SQLite searches with LIKE), so they are DDL here and in migrations 0009 and 0012, not
# `sa.Index` objects the model comparison would try to create on SQLite.
SEARCH_INDEXES: dict[str, tuple[str, str]] = {
    "ix_action_public_reason_fts": ("action", "USING gin (to_tsvector('simple'::regconfig, public_reason))"),
    "ix_evidence_content_fts": ("evidence", "USING gin (to_tsvector('simple'::regconfig, content))"),
    "ix_appeal_statement_fts": ("appeal", "USING gin (to_tsvector('simple'::regconfig, statement))"),
    "ix_member_name_prefix": ("member", "(community_id, lower(display_name) text_pattern_ops)"),
    "ix_flag_content_fts": ("flag", "USING gin (to_tsvector('simple'::regconfig, content))"),
    "ix_flagreport_reason_fts": ("flagreport", "USING gin (to_tsvector('simple'::regconfig, reason))"),
}


def search_index_ddl() -> list[tuple[str, str]]:
    """(table, CREATE INDEX statement) for each search index."""
    return [(table, f"CREATE INDEX IF NOT EXISTS {name} ON {table} {body}")
            for name, (table, body) in SEARCH_INDEXES.items()]


for _table, _ddl in search_index_ddl():
    event.listen(SQLModel.metadata.tables[_table], "after_create",
                    sa.DDL(_ddl).execute_if(dialect="postgresql"))


# --- the gateway (issue 21): message log -------------------------------------------------


class LoggedMessage(SQLModel, table=True):
    """A message in a channel the policy's `message_log` names, as the gateway saw
    it: its content, attachments and edits, sealed (modsys.infra.crypto, bound to the
    community and message id), kept until `expires_at` unless it became evidence."""

    __table_args__ = (sa.UniqueConstraint("community_id", "platform_message_id"),
                      sa.Index("ix_loggedmessage_author", "community_id", "author_id", "changed_at"),
                      sa.Index("ix_loggedmessage_channel", "community_id", "channel_id", "platform_message_id"))
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    platform_message_id: str = _str(32)
    channel_id: str = _str(32)
    author_id: str = _str(32)  # the author's Discord user id
    sealed: bytes = Field(sa_type=sa.LargeBinary)  # {"content", "attachments", "edits"}, encrypted
    sent_at: datetime = _time()
    changed_at: datetime = _time()  # the last create, edit or deletion seen
    edited_at: Optional[datetime] = _time(default=None)
    deleted_at: Optional[datetime] = _time(default=None)
    expires_at: datetime = _time(index=True)  # purged then, unless kept as evidence
    kept_as_evidence: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


# --- the gateway (issue 21): evidence vault ----------------------------------------------


class VaultStatus(StrEnum):
    pending = "pending"  # waiting for the fetch job
    stored = "stored"  # downloaded: `evidence_id` holds the file
    refused = "refused"  # never downloaded: `reason` says why (host, redirect, size, type, link dead)


class VaultFile(SQLModel, table=True):
    """A Discord attachment that became evidence (or a report's candidate), to be
    downloaded while its signed link still works (modsys.adapters.discord.vault)."""

    __table_args__ = (sa.Index("ix_vaultfile_due", "status", "next_attempt_at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    action_id: Optional[int] = _fk("action.id", default=None)
    flag_id: Optional[int] = _fk("flag.id", default=None)
    url: str = Field(sa_type=sa.Text)
    filename: str = _str(255, default="")
    visibility: str = _str(16, default=Visibility.private)
    status: str = _str(16, default=VaultStatus.pending)
    attempts: int = 0
    next_attempt_at: datetime = _time()
    reason: str = _str(500, default="")
    evidence_id: Optional[int] = _fk("evidence.id", default=None)
    created_at: datetime = _time()
    done_at: Optional[datetime] = _time(default=None)


# --- the gateway (issue 21): raids ------------------------------------------------------------


class RaidStatus(StrEnum):
    open = "open"  # detected: moderators decide
    banning = "banning"  # lockdown and bans on their way to Discord
    done = "done"  # banned (and locked down)
    dismissed = "dismissed"  # not a raid
    undone = "undone"  # the response was lifted as a whole


class RaidIncident(SQLModel, table=True):
    """A join burst or repeated-message burst the gateway saw, and the response to it."""

    __table_args__ = (sa.Index("ix_raidincident_open", "community_id", "status", "last_seen_at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    trigger: str = _str(16)  # "joins" | "messages"
    status: str = _str(16, default=RaidStatus.open)
    started_at: datetime = _time()
    last_seen_at: datetime = _time()
    responded_by_id: Optional[int] = _fk("staffuser.id", default=None)
    responded_at: Optional[datetime] = _time(default=None)
    lockdown_until: Optional[datetime] = _time(default=None)  # invites and DMs paused until then
    lockdown_state: str = _str(200, default="")  # "", "pending", "done", "lifting", "lifted", or the error
    bulk_ban_result: str = _str(500, default="")
    undone_by_id: Optional[int] = _fk("staffuser.id", default=None)
    undone_at: Optional[datetime] = _time(default=None)


class RaidAccount(SQLModel, table=True):
    """An account involved in a raid incident, and its case once banned."""

    __table_args__ = (sa.UniqueConstraint("incident_id", "platform_user_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    incident_id: int = _fk("raidincident.id")
    platform_user_id: str = _str(32)
    display_name: str = _str(100, default="")
    seen_at: datetime = _time()
    action_id: Optional[int] = _fk("action.id", default=None)


# --- the gateway (issue 21): modmail ------------------------------------------------------------


class ModmailThread(SQLModel, table=True):
    """A member writing to the bot, and the moderators answering (modsys.adapters.discord.gateway.modmail)."""

    __table_args__ = (sa.Index("ix_modmailthread_member", "community_id", "member_id", "status"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    member_id: int = Field(foreign_key="member.id")
    status: str = _str(16, default="open")  # "open" | "closed"
    created_at: datetime = _time()
    last_message_at: datetime = _time()
    forum_thread_id: Optional[str] = _str(32, default=None)  # the post in the policy's forum channel


class ModmailMessage(SQLModel, table=True):
    """One message of a thread: the member's DM ("in"), a moderator's reply or modsys's
    answer ("out": sent as a DM by the `deliver_modmail` job, retried), or its copy in
    the forum post ("forum")."""

    __table_args__ = (sa.UniqueConstraint("community_id", "platform_message_id"),
                      sa.Index("ix_modmailmessage_due", "status", "next_attempt_at"))
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = _fk("community.id")
    thread_id: int = _fk("modmailthread.id")
    direction: str = _str(8)  # "in" | "out" | "forum"
    body: str = Field(sa_type=sa.Text, default="")
    author_staff_id: Optional[int] = _fk("staffuser.id", default=None)
    appeal_action_id: Optional[int] = _fk("action.id", default=None)  # "out": answer with this case's appeal link
    platform_message_id: Optional[str] = _str(32, default=None)  # "in": the DM (a replayed event is kept once)
    status: str = _str(16, default="sent")  # "pending" | "sent" | "failed" (with `last_error`)
    attempts: int = 0
    next_attempt_at: datetime = _time()
    last_error: str = _str(500, default="")
    created_at: datetime = _time()


# --- issue 18: server-side halves of what a browser cookie carries -------------------------


class BrowserGrant(SQLModel, table=True):
    """The server's record of a short-lived grant a cookie holds (Sign in with
    Discord's OAuth state, a member's "My cases" sign-in). The cookie is signed but
    a copy of it stays valid until it expires; deleting this row ends the grant
    everywhere (sign-out, a used state). Only the token's SHA-256 is stored."""

    id: str = Field(sa_type=sa.String(64), primary_key=True)
    purpose: str = _str(16)  # "oauth_state" | "member"
    expires_at: datetime = _time(index=True)


# The flag queue's order (modsys.reads.queries.flag_queue) as an index: PostgreSQL sorts NULL
# first in a DESC column unless told, SQLite sorts it last always, so the DDL differs
# by dialect and lives here (and in migration 0015), not as an `sa.Index`.
QUEUE_ORDER_INDEX = "ix_flag_queue_order"
_QUEUE_ORDER_COLUMNS = "community_id, status, priority DESC, max_score DESC{nulls}, reporter_weight DESC, created_at, id"


def queue_order_index_ddl(dialect: str) -> str:
    nulls = " NULLS LAST" if dialect == "postgresql" else ""
    return f"CREATE INDEX IF NOT EXISTS {QUEUE_ORDER_INDEX} ON flag ({_QUEUE_ORDER_COLUMNS.format(nulls=nulls)})"


for _dialect in ("postgresql", "sqlite"):
    event.listen(SQLModel.metadata.tables["flag"], "after_create",
                 sa.DDL(queue_order_index_ddl(_dialect)).execute_if(dialect=_dialect))


# --- issue 23: transparency numbers read from rollups ------------------------------------


class TransparencyRollup(SQLModel, table=True):
    """One number of the public transparency report (modsys.reads.export.transparency): a
    series' value for one community and one calendar month (UTC), recounted by the
    scheduler for the months that changed since it last looked."""

    community_id: int = Field(foreign_key="community.id", primary_key=True)
    month: str = Field(sa_type=sa.String(7), primary_key=True)  # "2026-03"
    metric: str = Field(sa_type=sa.String(64), primary_key=True)
    key: str = Field(sa_type=sa.String(200), primary_key=True)  # "" when the metric has one series
    unit: str = _str(8)
    value: Optional[float] = None


class TransparencyCursor(SQLModel, table=True):
    """How far the rollups have read the audit chain (one row)."""

    id: int = Field(default=1, primary_key=True)
    audit_seq: int = 0
    counted_at: Optional[datetime] = _time(default=None)
