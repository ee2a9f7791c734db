"""Flag intake and triage. One Flag per reported message; each distinct
reporter counts once. The toxicity model orders the queue; humans decide."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from modsys import permissions
from modsys.domain import clock, events
from modsys.domain.actors import Actor
from modsys.domain.errors import Conflict, PermissionDenied, ValidationFailed
from modsys.domain.models import (
    Action,
    ActionSource,
    EvidenceKind,
    Flag,
    FlagReport,
    FlagStatus,
    Member,
    Visibility,
)
from modsys.services._base import check_message_time, clean_text, service
from modsys.services.actions import NewAction, file_action
from modsys.services.evidence import EvidenceInput
from modsys.services.members import get_or_create_member
from modsys.services.reporting import admit_reporter, review_reporters
from modsys.uow import UnitOfWork

MAX_MESSAGE_CHARS = 4000  # Discord's own limit for a message with Nitro


@dataclass(frozen=True)
class FlagReportInput:
    message_id: str
    channel_id: str
    author_id: str  # platform user id of the message's author
    author_name: str
    content: str
    reporter: str  # platform user id of the reporter, or a bot's name
    reason: str = ""
    channel_name: str = ""
    sent_at: datetime | None = None
    language: str | None = None


def reporter_source(actor: Actor) -> str:
    """Who relayed the report: "api3:" (key #3), "member17:", "staff2:"."""
    return f"{actor.kind}{actor.id or ''}:"


def reporter_key(actor: Actor, reporter: str) -> str:
    # A reporter counts once per source: a bot relaying the same person twice counts once.
    return reporter_source(actor) + clean_text(reporter, "reporter", min_len=1, max_len=80)


@service
def report_flag(uow: UnitOfWork, community_id: int, report: FlagReportInput) -> tuple[Flag, bool]:
    """Record a report. Returns (flag, counted): counted is False when this reporter
    had already reported this message (idempotent, nothing changes)."""
    if uow.actor.kind not in ("api", "staff", "member"):
        raise PermissionDenied("flags come from members, staff or an API key")
    uow.bind(community_id)
    session, actor = uow.session, uow.actor
    message_id = clean_text(report.message_id, "message_id", min_len=1, max_len=64, label="message id")
    channel_id = clean_text(report.channel_id, "channel_id", min_len=1, max_len=64, label="channel id")
    content = clean_text(report.content, "content", min_len=0, max_len=MAX_MESSAGE_CHARS, label="message content")
    reason = clean_text(report.reason, "reason", max_len=500)
    language = (report.language or "").strip().lower()[:16] or None
    now = clock.now()
    sent_at = check_message_time(report.sent_at, "sent_at", now)
    key = reporter_key(actor, report.reporter)
    weight = admit_reporter(session, community_id, key)  # a suspended reporter is refused here, whatever the way in

    query = select(Flag).where(Flag.community_id == community_id, Flag.platform_message_id == message_id)
    flag = session.exec(query).first()
    if flag is not None:
        _same_message(session, flag, report.author_id, content)
    if flag is None:
        author = get_or_create_member(session, community_id, report.author_id, report.author_name)
        try:
            with session.begin_nested():  # a concurrent first report of the same message may win
                flag = Flag(community_id=community_id, platform_message_id=message_id, channel_id=channel_id,
                            channel_name=clean_text(report.channel_name, "channel_name", max_len=100),
                            author_id=author.id, content=content, language=language, message_sent_at=sent_at,
                            reason=reason, created_at=now)
                session.add(flag)
                session.flush()
        except IntegrityError:
            flag = session.exec(query).one()
    try:
        with session.begin_nested():
            session.add(FlagReport(flag_id=flag.id, reporter_key=key, reason=reason, created_at=now))
            session.flush()
    except IntegrityError:
        return flag, False  # the same reporter again: nothing changes
    # Atomic increment: concurrent reporters never lose a count.
    session.execute(sa.update(Flag).where(Flag.id == flag.id).values(reporter_count=Flag.reporter_count + 1,
                                                                      reporter_weight=Flag.reporter_weight + weight))
    session.refresh(flag)
    uow.record("flag.reported", flag,
               {"message_id": message_id, "reporter": key, "reporter_count": flag.reporter_count, "reason": reason})
    if flag.status == FlagStatus.dismissed:
        _reopen_if_reported_again(uow, flag)
    return flag, True


def _same_message(session: Session, flag: Flag, author_id: str, content: str) -> None:
    """A message id names one message: a report saying it has another author or
    other content is refused (409), never merged. An empty content means the
    reporter could not read it, which is no disagreement."""
    author = session.get(Member, flag.author_id)
    differences = []
    if author is not None and author.platform_user_id != (author_id or "").strip():
        differences.append(f"author {author.platform_user_id}, not {(author_id or '').strip()[:40]!r}")
    if content and content != flag.content:
        differences.append("different content")
    if differences:
        raise Conflict(f"message {flag.platform_message_id} was already reported with "
                       f"{' and '.join(differences)}; report the message as it is", field="message_id")


def _reopen_if_reported_again(uow: UnitOfWork, flag: Flag) -> None:
    """A dismissed flag returns to the queue once enough reporters who were not
    counted when it was dismissed report it (policy: flags.reopen_after_new_reporters)."""
    needed = uow.policy.flags.reopen_after_new_reporters
    new = uow.session.exec(select(sa.func.count()).select_from(FlagReport).where(
        FlagReport.flag_id == flag.id, FlagReport.created_at > flag.resolved_at)).one()
    if new < needed:
        return
    dismissed_by, flag.status, flag.resolved_by_id, flag.resolved_at = flag.resolved_by_id, FlagStatus.open, None, None
    uow.session.add(flag)
    uow.record("flag.reopened", flag, {"new_reporters": new, "dismissed_by_id": dismissed_by})


def _open_flag(uow: UnitOfWork, flag_id: int):
    flag = uow.get(Flag, flag_id, "flag")
    staff = uow.staff_with(permissions.can_work_flags)
    if flag.status != FlagStatus.open:
        raise Conflict(f"flag #{flag.id} is already {flag.status}")
    return staff, flag


@service
def dismiss_flag(uow: UnitOfWork, flag_id: int, note: str = "") -> Flag:
    staff, flag = _open_flag(uow, flag_id)
    flag.status, flag.resolved_by_id, flag.resolved_at = FlagStatus.dismissed, staff.id, clock.now()
    flag.resolution_note = clean_text(note, "note", max_len=2000)
    uow.session.add(flag)
    uow.record("flag.dismissed", flag, {"note": flag.resolution_note})
    review_reporters(uow.session, uow.actor, flag)
    return flag


@service
def act_on_flag(uow: UnitOfWork, flag_id: int, req: NewAction) -> Action:
    """File an action for the flagged message; its snapshot becomes public evidence
    (the member sees what they wrote)."""
    staff, flag = _open_flag(uow, flag_id)
    if req.member_id is None:
        req = replace(req, member_id=flag.author_id)
    if req.member_id != flag.author_id:
        raise ValidationFailed("an action on a flag is against the message's author", field="member_id")
    snapshot = EvidenceInput(
        kind=EvidenceKind.message_snapshot, visibility=Visibility.public,
        content=f"Message {flag.platform_message_id} in #{flag.channel_name or flag.channel_id}"
                f"{' at ' + flag.message_sent_at.strftime('%Y-%m-%d %H:%M UTC') if flag.message_sent_at else ''}:\n"
                f"{flag.content or '(empty message)'}",
    )
    action = file_action(uow.session, uow.actor, NewAction(
        member_id=req.member_id, kind=req.kind, rules=req.rules, public_reason=req.public_reason, facts=req.facts,
        private_note=req.private_note, duration=req.duration, evidence=[snapshot, *req.evidence],
        source=ActionSource.flag, flag_id=flag.id))
    flag.status, flag.resolved_by_id, flag.resolved_at = FlagStatus.actioned, staff.id, clock.now()
    flag.resolution_note = f"case #{action.id}"
    uow.session.add(flag)
    uow.record("flag.actioned", flag, {"action_id": action.id})
    return action


def announce_priority(session: Session, flag: Flag, labels: list[str]) -> None:
    """Tell the mod channel about a flag whose score crossed a threshold (once)."""
    events.record(session, flag.community_id, events.FlagPrioritised(flag.id, labels),
                  dedupe_key=f"flag.priority:{flag.id}")
