"""Deciding appeals: a reviewing moderator's decision, and leadership's final one.

Outcomes: upheld (nothing changes), overturned (the sanction is lifted), or
modified (the sanction is replaced by a lighter one, which gets its own
statement of reasons). Reasons are always required and always recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from modsys import permissions
from modsys.adapters.discord import enforcement
from modsys.domain import clock, events, kinds
from modsys.domain.appeal_flow import next_status
from modsys.domain.errors import PolicyViolation, ValidationFailed
from modsys.domain.models import (
    Action,
    ActionSource,
    ActionStatus,
    Appeal,
    AppealOutcome,
)
from modsys.domain.reasons import build_statement, duration_of, measure
from modsys.services._base import clean_text, service
from modsys.services.actions import check_sanction, lift_sanction
from modsys.services.statements import publish_statement
from modsys.uow import UnitOfWork


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
    declared = kinds.KINDS.get(mod.kind)
    if declared is not None and (declared.rank is None or not declared.tells_member):
        raise ValidationFailed("replace the sanction with a warning, timeout or ban (or overturn it)", field="modification")
    check_sanction(policy, mod.kind, mod.duration)
    new, old = kinds.severity(mod.kind, mod.duration), kinds.severity(action.kind, duration_of(action))
    if new == old:
        raise ValidationFailed("the new sanction is the same as the old one; uphold instead", field="modification")
    if new > old:
        # An appeal must never leave the member worse off.
        raise PolicyViolation(f"an appeal can't make the sanction harsher ({measure(action.kind, duration_of(action))} "
                              f"-> {measure(mod.kind, mod.duration)})", field="modification")
    return mod


def _apply(uow: UnitOfWork, appeal: Appeal, action: Action, decision: Decision, verb: str) -> Appeal:
    staff = uow.staff
    assert staff is not None  # the callers checked who decides
    if decision.outcome not in set(AppealOutcome):
        raise ValidationFailed(f"outcome must be one of {', '.join(AppealOutcome)}", field="outcome")
    reasons = clean_text(decision.reasons, "reasons", min_len=20, max_len=5000, label="written reasons")
    policy = uow.policy
    mod = _check_modification(policy, action, decision.modification) if decision.outcome == AppealOutcome.modified else None
    now = clock.now()
    appeal.status = next_status(appeal.status, verb)
    if decision.outcome == AppealOutcome.overturned:
        lift_sanction(uow, action, ActionStatus.overturned, f"appeal #{appeal.id}: {reasons}")
        enforcement.queue(uow.session, action, "reverse")
    elif mod is not None:
        lift_sanction(uow, action, ActionStatus.modified, f"appeal #{appeal.id}: {reasons}")
        starts = action.starts_at
        ends = starts + mod.duration if mod.duration else None
        replacement = Action(
            community_id=action.community_id, member_id=action.member_id, kind=mod.kind, moderator_id=staff.id,
            rules=action.rules, policy_version=policy.version, public_reason=reasons, starts_at=starts, ends_at=ends,
            status=ActionStatus.expired if ends is not None and ends <= now else ActionStatus.active,
            source=ActionSource.moderator, appealable=False, supersedes_id=action.id, created_at=now,
        )
        uow.session.add(replacement)
        uow.session.flush()
        uow.session.add(build_statement(replacement, policy, facts=f"Decision on appeal #{appeal.id}. {reasons}",
                                        automated_detection=False, appeal_deadline=None))
        appeal.modified_action_id = replacement.id
        enforcement.replace(uow.session, action, replacement)
        uow.record("action.filed", replacement,
                   {"kind": mod.kind, "supersedes_id": action.id, "appeal_id": appeal.id,
                    "duration_s": mod.duration.total_seconds() if mod.duration else None})
    appeal.outcome, appeal.outcome_reasons = decision.outcome, reasons
    appeal.decided_by_id, appeal.decided_at = staff.id, now
    uow.session.add(appeal)
    uow.record("appeal.decided", appeal,
               {"outcome": decision.outcome, "level": staff.role, "reasons": reasons,
                "modified_action_id": appeal.modified_action_id})
    uow.emit(events.AppealDecided(appeal.id))
    uow.emit(events.MemberToldDecision(action.id, appeal.appellant_id, appeal.id))
    return appeal


@service
def decide_appeal(uow: UnitOfWork, appeal_id: int, decision: Decision) -> Appeal:
    """The reviewing moderator's decision on an appeal under review."""
    appeal = uow.get(Appeal, appeal_id, "appeal")
    action = uow.get(Action, appeal.action_id, "action")
    uow.staff_with(lambda user: permissions.can_decide(user, appeal, action))
    if appeal.reviewer_id is None:
        next_status(appeal.status, "decide")  # fails with a clear message: start the review first
    return _apply(uow, appeal, action, decision, "decide")


@service
def final_decision(uow: UnitOfWork, appeal_id: int, decision: Decision,
                   statement_title: str = "", statement_body: str = "") -> Appeal:
    """Leadership's final decision on an escalated appeal, optionally with an official statement."""
    appeal = uow.get(Appeal, appeal_id, "appeal")
    action = uow.get(Action, appeal.action_id, "action")
    uow.staff_with(lambda user: permissions.can_decide_final(user, appeal, action))
    result = _apply(uow, appeal, action, decision, "final_decision")
    if statement_title.strip() or statement_body.strip():
        publish_statement(uow.session, uow.actor, appeal.id, statement_title, statement_body)
    return result
