"""Filing, co-signing, revoking and expiring moderation actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from modsys import permissions
from modsys.adapters.discord import enforcement
from modsys.community import remember_policy_version
from modsys.domain import clock, events, kinds
from modsys.domain.actors import Actor
from modsys.domain.errors import Conflict, PolicyViolation, ValidationFailed
from modsys.domain.models import (
    OPEN_APPEAL_STATES,
    Action,
    ActionSource,
    ActionStatus,
    Appeal,
    Evidence,
    Flag,
    Member,
    StatementOfReasons,
    Visibility,
)
from modsys.domain.policy import LadderStep, Policy, Rule, format_duration
from modsys.domain.reasons import build_statement, duration_of, measure
from modsys.infra.db import write_transaction
from modsys.services._base import check_message_time, clean_text, service
from modsys.services.evidence import EvidenceInput, build_evidence
from modsys.services.members import find_or_add_member
from modsys.uow import UnitOfWork

RUNNING = (ActionStatus.active, ActionStatus.pending_cosign)
# Statuses that no longer count against the member (the sanction was wrong).
DISCOUNTED = (ActionStatus.revoked, ActionStatus.overturned)


@dataclass(frozen=True)
class NewAction:
    member_id: int | None  # None: the member named by platform_user_id (created if new, in the same transaction)
    kind: str
    rules: list[str]
    public_reason: str
    facts: str = ""  # facts and circumstances, as the member will read them
    private_note: str = ""
    duration: timedelta | None = None  # timeout/ban; a ban without one is permanent
    evidence: list[EvidenceInput] = field(default_factory=list)
    source: str = ActionSource.moderator
    flag_id: int | None = None
    platform_user_id: str = ""
    display_name: str = ""
    delete_message_seconds: int = 0  # bans: the member's recent messages Discord deletes (0, 1 h, 1 d, 7 d)
    content_at: datetime | None = None  # when the message acted on was sent, if known (no flag)


# Lengths of an action's texts (after trimming); the API document shows them (web/api_policy_schema.py).
PUBLIC_REASON_MIN, PUBLIC_REASON_MAX = 10, 2000
INTERNAL_NOTE_MIN = 10  # a note, which the member never sees, says its reason here
PRIVATE_NOTE_MAX = FACTS_MAX = 5000


def check_sanction(policy: Policy, kind: str, duration: timedelta | None) -> None:
    """Kind and duration must be what the policy allows (one rule, used by filing and appeals)."""
    if kind not in kinds.KINDS:
        raise ValidationFailed(f"unknown action kind {kind!r}; use one of {', '.join(kinds.KINDS)}", field="kind")
    bounds = policy.bounds_for(kind)
    if bounds is None:
        if duration is not None:
            raise ValidationFailed(f"a {kind} has no duration", field="duration")
        return
    if duration is None:
        if kinds.kind(kind).duration_required:
            raise ValidationFailed(f"a {kind} needs a duration", field="duration")
        if not bounds.permanent_allowed:
            raise PolicyViolation(f"the policy does not allow a permanent {kind}", field="duration")
        return
    if not bounds.min <= duration <= bounds.max:
        raise PolicyViolation(
            f"a {kind} lasts between {format_duration(bounds.min)} and {format_duration(bounds.max)} "
            f"under this policy; {format_duration(duration)} is outside that", field="duration")


@dataclass(frozen=True)
class Suggestion:
    """The ladder's next step for a member under a rule, and why."""

    step: LadderStep
    count: int  # earlier countable cases under the rule within the policy's lookback
    basis: Action | None  # the most severe active or recent sanction under the rule
    why: str


def suggest_sanction(session: Session, member_id: int, rule_id: str, policy: Policy) -> Suggestion:
    """The rule's next ladder step above the member's most severe sanction under it that
    is in force or recent (within `sanctions.ladder_lookback`). Revoked and overturned
    cases don't count; a sanction changed on appeal counts as its replacement."""
    if policy.rule(rule_id) is None:
        raise PolicyViolation(f"rule {rule_id!r} is not in the current policy", field="rules")
    return suggest_sanctions(session, member_id, policy)[rule_id]


def suggest_sanctions(session: Session, member_id: int, policy: Policy) -> dict[str, Suggestion]:
    """`suggest_sanction` for every rule of the policy, from one query (the member
    page and the action form show them all)."""
    since = clock.now() - policy.sanctions.ladder_lookback
    history = session.exec(
        select(Action).where(Action.member_id == member_id,
                             sa.or_(Action.created_at >= since, Action.status == ActionStatus.active),
                             Action.status.not_in(DISCOUNTED + (ActionStatus.pending_cosign,)),
                             Action.kind.in_(kinds.counted()))
    ).all()
    return {rule.id: _suggest(rule, [a for a in history if rule.id in (a.rules or [])], since, policy)
            for rule in policy.rules}


