"""Request and response models of the JSON API (`/api/v1`).

They parse and describe; the services decide. The OpenAPI document is
generated from these very models (see `web.api.openapi_document`), so what
is documented is what is validated. Lengths the services check against the
policy (evidence size, reasons) are left to the services; the limits here
are the fixed ones a bot should know up front.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from modsys.domain.models import AppealOutcome, AppealStatus, FlagStatus, Visibility
from modsys.domain.policy import SanctionKind, parse_duration
from modsys.services.flags import MAX_MESSAGE_CHARS
from modsys.services.members import DISCORD_ID

MAX_PAGE = 100
MAX_OFFSET = 1_000_000_000  # keeps OFFSET inside a database integer


def _storable(value: str) -> str:
    # PostgreSQL text can't hold NUL, and a lone surrogate (valid in JSON
    # escapes) can't be encoded: refuse both here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode (it holds a lone surrogate)") from None
    return value


# `_storable` as the document shows it (JSON Schema patterns are ECMA-262): no NUL.
# (Lone surrogates are refused too; a class over them breaks validators' ECMA translation.)
STORABLE_CHAR = r"[^\u0000]"
# A character that is storable and that Python's str.strip() keeps (the services trim
# texts before checking them); ECMA's \s lacks the \x1c-\x1f separators and \x85.
KEPT_CHAR = r"[^\s\u001c-\u001f\u0085\u0000]"


def at_least(n: int) -> str:
    """A pattern for storable text of at least n characters once trimmed."""
    if n <= 0:
        return rf"^{STORABLE_CHAR}*$"
    middle = "" if n == 1 else rf"{STORABLE_CHAR}{{{n - 2},}}{KEPT_CHAR}"
    return rf"^{STORABLE_CHAR}*{KEPT_CHAR}{middle}{STORABLE_CHAR}*$"


def text(min_length: int | None = None, max_length: int | None = None) -> Any:
    """A string with its length bounds checked first, then `_storable`."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length), AfterValidator(_storable),
                     Field(json_schema_extra={"pattern": at_least(0)})]


Text = text()

# sent_at's years as the document shows them: from Discord's first messages (2015;
# modsys.services._base.EARLIEST_MESSAGE) to the DSA database's last content_date (2037).
SENT_AT_YEARS = r"^20(1[5-9]|2[0-9]|3[0-7])-"


def name_text(max_length: int) -> Any:
    """A name: at least one character that isn't white space, as the services require."""
    return Annotated[text(1, max_length), Field(json_schema_extra={"pattern": at_least(1)})]
Snowflake = Annotated[text(1, 64), Field(description="A platform id (a Discord snowflake) as a string.")]


def _user_id(value: str) -> str:
    if not DISCORD_ID.fullmatch(value):
        raise ValueError("a Discord user id is a number of 17-20 digits (a snowflake)")
    return value


# The rule lives in modsys.services.members; the document shows it as a pattern.
UserId = Annotated[str, AfterValidator(_user_id), WithJsonSchema(
    {"type": "string", "pattern": f"^{DISCORD_ID.pattern}$", "examples": ["345678901234567890"],
     "description": "A Discord user id: 17-20 digits (a snowflake), as a string."})]


def _duration(value: object) -> timedelta | None:
    if value is None or value == "permanent":
        return None
    if not isinstance(value, str):
        raise ValueError("a duration is a string such as '30m', '24h', '7d' or 'permanent'")
    return parse_duration(value)


Duration = Annotated[
    timedelta | None,
    BeforeValidator(_duration),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^(\s*\d+\s*[smhdw]\s*|permanent)$",
                               "examples": ["30m", "24h", "7d", "2w", "permanent"]}, {"type": "null"}],
                    "description": "A number with a unit (m, h, d, w), or 'permanent' / null for a ban "
                                   "without end. Notes, warnings and unbans take none."}),
]


def _iso_text(value: object) -> object:
    # A bare number would be read as seconds since 1970 (`0` became 1970-01-01):
    # the API takes a date-time written out, with its time zone.
    if value is not None and not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with a time zone, e.g. '2026-05-01T12:00:00Z'")
    return value


