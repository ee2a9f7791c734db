"""What members and staff do from Discord, as services: reporting a message,
filing from a slash command or a message, and linking a staff account.

Each one runs the same service as the web and API (`report_flag`,
`file_action`, `act_on_flag`), so deduplication, scoring, rule citation,
ladders, the two-person rule, audit events and enforcement are the same.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, delete, select

from modsys import permissions
from modsys.community import policy_for
from modsys.domain import clock, kinds
from modsys.domain.actors import Actor
from modsys.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from modsys.domain.models import (
    Action,
    ActionStatus,
    DiscordDraft,
    Evidence,
    EvidenceKind,
    Flag,
    FlagStatus,
    Member,
    StaffUser,
    Visibility,
)
from modsys.services._base import check_message_time, service
from modsys.services.actions import NewAction, Suggestion, file_action, suggest_sanction
from modsys.services.evidence import EvidenceInput, build_evidence
from modsys.services.flags import FlagReportInput, act_on_flag, report_flag
from modsys.services.members import get_or_create_member
from modsys.uow import UnitOfWork

# A draft lives as long as the interaction token it came with (15 minutes,
# developers/interactions/receiving-and-responding.mdx, "Followup Messages").
DRAFT_TTL = timedelta(minutes=15)
MAX_CANDIDATES = 10  # evidence candidates kept per report (jump link + attachments)


@dataclass(frozen=True)
class DiscordUser:
    id: str
    name: str


@dataclass(frozen=True)
class DiscordMessage:
    """The message a context-menu command was used on (`data.resolved.messages`)."""

    id: str
    channel_id: str
    author: DiscordUser
    content: str
    jump_link: str
    attachment_urls: tuple[str, ...] = ()
    sent_at: str | None = None  # ISO8601 from Discord
    channel_name: str = ""  # from the interaction's channel, when it is the message's

    def as_data(self) -> dict[str, Any]:
        return {"id": self.id, "channel_id": self.channel_id, "author_id": self.author.id,
                "author_name": self.author.name, "content": self.content, "jump_link": self.jump_link,
                "attachment_urls": list(self.attachment_urls), "sent_at": self.sent_at,
                "channel_name": self.channel_name}

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> "DiscordMessage":
        return cls(d["id"], d["channel_id"], DiscordUser(d["author_id"], d["author_name"]), d["content"],
                   d["jump_link"], tuple(d.get("attachment_urls") or ()), d.get("sent_at"),
                   d.get("channel_name") or "")

    @property
    def where(self) -> str:
        """The channel as people read it: its name, else its id."""
        return f"#{self.channel_name or self.channel_id}"


# --- drafts (a context-menu command, then its modal) ----------------------------


@service
def save_draft(session: Session, community_id: int, discord_user_id: str, purpose: str,
               message: DiscordMessage) -> str:
    """Keep the message for the modal that follows; returns the draft id for its custom_id."""
    now = clock.now()
    session.exec(delete(DiscordDraft).where(DiscordDraft.created_at < now - DRAFT_TTL))  # prune as we go
    draft_id = secrets.token_hex(12)
    session.add(DiscordDraft(id=draft_id, community_id=community_id, discord_user_id=discord_user_id,
                             purpose=purpose, data=message.as_data(), created_at=now))
    return draft_id


def _take_draft(session: Session, draft_id: str, community_id: int, discord_user_id: str,
                purpose: str) -> DiscordMessage:
    """The draft, removed in the caller's transaction (a failed filing keeps it)."""
    draft = session.get(DiscordDraft, draft_id[:32])
    if (draft is None or draft.community_id != community_id or draft.discord_user_id != discord_user_id
            or draft.purpose != purpose or draft.created_at < clock.now() - DRAFT_TTL):
        raise NotFound("this form has expired or was already sent; use the command on the message again")
    session.delete(draft)
    return DiscordMessage.from_data(draft.data)


# --- members reporting -----------------------------------------------------------


def reporter_refusal(session: Session, community_id: int, reporter: Member) -> str | None:
    """Why this reporter may not report, or None. The one hook for suspending
    reporters who misuse reports (the transparency and misuse issue fills it in)."""
    return None


@service
def report_message(session: Session, community_id: int, draft_id: str, reporter: DiscordUser,
                   reason: str) -> tuple[Flag, bool]:
    """File the reported message exactly as `POST /api/v1/flags` does; the jump link
    and attachment URLs are kept as private evidence candidates on the flag."""
    message = _take_draft(session, draft_id, community_id, reporter.id, "report")
    member = get_or_create_member(session, community_id, reporter.id, reporter.name)
    refusal = reporter_refusal(session, community_id, member)
    if refusal:
        raise PermissionDenied(refusal)
    flag, counted = report_flag(session, Actor.member(member), community_id, FlagReportInput(
        message_id=message.id, channel_id=message.channel_id, author_id=message.author.id,
        author_name=message.author.name, content=message.content, reporter=reporter.id, reason=reason,
        channel_name=message.channel_name, sent_at=_parse_time(message.sent_at)))
    if counted:
        _keep_candidates(session, flag, member, (message.jump_link, *message.attachment_urls))
    return flag, counted


def _keep_candidates(session: Session, flag: Flag, reporter: Member, urls: tuple[str, ...]) -> None:
    known = set(session.exec(select(Evidence.content).where(Evidence.flag_id == flag.id)))
    policy = policy_for(session, flag.community_id)
    for url in urls:
        if len(known) >= MAX_CANDIDATES:
            break
        if url in known:
            continue
        ev = build_evidence(EvidenceInput(kind=EvidenceKind.link, visibility=Visibility.private, content=url),
                            policy, flag.community_id)
        ev.flag_id, ev.added_by_member_id = flag.id, reporter.id
        session.add(ev)
        known.add(url)


