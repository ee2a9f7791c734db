"""Appeals from the member's side, and moving them through review."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from modsys import permissions
from modsys.adapters.discord import cases as discord_cases
from modsys.domain import clock, events
from modsys.domain.appeal_flow import next_status
from modsys.domain.errors import (
    Conflict,
    PermissionDenied,
    PolicyViolation,
    ValidationFailed,
)
from modsys.domain.models import (
    OPEN_APPEAL_STATES,
    Action,
    ActionStatus,
    Appeal,
    AppealMessage,
    AppealStatus,
    ClaimSubject,
    StaffUser,
    Visibility,
)
from modsys.domain.policy import format_duration
from modsys.services import claims
from modsys.services._base import clean_text, service
from modsys.services.evidence import EvidenceInput, build_evidence
from modsys.uow import UnitOfWork

APPEALABLE_STATUSES = (ActionStatus.active, ActionStatus.expired)


@service
def submit_appeal(uow: UnitOfWork, action_id: int, statement: str,
                  attachments: list[EvidenceInput] | None = None) -> Appeal:
    if uow.member is None:
        raise PermissionDenied("only the sanctioned member can appeal, through their appeal link")
    action = uow.get(Action, action_id, "case")
    if action.member_id != uow.member.id:
        raise PermissionDenied("you can only appeal actions taken against you")
    policy = uow.policy
    session = uow.session
    now = clock.now()
    if discord_cases.awaiting_reasons(session, action.id):  # type: ignore[arg-type]
        raise PolicyViolation(discord_cases.APPEAL_WAITS.format(id=action.id))
    # The deadline first: once it passes, the scheduler also clears `appealable`.
    if action.appeal_deadline is not None and now > action.appeal_deadline:
        raise PolicyViolation(f"the appeal window closed on {action.appeal_deadline:%Y-%m-%d %H:%M} UTC")
    if not action.appealable or action.appeal_deadline is None:
        raise PolicyViolation(f"a {action.kind} of this kind can't be appealed")
    if action.status not in APPEALABLE_STATUSES:
        raise PolicyViolation(f"case #{action.id} is {action.status}; there is nothing left to appeal")
    earlier = session.exec(select(Appeal).where(Appeal.action_id == action.id).order_by(Appeal.id.desc())).all()
    for previous in earlier:
        if previous.status in OPEN_APPEAL_STATES:
            raise Conflict(f"appeal #{previous.id} for this case is already open", field="appeal_id")
        if previous.status == AppealStatus.decided:
            raise Conflict(f"appeal #{previous.id} for this case was decided; the decision is final")
    wait = cooldown_until(list(earlier), policy)
    if wait is not None:
        raise PolicyViolation(f"you withdrew an appeal recently; you can appeal again after {wait:%Y-%m-%d %H:%M} UTC "
                              f"(a {format_duration(policy.appeals.cooldown)} cooldown)")
    text = clean_text(statement, "statement", min_len=policy.appeals.statement_min_chars,
                      max_len=policy.appeals.statement_max_chars, label="your statement")
    attachments = attachments or []
    if len(attachments) > policy.appeals.max_attachments:
        raise ValidationFailed(f"attach at most {policy.appeals.max_attachments} files", field="attachments")
    files = [build_evidence(EvidenceInput(a.kind, Visibility.public, a.content, a.data, a.filename), policy,
                            uow.scope) for a in attachments]
    appeal = Appeal(community_id=uow.scope, action_id=action.id, appellant_id=uow.member.id, statement=text,
                    status=AppealStatus.submitted, submitted_at=now, review_due_at=now + policy.appeals.review_sla)
    try:
        # The partial unique index settles races between simultaneous submissions.
        with session.begin_nested():
            session.add(appeal)
            session.flush()
    except IntegrityError:
        raise Conflict("an appeal for this case is already open") from None
    for ev in files:
        ev.appeal_id, ev.added_by_member_id = appeal.id, uow.member.id
        session.add(ev)
    uow.record("appeal.submitted", appeal,
               {"action_id": action.id, "review_due_at": appeal.review_due_at, "attachments": [e.sha256 for e in files]})
    uow.emit(events.AppealSubmitted(appeal.id))
    return appeal


def cooldown_until(appeals: list[Appeal], policy) -> object | None:
    """When the member may appeal again after withdrawing (None: no cooldown running).
    `appeals` are the case's appeals, newest first."""
    last = appeals[0] if appeals else None
    if last is None or last.status != AppealStatus.withdrawn or last.withdrawn_at is None:
        return None
    until = last.withdrawn_at + policy.appeals.cooldown
    return until if clock.now() < until else None


def _load(uow: UnitOfWork, appeal_id: int) -> tuple[Appeal, Action]:
    appeal = uow.get(Appeal, appeal_id, "appeal")
    return appeal, uow.get(Action, appeal.action_id, "action")