def _utc(value: datetime | None) -> datetime | None:
    try:
        return None if value is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored


class _Query(BaseModel):
    model_config = ConfigDict(extra="ignore")  # cache-busters and the like are harmless in a query string


class _Out(BaseModel):
    pass


# --- errors -----------------------------------------------------------------


class FieldError(_Out):
    field: str = Field(description="Dotted path of the field, e.g. 'content' or 'evidence.0.kind'.")
    reason: str


class ErrorOut(_Out):
    error: str = Field(description="What went wrong, in words a person can act on.")
    field: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


# --- flags ------------------------------------------------------------------


class FlagReportIn(_In):
    """A member reports a message (the main entry for a chat bot)."""

    message_id: Snowflake
    channel_id: Snowflake
    channel_name: text(max_length=100) = ""
    author_id: UserId = Field(description="Discord user id of the message's author.")
    author_name: name_text(100)
    content: text(max_length=MAX_MESSAGE_CHARS) = Field(
        description="The message text; empty for an attachment-only message.")
    reporter: text(1, 64) = Field(
        description="Platform user id of the member reporting it. Each reporter counts once per message.")
    reason: text(max_length=500) = ""
    sent_at: Annotated[AwareDatetime | None, BeforeValidator(_iso_text), AfterValidator(_utc), Field(
        json_schema_extra={"pattern": SENT_AT_YEARS},
        description="When the message was sent, with its time zone: not before 2015-01-01 (Discord's first "
                    "messages) and not in the future.")] = None
    language: text(max_length=16) | None = None


class FlagReceipt(_Out):
    flag_id: int
    reporter_count: int
    counted: bool = Field(description="False when this reporter had already reported this message.")
    status: str
    score_state: str = Field(description="'pending' until the scoring worker has read the message.")
    warning: str | None = Field(default=None, description="Set when this reporter was warned for reports that "
                                "were repeatedly dismissed (EU DSA Art. 23); pass it on to the reporter.")


class MemberOut(_Out):
    platform: str
    platform_user_id: str
    display_name: str


class FlagDetails(_Out):
    """Only for moderator and leadership keys."""

    channel_name: str
    content: str
    author: MemberOut | None
    reason: str
    language: str | None
    message_sent_at: datetime | None
    max_score: float | None
    max_label: str | None
    priority: bool
    resolved_at: datetime | None
    resolution_note: str


class FlagOut(_Out):
    id: int
    message_id: str
    channel_id: str
    status: str
    score_state: str
    reporter_count: int
    created_at: datetime
    details: FlagDetails | None = Field(description="Null for reporter keys.")


class FlagListQuery(_Query):
    status: FlagStatus | None = None
    message_id: text(1, 64) | None = Field(None, description="Only the flag of this message (platform message id).")
    author_id: text(1, 64) | None = Field(None, description="Only flags of this author (platform user id).")
    channel_id: text(1, 64) | None = Field(None, description="Only flags in this channel (platform channel id).")
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class FlagPage(_Out):
    items: list[FlagOut]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last page.")


# --- actions ----------------------------------------------------------------


class EvidenceIn(_In):
    """Text or a link. Files can't be uploaded over the API; attach them in the dashboard."""

    kind: Literal["text", "link"]
    visibility: Visibility = Field(Visibility.private, description="'public': the member sees it; "
                                                                   "'private': staff only (the default).")
    content: text(1)


class MemberRef(_In):
    platform_user_id: UserId
    display_name: name_text(100)


class ActionCreate(_In):
    member: MemberRef
    kind: SanctionKind
    rules: list[text(1, 40)] = Field(min_length=1, max_length=20)
    public_reason: Text = Field(description="What the member reads (at least 10 characters, except for a note).")
    facts: Text = ""
    private_note: Text = ""
    duration: Duration = None
    evidence: list[EvidenceIn] = Field(default_factory=list)


