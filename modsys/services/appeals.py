"""Appeals from the member's side, and moving them through review."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from modsys import audit, clock, outbox
from modsys.actors import Actor
from modsys.appeal_flow import next_status
from modsys.community import policy_for
from modsys.errors import Conflict, PermissionDenied, PolicyViolation, ValidationFailed
from modsys.models import (
    OPEN_APPEAL_STATES,
    Action,
    ActionStatus,
    Appeal,
    AppealMessage,
    AppealStatus,
    Channel,
    Member,
    Role,
    StaffUser,
    Visibility,
)
from modsys.notify.links import appeal_path
from modsys.policy import format_duration
from modsys.services._base import MODERATION_ROLES, clean_text, get_or_404, require_staff, service
from modsys.services.evidence import EvidenceInput, build_evidence

APPEALABLE_STATUSES = (ActionStatus.active, ActionStatus.expired)


def conflicted(action: Action, staff_id: int) -> bool:
    """Whoever filed or co-signed an action may not judge its appeal."""
    return staff_id in (action.moderator_id, action.cosigner_id)


def require_unconflicted(action: Action, staff: StaffUser) -> None:
    if conflicted(action, staff.id):  # type: ignore[arg-type]
        role = "filed" if action.moderator_id == staff.id else "co-signed"
        raise PermissionDenied(
            f"you {role} case #{action.id}, so you can't review or decide its appeal; another moderator must")


def _payload(appeal: Appeal, title: str, text: str) -> dict:
    return {"title": f"{title}: appeal #{appeal.id} (case #{appeal.action_id})", "description": text,
            "fields": [{"name": "Status", "value": appeal.status, "inline": True},
                       {"name": "Review due", "value": f"{appeal.review_due_at:%Y-%m-%d %H:%M} UTC", "inline": True}],
            "link": appeal_path(appeal.id)}


@service
def submit_appeal(session: Session, actor: Actor, action_id: int, statement: str,
                  attachments: list[EvidenceInput] | None = None) -> Appeal:
    if actor.kind != "member" or actor.id is None:
        raise PermissionDenied("only the sanctioned member can appeal, through their appeal link")
    action = get_or_404(session, Action, action_id, "case")
    if action.member_id != actor.id:
        raise PermissionDenied("you can only appeal actions taken against you")
    policy = policy_for(session, action.community_id)
    now = clock.now()
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
    last = earlier[0] if earlier else None
    if last is not None and last.withdrawn_at and now < last.withdrawn_at + policy.appeals.cooldown:
        wait = last.withdrawn_at + policy.appeals.cooldown
        raise PolicyViolation(f"you withdrew an appeal recently; you can appeal again after {wait:%Y-%m-%d %H:%M} UTC "
                              f"(a {format_duration(policy.appeals.cooldown)} cooldown)")
    text = clean_text(statement, "statement", min_len=policy.appeals.statement_min_chars,
                      max_len=policy.appeals.statement_max_chars, label="your statement")
    attachments = attachments or []
    if len(attachments) > policy.appeals.max_attachments:
        raise ValidationFailed(f"attach at most {policy.appeals.max_attachments} files", field="attachments")
    files = [build_evidence(EvidenceInput(a.kind, Visibility.public, a.content, a.data, a.filename), policy,
                            action.community_id) for a in attachments]
    appeal = Appeal(community_id=action.community_id, action_id=action.id, appellant_id=actor.id, statement=text,
                    status=AppealStatus.submitted, submitted_at=now, review_due_at=now + policy.appeals.review_sla)
    try:
        # The partial unique index settles races between simultaneous submissions.
        with session.begin_nested():
            session.add(appeal)
            session.flush()
    except IntegrityError:
        raise Conflict("an appeal for this case is already open") from None
    for ev in files:
        ev.appeal_id, ev.added_by_member_id = appeal.id, actor.id
        session.add(ev)
    audit.record(session, actor, "appeal.submitted", appeal,
                 {"action_id": action.id, "review_due_at": appeal.review_due_at, "attachments": [e.sha256 for e in files]})
    outbox.enqueue(session, appeal.community_id, Channel.appeals, "appeal.submitted",
                   _payload(appeal, "New appeal", text[:500]))
    return appeal


def _load(session: Session, appeal_id: int) -> tuple[Appeal, Action]:
    appeal = get_or_404(session, Appeal, appeal_id, "appeal")
    return appeal, session.get(Action, appeal.action_id)  # type: ignore[return-value]


def _staff_for(session: Session, actor: Actor, appeal: Appeal, roles: tuple = MODERATION_ROLES) -> StaffUser:
    staff = require_staff(session, actor, roles)
    if staff.community_id != appeal.community_id:
        raise PermissionDenied("that appeal belongs to another community")
    return staff


@service
def add_message(session: Session, actor: Actor, appeal_id: int, body: str) -> AppealMessage:
    appeal, _ = _load(session, appeal_id)
    if actor.kind == "member":
        if appeal.appellant_id != actor.id:
            raise PermissionDenied("this is not your appeal")
        author = {"author_member_id": actor.id}
    else:
        author = {"author_staff_id": _staff_for(session, actor, appeal).id}
    if appeal.status not in OPEN_APPEAL_STATES:
        raise Conflict(f"appeal #{appeal.id} is {appeal.status}; its thread is closed")
    policy = policy_for(session, appeal.community_id)
    text = clean_text(body, "body", min_len=1, max_len=policy.appeals.message_max_chars, label="message")
    message = AppealMessage(appeal_id=appeal.id, body=text, created_at=clock.now(), **author)
    session.add(message)
    session.flush()
    audit.record(session, actor, "appeal.message_added", message, {"appeal_id": appeal.id},
                 community_id=appeal.community_id)
    if actor.kind == "member":
        outbox.enqueue(session, appeal.community_id, Channel.appeals, "appeal.member_message",
                       _payload(appeal, "The member wrote", text[:1000]))
    else:  # rendered for the member at delivery (modsys/delivery.py), by DM once a bot delivers it
        outbox.enqueue(session, appeal.community_id, Channel.member, "member.reply",
                       {"action_id": appeal.action_id, "member_id": appeal.appellant_id, "appeal_id": appeal.id,
                        "message_id": message.id})
    return message


@service
def withdraw_appeal(session: Session, actor: Actor, appeal_id: int) -> Appeal:
    appeal, _ = _load(session, appeal_id)
    if actor.kind != "member" or appeal.appellant_id != actor.id:
        raise PermissionDenied("only the appellant can withdraw an appeal")
    appeal.status = next_status(appeal.status, "withdraw")
    appeal.withdrawn_at = clock.now()
    session.add(appeal)
    audit.record(session, actor, "appeal.withdrawn", appeal)
    outbox.enqueue(session, appeal.community_id, Channel.appeals, "appeal.withdrawn",
                   _payload(appeal, "Appeal withdrawn", "The member withdrew the appeal."))
    return appeal


@service
def start_review(session: Session, actor: Actor, appeal_id: int) -> Appeal:
    appeal, action = _load(session, appeal_id)
    staff = _staff_for(session, actor, appeal)
    require_unconflicted(action, staff)
    appeal.status = next_status(appeal.status, "start_review")
    appeal.reviewer_id, appeal.review_started_at = staff.id, clock.now()
    session.add(appeal)
    audit.record(session, actor, "appeal.review_started", appeal, {"reviewer_id": staff.id})
    return appeal


@service
def release_review(session: Session, actor: Actor, appeal_id: int) -> Appeal:
    """The reviewer hands the appeal back to the queue (the SLA clock keeps running)."""
    appeal, _ = _load(session, appeal_id)
    staff = _staff_for(session, actor, appeal)
    if appeal.reviewer_id != staff.id and staff.role != Role.leadership:
        raise PermissionDenied("only the assigned reviewer or leadership can release a review")
    appeal.status = next_status(appeal.status, "release")
    appeal.reviewer_id = None
    session.add(appeal)
    audit.record(session, actor, "appeal.review_released", appeal)
    return appeal


def mark_escalated(session: Session, actor: Actor, appeal: Appeal, reason: str, recommendation: str = "",
                   by: StaffUser | None = None) -> Appeal:
    """The escalation itself, shared by the manual path and the scheduler."""
    policy = policy_for(session, appeal.community_id)
    now = clock.now()
    appeal.status = next_status(appeal.status, "escalate")
    appeal.escalated_at, appeal.escalated_by_id = now, by.id if by else None
    appeal.escalation_reason, appeal.recommendation = reason, recommendation
    appeal.leadership_due_at = now + policy.appeals.leadership_sla
    session.add(appeal)
    audit.record(session, actor, "appeal.escalated", appeal,
                 {"reason": reason, "recommendation": recommendation, "leadership_due_at": appeal.leadership_due_at})
    outbox.enqueue(session, appeal.community_id, Channel.leadership, "appeal.escalated",
                   _payload(appeal, "Escalated to leadership", reason), dedupe_key=f"appeal.escalated:{appeal.id}")
    return appeal


@service
def escalate_appeal(session: Session, actor: Actor, appeal_id: int, reason: str, recommendation: str = "") -> Appeal:
    appeal, action = _load(session, appeal_id)
    staff = _staff_for(session, actor, appeal)
    require_unconflicted(action, staff)
    text = clean_text(reason, "reason", min_len=10, max_len=2000, label="reason for escalating")
    advice = clean_text(recommendation, "recommendation", max_len=4000)
    return mark_escalated(session, actor, appeal, text, advice, by=staff)


def open_appeal_for(session: Session, action_id: int) -> Appeal | None:
    return session.exec(select(Appeal).where(Appeal.action_id == action_id,
                                             Appeal.status.in_(OPEN_APPEAL_STATES))).first()


def member_of(session: Session, appeal: Appeal) -> Member:
    return session.get(Member, appeal.appellant_id)  # type: ignore[return-value]