def _suggest(rule: Rule, history: list[Action], since: datetime, policy: Policy) -> Suggestion:
    lookback = policy.sanctions.ladder_lookback
    count = sum(1 for a in history if a.created_at >= since and a.supersedes_id is None)
    in_force = [a for a in history if a.status != ActionStatus.modified]
    basis = max(in_force, key=lambda a: (kinds.severity(a.kind, duration_of(a)), a.id), default=None)
    if basis is None:
        return Suggestion(rule.ladder[0], count, None,
                          f"no {rule.id} sanction in force or in the last {format_duration(lookback)}: "
                          "the ladder's first step")
    step, higher = rule.step_above((basis.kind, duration_of(basis)))
    what = (f"the most severe {rule.id} sanction is case #{basis.id}, a {measure(basis.kind, duration_of(basis))} "
            f"({basis.status}, {basis.created_at:%Y-%m-%d})")
    return Suggestion(step, count, basis, f"{what}: the next step above it" if higher
                      else f"{what}: nothing on the ladder is more severe, so its top step")


def validate_rules(policy: Policy, rules: list[str]) -> list[str]:
    cited = list(dict.fromkeys(r.strip() for r in rules if r and r.strip()))
    if not cited:
        raise ValidationFailed("cite at least one rule", field="rules")
    unknown = [r for r in cited if policy.rule(r) is None]
    if unknown:
        raise PolicyViolation(
            f"rule(s) {', '.join(unknown)} are not in policy version {policy.version} "
            f"(rules: {', '.join(r.id for r in policy.rules)})", field="rules")
    return cited


def _member_for(uow: UnitOfWork, req: NewAction) -> Member:
    if req.member_id is not None:
        return uow.get(Member, req.member_id, "member")
    member, created = find_or_add_member(uow.session, uow.scope, req.platform_user_id, req.display_name,
                                         rename_by=uow.actor)
    if created:
        uow.session.flush()
        uow.record("member.created", member, {"platform_user_id": member.platform_user_id})
    return member


@service
def file_action(uow: UnitOfWork, req: NewAction) -> Action:
    staff = uow.staff_with(lambda user: permissions.can_file(user, req.kind))
    policy = uow.policy
    check_sanction(policy, req.kind, req.duration)
    member = _member_for(uow, req)
    declared = kinds.kind(req.kind)
    rules = validate_rules(policy, req.rules)
    internal = not declared.tells_member
    public_reason = clean_text(req.public_reason, "public_reason", min_len=0 if internal else PUBLIC_REASON_MIN,
                               max_len=PUBLIC_REASON_MAX, label="public reason")
    private_note = clean_text(req.private_note, "private_note", min_len=INTERNAL_NOTE_MIN if internal else 0,
                              max_len=PRIVATE_NOTE_MAX, label="private note")
    facts = clean_text(req.facts, "facts", max_len=FACTS_MAX) or public_reason
    if len(req.evidence) > policy.evidence.max_items_per_action:
        raise ValidationFailed(f"an action holds at most {policy.evidence.max_items_per_action} evidence items",
                               field="evidence")
    evidence = [build_evidence(item, policy, uow.scope) for item in req.evidence]
    if req.source not in set(ActionSource):
        raise ValidationFailed(f"unknown source {req.source!r}", field="source")
    flag = uow.get(Flag, req.flag_id, "flag") if req.flag_id is not None else None

    session = uow.session
    now = clock.now()
    content_at = check_message_time(req.content_at, "content_at", now)
    lifted: list[Action] = []
    if declared.lifts:
        lifted = list(session.exec(select(Action).where(
            Action.member_id == member.id, Action.kind == declared.lifts, Action.status == ActionStatus.active)))
        if not lifted:
            raise Conflict(f"{member.display_name} has no active {declared.lifts} to lift")
    needs_cosign = policy.requires_cosign(req.kind, req.duration)
    appealable = req.kind in policy.appeals.appealable_kinds
    action = Action(
        community_id=uow.scope, member_id=member.id, kind=req.kind, moderator_id=staff.id,
        rules=rules, policy_version=policy.version, public_reason=public_reason, private_note=private_note,
        starts_at=now, ends_at=now + req.duration if req.duration else None,
        status=ActionStatus.pending_cosign if needs_cosign else ActionStatus.active,
        source=req.source, flag_id=req.flag_id, appealable=appealable,
        appeal_deadline=now + policy.appeals.window if appealable else None, created_at=now,
        content_at=content_at,
    )
    session.add(action)
    session.flush()
    remember_policy_version(session, uow.scope, policy)
    for ev in evidence:
        ev.action_id, ev.added_by_id = action.id, staff.id
        session.add(ev)
    for old in lifted:
        lift_sanction(uow, old, ActionStatus.revoked, f"lifted by {req.kind} #{action.id}: {public_reason}")
    automated = req.source == ActionSource.automated_detection or bool(flag and flag.priority)
    if not internal:  # notes are internal: nothing is told to the member
        session.add(build_statement(action, policy, facts=facts, automated_detection=automated,
                                    appeal_deadline=action.appeal_deadline))
    uow.record("action.filed", action, {
        "kind": action.kind, "member_id": member.id, "rules": rules, "policy_version": policy.version,
        "duration_s": req.duration.total_seconds() if req.duration else None, "status": action.status,
        "source": action.source, "flag_id": req.flag_id, "evidence_sha256": [e.sha256 for e in evidence],
    })
    enforcement.queue(session, action, "apply", delete_message_seconds=req.delete_message_seconds)
    if needs_cosign:
        uow.emit(events.ActionAwaitingCosign(action.id))
    elif not internal:
        uow.emit(events.ActionFiled(action.id))
        uow.emit(events.MemberNotified(action.id, member.id))
    return action