class StatementOut(_Out):
    """The statement of reasons (EU DSA Art. 17), with DSA Transparency Database field names."""

    decision_ground: str
    category: str
    decision_account: str | None
    measure: str
    end_date_account_restriction: datetime | None
    decision_facts: str
    ground_reference: str
    ground_explanation: str
    automated_detection: bool
    automated_decision: str
    redress: str
    decision_provision: str | None = None
    created_at: datetime | None = None


class EvidenceOut(_Out):
    id: int
    kind: str
    visibility: Visibility
    content: str = Field(description="Text, link or message snapshot; empty for a file (files are not served "
                                     "over the API).")
    filename: str
    mime_type: str
    size: int
    sha256: str
    created_at: datetime


class PublicEvidenceOut(_Out):
    """Evidence as the sanctioned member sees it (public items only; files by link)."""

    id: int
    kind: str
    created_at: datetime
    sha256: str
    content: str | None = None
    filename: str | None = None
    mime_type: str | None = None
    size: int | None = None
    download_url: str | None = None


class PublicActionOut(_Out):
    """An action as the sanctioned member sees it: never the private note, who filed it or the flag."""

    id: int
    kind: str
    status: str
    rules: list[str]
    public_reason: str
    starts_at: datetime
    ends_at: datetime | None
    appeal_deadline: datetime | None


class ActionSummary(_Out):
    id: int
    kind: SanctionKind
    status: str
    member: MemberOut
    rules: list[str]
    policy_version: str
    public_reason: str
    moderator: str | None
    cosigner: str | None
    source: str
    flag_id: int | None
    starts_at: datetime
    ends_at: datetime | None
    appealable: bool
    appeal_deadline: datetime | None
    supersedes_id: int | None
    created_at: datetime


class DiscordStepOut(_Out):
    id: int
    op: str = Field(description="apply, reverse (lift) or notify (DM only)")
    status: str = Field(description="held (waits for a second signature), pending, done, dead (failed), skipped")
    result: str | None = Field(description="What Discord now does, e.g. 'banned'.")
    error: str | None = Field(description="Why it failed or waits, phrased for a person to act on.")
    attempts: int
    done_at: str | None


class DiscordStateOut(_Out):
    """Enforcement in Discord (docs/discord.md)."""

    state: str = Field(description="not_configured, nothing, held, pending, applied, failed or skipped")
    summary: str
    dm: str | None = Field(description="'member notified by DM' or 'not notified: ...'; null before the DM attempt.")
    steps: list[DiscordStepOut]


class ActionOut(ActionSummary):
    private_note: str
    statement_of_reasons: StatementOut | None = Field(description="Null for a note (nothing is told to the member).")
    evidence: list[EvidenceOut]
    discord: DiscordStateOut


class ActionListQuery(_Query):
    member: text(1, 64) | None = Field(
        None, description="Only this member's actions (platform user id).")
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class ActionPage(_Out):
    items: list[ActionSummary]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last page.")


# --- appeals ----------------------------------------------------------------


class DecisionOut(_Out):
    outcome: AppealOutcome
    reasons: str
    decided_by: str | None
    decided_at: datetime | None
    modified_action_id: int | None = Field(description="The lighter sanction that replaced the action, if modified.")


class AppealOut(_Out):
    id: int
    action_id: int
    status: AppealStatus
    statement: str
    submitted_at: datetime
    review_due_at: datetime
    reviewer: str | None
    review_started_at: datetime | None
    escalated_at: datetime | None
    escalation_reason: str
    recommendation: str
    leadership_due_at: datetime | None
    withdrawn_at: datetime | None
    decision: DecisionOut | None = Field(description="Null until decided.")
    attachments: list[EvidenceOut] | None = Field(
        None, description="The files the member attached (metadata; staff download them in the dashboard). "
                          "Given when one appeal is read; null in lists.")


class AppealListQuery(_Query):
    status: AppealStatus | None = None
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class AppealPage(_Out):
    items: list[AppealOut]
    limit: int
    offset: int
    next_offset: int | None
