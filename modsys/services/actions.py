"""Filing, co-signing, revoking and expiring moderation actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session, select

from modsys import audit, clock, outbox
from modsys.actors import Actor
from modsys.community import policy_for, remember_policy_version
from modsys.db import write_transaction
from modsys.errors import Conflict, PermissionDenied, PolicyViolation, ValidationFailed
from modsys.models import (
    OPEN_APPEAL_STATES,
    Action,
    ActionSource,
    ActionStatus,
    Appeal,
    Channel,
    Evidence,
    Flag,
    Member,
    Role,
    StaffUser,
    StatementOfReasons,
    Visibility,
)
from modsys.notify.links import case_path
from modsys.policy import LadderStep, Policy, SanctionKind, format_duration
from modsys.reasons import build_statement, measure
from modsys.services._base import MODERATION_ROLES, clean_text, get_or_404, require_staff, service
from modsys.services.evidence import EvidenceInput, build_evidence

RUNNING = (ActionStatus.active, ActionStatus.pending_cosign)
# Statuses that no longer count against the member (the sanction was wrong).
DISCOUNTED = (ActionStatus.revoked, ActionStatus.overturned)


@dataclass(frozen=True)
class NewAction:
    member_id: int
    kind: str
    rules: list[str]
    public_reason: str
    facts: str = ""  # facts and circumstances, as the member will read them
    private_note: str = ""
    duration: timedelta | None = None  # timeout/ban; a ban without one is permanent
    evidence: list[EvidenceInput] = field(default_factory=list)
    source: str = ActionSource.moderator
    flag_id: int | None = None


def check_sanction(policy: Policy, kind: str, duration: timedelta | None) -> None:
    """Kind and duration must be what the policy allows (one rule, used by filing and appeals)."""
    if kind not in set(SanctionKind):
        raise ValidationFailed(f"unknown action kind {kind!r}; use one of {', '.join(SanctionKind)}", field="kind")
    bounds = policy.bounds_for(kind)
    if bounds is None:
        if duration is not None:
            raise ValidationFailed(f"a {kind} has no duration", field="duration")
        return
    if duration is None:
        if kind == SanctionKind.timeout:
            raise ValidationFailed("a timeout needs a duration", field="duration")
        if not bounds.permanent_allowed:
            raise PolicyViolation(f"the policy does not allow a permanent {kind}", field="duration")
        return
    if not bounds.min <= duration <= bounds.max:
        raise PolicyViolation(
            f"a {kind} lasts between {format_duration(bounds.min)} and {format_duration(bounds.max)} "
            f"under this policy; {format_duration(duration)} is outside that", field="duration")


def suggest_sanction(session: Session, member_id: int, rule_id: str, policy: Policy) -> tuple[LadderStep, int]:
    """The next step on the rule's ladder, from the member's countable history.
    Returns (step, number of earlier actions under the rule)."""
    rule = policy.rule(rule_id)
    if rule is None:
        raise PolicyViolation(f"rule {rule_id!r} is not in the current policy", field="rules")
    since = clock.now() - policy.sanctions.ladder_lookback
    history = session.exec(
        select(Action).where(Action.member_id == member_id, Action.created_at >= since,
                             Action.status.not_in(DISCOUNTED + (ActionStatus.pending_cosign,)),
                             Action.kind.in_((SanctionKind.warning, SanctionKind.timeout, SanctionKind.ban)),
                             Action.supersedes_id.is_(None))
    ).all()
    count = sum(1 for a in history if rule_id in (a.rules or []))
    return rule.ladder[min(count, len(rule.ladder) - 1)], count


def _validate_rules(policy: Policy, rules: list[str]) -> list[str]:
    cited = list(dict.fromkeys(r.strip() for r in rules if r and r.strip()))
    if not cited:
        raise ValidationFailed("cite at least one rule", field="rules")
    unknown = [r for r in cited if policy.rule(r) is None]
    if unknown:
        raise PolicyViolation(
            f"rule(s) {', '.join(unknown)} are not in policy version {policy.version} "
            f"(rules: {', '.join(r.id for r in policy.rules)})", field="rules")
    return cited


def action_payload(action: Action, member: Member, staff: StaffUser, title: str) -> dict:
    fields = [
        {"name": "Member", "value": f"{member.display_name} ({member.platform_user_id})", "inline": True},
        {"name": "Measure", "value": measure(action.kind, None if action.ends_at is None else action.ends_at - action.starts_at), "inline": True},
        {"name": "Rules", "value": ", ".join(action.rules), "inline": True},
        {"name": "By", "value": staff.username, "inline": True},
    ]
    return {"title": f"{title}: case #{action.id}", "description": action.public_reason, "fields": fields,
            "link": case_path(action.id)}


@service
def file_action(session: Session, actor: Actor, req: NewAction) -> Action:
    staff = require_staff(session, actor, MODERATION_ROLES)
    member = get_or_404(session, Member, req.member_id, "member")
    if member.community_id != staff.community_id:
        raise PermissionDenied("that member belongs to another community")
    policy = policy_for(session, staff.community_id)
    check_sanction(policy, req.kind, req.duration)
    rules = _validate_rules(policy, req.rules)
    is_note = req.kind == SanctionKind.note
    public_reason = clean_text(req.public_reason, "public_reason", min_len=0 if is_note else 10, max_len=2000,
                               label="public reason")
    private_note = clean_text(req.private_note, "private_note", min_len=10 if is_note else 0, max_len=5000,
                              label="private note")
    facts = clean_text(req.facts, "facts", max_len=5000) or public_reason
    if len(req.evidence) > policy.evidence.max_items_per_action:
        raise ValidationFailed(f"an action holds at most {policy.evidence.max_items_per_action} evidence items",
                               field="evidence")
    evidence = [build_evidence(item, policy, staff.community_id) for item in req.evidence]
    if req.source not in set(ActionSource):
        raise ValidationFailed(f"unknown source {req.source!r}", field="source")

    now = clock.now()
    lifted: list[Action] = []
    if req.kind == SanctionKind.unban:
        lifted = list(session.exec(select(Action).where(
            Action.member_id == member.id, Action.kind == SanctionKind.ban, Action.status == ActionStatus.active)))
        if not lifted:
            raise Conflict(f"{member.display_name} has no active ban to lift")
    needs_cosign = policy.requires_cosign(req.kind, req.duration)
    appealable = req.kind in policy.appeals.appealable_kinds
    action = Action(
        community_id=staff.community_id, member_id=member.id, kind=req.kind, moderator_id=staff.id,
        rules=rules, policy_version=policy.version, public_reason=public_reason, private_note=private_note,
        starts_at=now, ends_at=now + req.duration if req.duration else None,
        status=ActionStatus.pending_cosign if needs_cosign else ActionStatus.active,
        source=req.source, flag_id=req.flag_id, appealable=appealable,
        appeal_deadline=now + policy.appeals.window if appealable else None, created_at=now,
    )
    session.add(action)
    session.flush()
    remember_policy_version(session, staff.community_id, policy)
    for ev in evidence:
        ev.action_id, ev.added_by_id = action.id, staff.id
        session.add(ev)
    for ban in lifted:
        lift_sanction(session, actor, ban, staff, ActionStatus.revoked, f"lifted by unban #{action.id}: {public_reason}")
    automated = req.source == ActionSource.automated_detection or _flag_was_prioritised(session, req.flag_id)
    if req.kind != SanctionKind.note:  # notes are internal: nothing is told to the member
        session.add(build_statement(action, policy, facts=facts, automated_detection=automated,
                                    appeal_deadline=action.appeal_deadline))
    audit.record(session, actor, "action.filed", action, {
        "kind": action.kind, "member_id": member.id, "rules": rules, "policy_version": policy.version,
        "duration_s": req.duration.total_seconds() if req.duration else None, "status": action.status,
        "source": action.source, "flag_id": req.flag_id, "evidence_sha256": [e.sha256 for e in evidence],
    })
    if needs_cosign:
        outbox.enqueue(session, staff.community_id, Channel.modlog, "action.awaiting_cosign",
                       action_payload(action, member, staff, "Awaiting a second signature"))
    elif req.kind != SanctionKind.note:
        _announce(session, action, member, staff, "Action filed")
    return action


def _flag_was_prioritised(session: Session, flag_id: int | None) -> bool:
    flag = session.get(Flag, flag_id) if flag_id else None
    return bool(flag and flag.priority)


def _announce(session: Session, action: Action, member: Member, staff: StaffUser, title: str) -> None:
    outbox.enqueue(session, action.community_id, Channel.modlog, "action.filed",
                   action_payload(action, member, staff, title))
    # The member's own notice: the delivery step adds their signed appeal link.
    outbox.enqueue(session, action.community_id, Channel.member, "member.notice",
                   {"action_id": action.id, "member_id": member.id})


@service
def cosign_action(session: Session, actor: Actor, action_id: int) -> Action:
    staff = require_staff(session, actor, MODERATION_ROLES)
    action = get_or_404(session, Action, action_id, "action")
    if action.community_id != staff.community_id:
        raise PermissionDenied("that action belongs to another community")
    if action.status != ActionStatus.pending_cosign:
        raise Conflict(f"case #{action.id} is {action.status}; only a pending action can be co-signed")
    if action.moderator_id == staff.id:
        raise PermissionDenied("the second signature must come from someone other than the moderator who filed it")
    now = clock.now()
    length = None if action.ends_at is None else action.ends_at - action.starts_at
    action.status, action.cosigner_id, action.cosigned_at = ActionStatus.active, staff.id, now
    action.starts_at, action.ends_at = now, (now + length if length else None)
    if action.appealable:
        action.appeal_deadline = now + policy_for(session, action.community_id).appeals.window
    session.add(action)
    audit.record(session, actor, "action.cosigned", action, {"moderator_id": action.moderator_id})
    member = session.get(Member, action.member_id)
    _announce(session, action, member, staff, "Action co-signed and in force")  # type: ignore[arg-type]
    return action


def lift_sanction(session: Session, actor: Actor, action: Action, staff: StaffUser | None, status: str, reason: str) -> None:
    now = clock.now()
    action.status = status
    action.lifted_by_id = staff.id if staff else None
    action.lifted_at, action.lifted_reason = now, reason
    if action.ends_at is None or action.ends_at > now:
        action.ends_at = now if action.kind in (SanctionKind.timeout, SanctionKind.ban) else action.ends_at
    session.add(action)
    audit.record(session, actor, f"action.{status}", action, {"reason": reason})


@service
def revoke_action(session: Session, actor: Actor, action_id: int, reason: str) -> Action:
    """Lift a sanction outside an appeal (a mistake, new facts). The filing
    moderator or leadership may; an open appeal must be decided instead."""
    staff = require_staff(session, actor, MODERATION_ROLES)
    action = get_or_404(session, Action, action_id, "action")
    if action.community_id != staff.community_id:
        raise PermissionDenied("that action belongs to another community")
    if action.moderator_id != staff.id and staff.role != Role.leadership:
        raise PermissionDenied("only the moderator who filed an action, or leadership, can revoke it")
    if action.status not in RUNNING:
        raise Conflict(f"case #{action.id} is {action.status}; only an active or pending action can be revoked")
    if session.exec(select(Appeal.id).where(Appeal.action_id == action.id, Appeal.status.in_(OPEN_APPEAL_STATES))).first():
        raise Conflict(f"case #{action.id} has an open appeal; decide the appeal instead")
    text = clean_text(reason, "reason", min_len=10, max_len=2000)
    lift_sanction(session, actor, action, staff, ActionStatus.revoked, text)
    outbox.enqueue(session, action.community_id, Channel.modlog, "action.revoked",
                   {"title": f"Case #{action.id} revoked", "description": text,
                    "fields": [{"name": "By", "value": staff.username, "inline": True}], "link": case_path(action.id)})
    return action


@service
def expire_due_actions(session: Session, actor: Actor, limit: int = 500) -> list[int]:
    """Timed sanctions past `ends_at` become expired (idempotent; the scheduler calls this)."""
    now = clock.now()
    due = session.exec(
        select(Action).where(Action.status == ActionStatus.active, Action.ends_at.is_not(None), Action.ends_at <= now)
        .order_by(Action.ends_at).limit(limit).with_for_update(skip_locked=True)
    ).all()
    for action in due:
        action.status = ActionStatus.expired
        session.add(action)
        audit.record(session, actor, "action.expired", action, {"ends_at": action.ends_at})
        outbox.enqueue(session, action.community_id, Channel.modlog, "action.expired",
                       {"title": f"Case #{action.id} expired",
                        "description": f"The {action.kind} of member #{action.member_id} ended.",
                        "link": case_path(action.id)},
                       dedupe_key=f"action.expired:{action.id}")
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