@service
def cosign_action(uow: UnitOfWork, action_id: int) -> Action:
    action = uow.get(Action, action_id, "action")
    staff = uow.staff_with(lambda user: permissions.can_cosign(user, action))
    if action.status != ActionStatus.pending_cosign:
        raise Conflict(f"case #{action.id} is {action.status}; only a pending action can be co-signed")
    now = clock.now()
    length = None if action.ends_at is None else action.ends_at - action.starts_at
    action.status, action.cosigner_id, action.cosigned_at = ActionStatus.active, staff.id, now
    action.starts_at, action.ends_at = now, (now + length if length else None)
    if action.appealable:
        action.appeal_deadline = now + uow.policy.appeals.window
    uow.session.add(action)
    uow.record("action.cosigned", action, {"moderator_id": action.moderator_id})
    enforcement.queue(uow.session, action, "apply")
    uow.emit(events.ActionCosigned(action.id))
    uow.emit(events.MemberNotified(action.id, action.member_id))
    return action


def lift_sanction(uow: UnitOfWork, action: Action, status: str, reason: str) -> None:
    """End `action` early (revoked, overturned, modified), inside the caller's service call."""
    now = clock.now()
    action.status = status
    action.lifted_by_id = uow.staff.id if uow.staff else None
    # The column holds 2,000 characters; a decision's reasons may hold 5,000 (the appeal and
    # the audit event keep them whole), so the case keeps their beginning.
    action.lifted_at, action.lifted_reason = now, reason if len(reason) <= 2000 else reason[:1999] + "…"
    if kinds.kind(action.kind).timed and (action.ends_at is None or action.ends_at > now):
        action.ends_at = now
    uow.session.add(action)
    uow.record(f"action.{status}", action, {"reason": reason})


@service
def revoke_action(uow: UnitOfWork, action_id: int, reason: str) -> Action:
    """Lift a sanction outside an appeal (a mistake, new facts). The filing
    moderator or leadership may; an open appeal must be decided instead."""
    action = uow.get(Action, action_id, "action")
    uow.staff_with(lambda user: permissions.can_revoke(user, action))
    if action.status not in RUNNING:
        raise Conflict(f"case #{action.id} is {action.status}; only an active or pending action can be revoked")
    if uow.session.exec(select(Appeal.id).where(Appeal.action_id == action.id,
                                                Appeal.status.in_(OPEN_APPEAL_STATES))).first():
        raise Conflict(f"case #{action.id} has an open appeal; decide the appeal instead")
    text = clean_text(reason, "reason", min_len=10, max_len=2000)
    lift_sanction(uow, action, ActionStatus.revoked, text)
    enforcement.queue(uow.session, action, "reverse")
    uow.emit(events.ActionRevoked(action.id, text))
    return action


@service
def expire_due_actions(uow: UnitOfWork, limit: int = 500) -> list[int]:
    """Timed sanctions of the community past `ends_at` become expired (idempotent;
    the scheduler calls this per community)."""
    now = clock.now()
    due = uow.session.exec(
        uow.select(Action).where(Action.status == ActionStatus.active, Action.ends_at.is_not(None),
                                 Action.ends_at <= now)
        .order_by(Action.ends_at).limit(limit).with_for_update(skip_locked=True)
    ).all()
    for action in due:
        action.status = ActionStatus.expired
        uow.session.add(action)
        uow.record("action.expired", action, {"ends_at": action.ends_at})
        enforcement.queue(uow.session, action, "reverse")
        uow.emit(events.ActionExpired(action.id), dedupe_key=f"action.expired:{action.id}")
        if uow.policy.notifications.tell_member_when_sanction_ends:
            uow.emit(events.MemberToldSanctionEnded(action.id), dedupe_key=f"member.sanction_ended:{action.id}")
    return [a.id for a in due]  # type: ignore[misc]


def public_evidence(session: Session, action_id: int) -> list[Evidence]:
    """What the member may see. The only query the appeal portal uses for evidence."""
    return list(session.exec(select(Evidence).where(
        Evidence.action_id == action_id, Evidence.visibility == Visibility.public).order_by(Evidence.id)))


def preview_action(session: Session, actor: Actor, req: NewAction) -> tuple[dict, dict | None]:
    """Everything `file_action` checks, nothing kept: returns the action and the
    statement of reasons the member would read, then rolls the transaction back."""
    if session.info.get("in_service"):
        raise RuntimeError("preview_action can't run inside another service call")
    session.info["in_service"] = True  # file_action joins this transaction instead of committing
    try:
        write_transaction(session)
        action = file_action(session, actor, req)
        sor = session.exec(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id)).first()
        return action.model_dump(), (sor.model_dump() if sor else None)
    finally:
        session.rollback()
        session.info["in_service"] = False
