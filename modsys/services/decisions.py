"""Deciding appeals: a reviewing moderator's decision, and leadership's final one.

Outcomes: upheld (nothing changes), overturned (the sanction is lifted), or
modified (the sanction is replaced by a lighter one, which gets its own
statement of reasons). Reasons are always required and always recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session

from modsys import audit, clock, outbox
from modsys.actors import Actor
from modsys.appeal_flow import next_status
from modsys.community import policy_for
from modsys.errors import PermissionDenied, PolicyViolation, ValidationFailed
from modsys.models import Action, ActionSource, ActionStatus, Appeal, AppealOutcome, Channel, Role, StaffUser
from modsys.notify.links import appeal_path
from modsys.policy import SanctionKind
from modsys.reasons import build_statement, duration_of, measure, severity
from modsys.services._base import MODERATION_ROLES, clean_text, get_or_404, require_staff, service
from modsys.services.actions import lift_sanction, check_sanction
from modsys.services.appeals import require_unconflicted
from modsys.services.statements import publish_statement


@dataclass(frozen=True)
class Modification:
    kind: str
    duration: timedelta | None = None


@dataclass(frozen=True)
class Decision:
    outcome: str
    reasons: str
    modification: Modification | None = None


def _check_modification(policy, action: Action, mod: Modification | None) -> Modification:
    if mod is None:
        raise ValidationFailed("a modified outcome needs the new sanction", field="modification")
    if mod.kind in (SanctionKind.note, SanctionKind.unban):
        raise ValidationFailed("replace the sanction with a warning, timeout or ban (or overturn it)", field="modification")
    check_sanction(policy, mod.kind, mod.duration)
    new, old = severity(mod.kind, mod.duration), severity(action.kind, duration_of(action))
    if new == old:
        raise ValidationFailed("the new sanction is the same as the old one; uphold instead", field="modification")
    if new > old:
        # An appeal must never leave the member worse off.
        raise PolicyViolation(f"an appeal can't make the sanction harsher ({measure(action.kind, duration_of(action))} "
                              f"-> {measure(mod.kind, mod.duration)})", field="modification")
    return mod


def _apply(session: Session, actor: Actor, staff: StaffUser, appeal: Appeal, action: Action, decision: Decision,
           verb: str) -> Appeal:
    if decision.outcome not in set(AppealOutcome):
        raise ValidationFailed(f"outcome must be one of {', '.join(AppealOutcome)}", field="outcome")
    reasons = clean_text(decision.reasons, "reasons", min_len=20, max_len=5000, label="written reasons")
    policy = policy_for(session, appeal.community_id)
    mod = _check_modification(policy, action, decision.modification) if decision.outcome == AppealOutcome.modified else None
    now = clock.now()
    appeal.status = next_status(appeal.status, verb)
    if decision.outcome == AppealOutcome.overturned:
        lift_sanction(session, actor, action, staff, ActionStatus.overturned, f"appeal #{appeal.id}: {reasons}")
    elif mod is not None:
        lift_sanction(session, actor, action, staff, ActionStatus.modified, f"appeal #{appeal.id}: {reasons}")
        starts = action.starts_at
        ends = starts + mod.duration if mod.duration else None
        replacement = Action(
            community_id=action.community_id, member_id=action.member_id, kind=mod.kind, moderator_id=staff.id,
            rules=action.rules, policy_version=policy.version, public_reason=reasons, starts_at=starts, ends_at=ends,
            status=ActionStatus.expired if ends is not None and ends <= now else ActionStatus.active,
            source=ActionSource.moderator, appealable=False, supersedes_id=action.id, created_at=now,
        )
        session.add(replacement)
        session.flush()
        session.add(build_statement(replacement, policy, facts=f"Decision on appeal #{appeal.id}. {reasons}",
                                    automated_detection=False, appeal_deadline=None))
        appeal.modified_action_id = replacement.id
        audit.record(session, actor, "action.filed", replacement,
                     {"kind": mod.kind, "supersedes_id": action.id, "appeal_id": appeal.id,
                      "duration_s": mod.duration.total_seconds() if mod.duration else None})
    appeal.outcome, appeal.outcome_reasons = decision.outcome, reasons
    appeal.decided_by_id, appeal.decided_at = staff.id, now
    session.add(appeal)
    audit.record(session, actor, "appeal.decided", appeal,
                 {"outcome": decision.outcome, "level": staff.role, "reasons": reasons,
                  "modified_action_id": appeal.modified_action_id})
    outbox.enqueue(session, appeal.community_id, Channel.appeals, "appeal.decided", {
        "title": f"Appeal #{appeal.id} {decision.outcome} (case #{action.id})", "description": reasons,
        "fields": [{"name": "Decided by", "value": f"{staff.username} ({staff.role})", "inline": True}],
        "link": appeal_path(appeal.id)})
    outbox.enqueue(session, appeal.community_id, Channel.member, "member.decision",
                   {"action_id": action.id, "member_id": appeal.appellant_id, "appeal_id": appeal.id})
    return appeal


@service
def decide_appeal(session: Session, actor: Actor, appeal_id: int, decision: Decision) -> Appeal:
    """The reviewing moderator's decision on an appeal under review."""
    appeal = get_or_404(session, Appeal, appeal_id, "appeal")
    staff = require_staff(session, actor, MODERATION_ROLES)
    action = session.get(Action, appeal.action_id)
    if staff.community_id != appeal.community_id:
        raise PermissionDenied("that appeal belongs to another community")
    require_unconflicted(action, staff)  # type: ignore[arg-type]
    if appeal.reviewer_id is not None and appeal.reviewer_id != staff.id:
        raise PermissionDenied("another moderator is reviewing this appeal")
    if appeal.reviewer_id is None:
        next_status(appeal.status, "decide")  # fails with a clear message: start the review first
    return _apply(session, actor, staff, appeal, action, decision, "decide")  # type: ignore[arg-type]


@service
def final_decision(session: Session, actor: Actor, appeal_id: int, decision: Decision,
                   statement_title: str = "", statement_body: str = "") -> Appeal:
    """Leadership's final decision on an escalated appeal, optionally with an official statement."""
    appeal = get_or_404(session, Appeal, appeal_id, "appeal")
    staff = require_staff(session, actor, (Role.leadership,))
    action = session.get(Action, appeal.action_id)
    if staff.community_id != appeal.community_id:
        raise PermissionDenied("that appeal belongs to another community")
    require_unconflicted(action, staff)  # type: ignore[arg-type]
    result = _apply(session, actor, staff, appeal, action, decision, "final_decision")  # type: ignore[arg-type]
    if statement_title.strip() or statement_body.strip():
        publish_statement(session, actor, appeal.id, statement_title, statement_body)
    return result