@service
def add_message(uow: UnitOfWork, appeal_id: int, body: str) -> AppealMessage:
    appeal, action = _load(uow, appeal_id)
    if uow.member is not None:
        if appeal.appellant_id != uow.member.id:
            raise PermissionDenied("this is not your appeal")
        author = {"author_member_id": uow.member.id}
    else:
        author = {"author_staff_id": uow.staff_with(lambda user: permissions.can_write_to_appellant(user, appeal)).id}
    if appeal.status not in OPEN_APPEAL_STATES:
        raise Conflict(f"appeal #{appeal.id} is {appeal.status}; its thread is closed")
    text = clean_text(body, "body", min_len=1, max_len=uow.policy.appeals.message_max_chars, label="message")
    message = AppealMessage(appeal_id=appeal.id, body=text, created_at=clock.now(), **author)
    uow.session.add(message)
    uow.session.flush()
    uow.record("appeal.message_added", message, {"appeal_id": appeal.id})
    if uow.actor.kind == "member":
        uow.emit(events.AppealMemberWrote(appeal.id, message.id))
    else:  # the member hears of a staff reply (by DM once a bot delivers the member channel)
        uow.emit(events.MemberToldReply(appeal.action_id, appeal.appellant_id, appeal.id, message.id))
    return message


@service
def withdraw_appeal(uow: UnitOfWork, appeal_id: int) -> Appeal:
    appeal, _ = _load(uow, appeal_id)
    if uow.member is None or appeal.appellant_id != uow.member.id:
        raise PermissionDenied("only the appellant can withdraw an appeal")
    appeal.status = next_status(appeal.status, "withdraw")
    appeal.withdrawn_at = clock.now()
    uow.session.add(appeal)
    uow.record("appeal.withdrawn", appeal)
    uow.emit(events.AppealWithdrawn(appeal.id))
    return appeal


@service
def start_review(uow: UnitOfWork, appeal_id: int) -> Appeal:
    appeal, action = _load(uow, appeal_id)
    staff = uow.staff_with(lambda user: permissions.can_review(user, appeal, action))
    claims.claim(uow.session, uow.actor, ClaimSubject.appeal, appeal.id)  # the reviewer holds it
    appeal.status = next_status(appeal.status, "start_review")
    appeal.reviewer_id, appeal.review_started_at = staff.id, clock.now()
    uow.session.add(appeal)
    uow.record("appeal.review_started", appeal, {"reviewer_id": staff.id})
    return appeal


@service
def release_review(uow: UnitOfWork, appeal_id: int) -> Appeal:
    """The reviewer hands the appeal back to the queue (the SLA clock keeps running)."""
    appeal, _ = _load(uow, appeal_id)
    uow.staff_with(lambda user: permissions.can_release(user, appeal))
    appeal.status = next_status(appeal.status, "release")
    reviewer, appeal.reviewer_id = appeal.reviewer_id, None
    uow.session.add(appeal)
    uow.record("appeal.review_released", appeal)
    claims.let_go(uow, appeal, reviewer)
    return appeal


@service
def escalate_appeal(uow: UnitOfWork, appeal_id: int, reason: str, recommendation: str = "") -> Appeal:
    appeal, action = _load(uow, appeal_id)
    staff = uow.staff_with(lambda user: permissions.can_review(user, appeal, action))
    text = clean_text(reason, "reason", min_len=10, max_len=2000, label="reason for escalating")
    advice = clean_text(recommendation, "recommendation", max_len=4000)
    return mark_escalated(uow, appeal, text, advice, by=staff)


def mark_escalated(uow: UnitOfWork, appeal: Appeal, reason: str, recommendation: str = "",
                   by: StaffUser | None = None) -> Appeal:
    """The escalation itself, one appeal at a time (the scheduler's job does the same set-based)."""
    now = clock.now()
    appeal.status = next_status(appeal.status, "escalate")
    appeal.escalated_at, appeal.escalated_by_id = now, by.id if by else None
    appeal.escalation_reason, appeal.recommendation = reason, recommendation
    appeal.leadership_due_at = now + uow.policy.appeals.leadership_sla
    uow.session.add(appeal)
    uow.record("appeal.escalated", appeal,
               {"reason": reason, "recommendation": recommendation, "leadership_due_at": appeal.leadership_due_at})
    uow.emit(events.AppealEscalated(appeal.id, reason), dedupe_key=f"appeal.escalated:{appeal.id}")
    return appeal


def open_appeal_for(session: Session, action_id: int) -> Appeal | None:
    return session.exec(select(Appeal).where(Appeal.action_id == action_id,
                                             Appeal.status.in_(OPEN_APPEAL_STATES))).first()