def _parse_time(value: str | None) -> datetime | None:
    """Discord's timestamp of the message; one modsys can't hold (our clock behind
    Discord's, a malformed value) is left out rather than losing the report."""
    if not value:
        return None
    try:
        return check_message_time(datetime.fromisoformat(value), "sent_at", clock.now())
    except (ValueError, ValidationFailed):
        return None


# --- staff acting -------------------------------------------------------------------


def linked_staff(session: Session, community_id: int, discord_user_id: str) -> StaffUser | None:
    """The active staff account of this community linked to this Discord user."""
    return session.exec(select(StaffUser).where(
        StaffUser.community_id == community_id, StaffUser.discord_user_id == discord_user_id,
        StaffUser.active.is_(True))).first()


def ladder_hint(session: Session, community_id: int, discord_user_id: str, rule_id: str) -> Suggestion | None:
    """The rule's next ladder step for a member, and why (read only; unknown members start at step one)."""
    policy = policy_for(session, community_id)
    rule = policy.rule(rule_id)
    if rule is None:
        return None
    member = session.exec(select(Member).where(Member.community_id == community_id,
                                               Member.platform_user_id == discord_user_id)).first()
    if member is None:
        return Suggestion(rule.ladder[0], 0, None, "no earlier case: the ladder's first step")
    return suggest_sanction(session, member.id, rule_id, policy)  # type: ignore[arg-type]


@service
def file_from_discord(uow: UnitOfWork, community_id: int, target: DiscordUser, kind: str,
                      rules: list[str], public_reason: str, private_note: str = "",
                      duration: timedelta | None = None) -> Action:
    """A slash command's sanction: the member is found (or recorded) by Discord id."""
    uow.bind(community_id)  # a staff member of another community: "not found"
    uow.staff_with(lambda user: permissions.can_file(user, kind))
    return file_action(uow.session, uow.actor, NewAction(
        member_id=None, platform_user_id=target.id, display_name=target.name, kind=kind, rules=rules,
        public_reason=public_reason, private_note=private_note, duration=duration))


@service
def lift_from_discord(uow: UnitOfWork, community_id: int, target: DiscordUser, kind: str, public_reason: str,
                      rule: str = "") -> Action:
    """/unban, /untimeout: a case of the lifting kind, as the dashboard files it (the
    lifted case is revoked, Discord is told). The rule defaults to the lifted case's."""
    uow.bind(community_id)
    uow.staff_with(lambda user: permissions.can_file(user, kind))
    lifted_kind = kinds.kind(kind).lifts
    member = uow.first(Member, Member.platform_user_id == target.id)
    lifted = uow.first(Action, Action.member_id == member.id, Action.kind == lifted_kind,
                       Action.status == ActionStatus.active) if member is not None else None
    if lifted is None:
        raise Conflict(f"{target.name} has no active {lifted_kind} in modsys to lift")
    rules = [rule] if rule else list(lifted.rules)
    if not rules:
        raise ValidationFailed(f"case #{lifted.id} cites no rule yet (done in Discord): give the rule option",
                               field="rules")
    return file_action(uow.session, uow.actor, NewAction(
        member_id=member.id, kind=kind, rules=rules, public_reason=public_reason))  # type: ignore[union-attr]


@service
def act_on_message(uow: UnitOfWork, community_id: int, draft_id: str, discord_user_id: str,
                   kind: str, rules: list[str], public_reason: str, private_note: str = "",
                   duration: timedelta | None = None) -> Action:
    """"Act on this message": the message becomes public evidence. An open flag of
    the same message is resolved by the action, as on the dashboard."""
    uow.bind(community_id)
    uow.staff_with(lambda user: permissions.can_file(user, kind))
    session, actor = uow.session, uow.actor
    message = _take_draft(session, draft_id, community_id, discord_user_id, "act")
    flag = uow.first(Flag, Flag.platform_message_id == message.id)
    link = EvidenceInput(kind=EvidenceKind.link, visibility=Visibility.private, content=message.jump_link)
    req = NewAction(member_id=None, platform_user_id=message.author.id, display_name=message.author.name,
                    kind=kind, rules=rules, public_reason=public_reason,  # type: ignore[arg-type]
                    private_note=private_note, duration=duration, evidence=[link])
    sent_at = _parse_time(message.sent_at)  # the DSA statement's content_date
    if flag is not None and flag.status == FlagStatus.open:
        return act_on_flag(session, actor, flag.id, dataclasses.replace(req, member_id=flag.author_id))
    snapshot = EvidenceInput(kind=EvidenceKind.message_snapshot, visibility=Visibility.public,
                             content=f"Message {message.id} in {message.where}:\n"
                                     f"{message.content or '(empty message)'}")
    return file_action(session, actor, dataclasses.replace(req, evidence=[snapshot, link], content_at=sent_at))


# --- staff linking their Discord account ---------------------------------------------


def staff_for_discord_sign_in(session: Session, discord_user_id: str) -> StaffUser | None:
    """The one active staff account linked to this Discord user (None when none, or
    when several communities link it: then the password login says which)."""
    rows = session.exec(select(StaffUser).where(StaffUser.discord_user_id == discord_user_id,
                                                StaffUser.active.is_(True)).limit(2)).all()
    return rows[0] if len(rows) == 1 else None
