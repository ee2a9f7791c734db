"""Cases that happened in Discord, outside modsys: recorded from the audit log (or
imported by the drift check), attributed, and completed by a moderator.

A recorded case is "reason needed" (its `DiscordImport.reason_completed_at` is
empty) until a moderator cites the rules and writes the statement of reasons.
Discord's reason is kept as the draft (`DiscordImport.discord_reason`, staff
only: Discord never shows it to the member). Until then the case is posted to
the modlog and listed on the moderators' dashboard, and it can't be appealed
(`awaiting_reasons`: no appeal deadline yet); once it is complete the member is
told by DM with their appeal link and the appeal window starts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from modsys import audit, permissions
from modsys.community import policy_for, remember_policy_version
from modsys.domain import clock, events, kinds
from modsys.domain.actors import Actor
from modsys.domain.errors import Conflict, NotFound, ValidationFailed
from modsys.domain.models import (
    SYSTEM_ROLE,
    Action,
    ActionSource,
    ActionStatus,
    Appeal,
    Community,
    DiscordImport,
    Member,
    StaffUser,
    StatementOfReasons,
)
from modsys.domain.reasons import build_statement
from modsys.services._base import clean_text, service
from modsys.services.actions import validate_rules
from modsys.services.members import get_or_create_member
from modsys.uow import UnitOfWork

DISCORD_EPOCH_MS = 1420070400000  # reference.mdx "Snowflakes": ms since the first second of 2015
AUTOMOD_TYPES = (143, 144, 145)
RESTRICTIONS = ("warning", "timeout", "kick", "ban")  # what needs a statement of reasons
NO_REASON = "(no reason was given in Discord)"
# What the member reads of a case until a moderator writes its reasons (Discord's own
# reason stays a staff-only draft).
PENDING_REASON = ("This was done in Discord. The moderators are writing the statement of reasons; "
                  "you will receive it by DM with your appeal link.")
APPEAL_WAITS = ("the moderators have not yet written the statement of reasons for case #{id}; you can appeal "
                "once they have (you will receive it by DM with your appeal link)")


def snowflake_time(snowflake: str) -> datetime:
    return datetime.fromtimestamp(((int(snowflake) >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)


def placeholder_account(session: Session, community_id: int) -> StaffUser:
    """modsys's own account that files cases whose Discord moderator has no linked staff
    account, and AutoMod's (`Action.moderator_id` is required; pages show who did it
    from the Discord record). Role `system`: no capability; inactive, no password, a
    name no person's account can have; services/staff.py refuses to manage it."""
    user = session.exec(select(StaffUser).where(StaffUser.community_id == community_id,
                                                StaffUser.role == SYSTEM_ROLE)).first()
    if user is None:
        user = StaffUser(community_id=community_id, username=f"discord:{community_id}", password_hash="!",
                         role=SYSTEM_ROLE, active=False, session_token=secrets.token_hex(32), created_at=clock.now())
        session.add(user)
        session.flush()
    return user


def linked_staff(session: Session, community_id: int, discord_user_id: str | None) -> StaffUser | None:
    if not discord_user_id:
        return None
    return session.exec(select(StaffUser).where(StaffUser.community_id == community_id,
                                                StaffUser.discord_user_id == discord_user_id)).first()


@dataclass(frozen=True)
class Found:
    """One thing done in Discord, as modsys records it."""

    entry_id: str  # audit log entry id, or "drift:<user id>"
    action_type: int  # Discord's audit log event type (22 for a drift import)
    kind: str
    user_id: str
    user_name: str
    executor_id: str | None
    reason: str
    at: datetime
    ends_at: datetime | None = None


def record(session: Session, actor: Actor, community: Community, found: Found) -> Action | None:
    """Write the case (in the caller's transaction); None if this entry was recorded before."""
    if session.exec(select(DiscordImport.id).where(DiscordImport.community_id == community.id,
                                                   DiscordImport.audit_entry_id == found.entry_id)).first():
        return None
    policy = policy_for(session, community.id)
    member = get_or_create_member(session, community.id, found.user_id, found.user_name)
    staff = linked_staff(session, community.id, found.executor_id) or placeholder_account(session, community.id)
    now = clock.now()
    needs_reason = found.kind in RESTRICTIONS
    # The appeal window starts when the reasons are written (complete_statement).
    action = Action(
        community_id=community.id, member_id=member.id, kind=found.kind, moderator_id=staff.id, rules=[],
        policy_version=policy.version, public_reason=PENDING_REASON if needs_reason else found.reason or NO_REASON,
        private_note=f"Recorded from Discord (audit log entry {found.entry_id}).", starts_at=found.at,
        ends_at=found.ends_at, status=ActionStatus.active, source=ActionSource.discord,
        appealable=found.kind in policy.appeals.appealable_kinds, appeal_deadline=None, created_at=now)
    session.add(action)
    session.flush()
    remember_policy_version(session, community.id, policy)
    session.add(DiscordImport(
        community_id=community.id, action_id=action.id, audit_entry_id=found.entry_id,  # type: ignore[arg-type]
        action_type=found.action_type, executor_discord_id=found.executor_id, discord_reason=found.reason[:600],
        reason_completed_at=None if needs_reason else now, created_at=now))
    audit.record(session, actor, "action.recorded_from_discord", action, {
        "kind": found.kind, "member_id": member.id, "entry_id": found.entry_id, "action_type": found.action_type,
        "executor_discord_id": found.executor_id, "staff_id": staff.id if staff.active else None,
        "reason": found.reason})
    if needs_reason:
        events.record(session, community.id, events.ActionRecordedFromDiscord(action.id))  # type: ignore[arg-type]
    return action


def awaiting_reasons(session: Session, action_id: int) -> bool:
    """A case done in Discord whose statement of reasons nobody wrote yet: not appealable."""
    return session.exec(select(DiscordImport.id).where(DiscordImport.action_id == action_id,
                                                       DiscordImport.reason_completed_at.is_(None))).first() is not None


def lift_from_discord(session: Session, actor: Actor, community_id: int, user_id: str, kinds: tuple[str, ...],
                      why: str) -> list[Action]:
    """Active cases of `kinds` lifted in Discord (an unban, a cleared timeout): recorded as revoked."""
    member = session.exec(select(Member).where(Member.community_id == community_id,
                                               Member.platform_user_id == user_id)).first()
    if member is None:
        return []
    lifted = list(session.exec(select(Action).where(Action.member_id == member.id, Action.kind.in_(kinds),
                                                    Action.status == ActionStatus.active)))
    for action in lifted:
        action.status, action.lifted_at, action.lifted_reason = ActionStatus.revoked, clock.now(), why[:2000]
        if action.ends_at is None or action.ends_at > clock.now():
            action.ends_at = clock.now()
        session.add(action)
        audit.record(session, actor, "action.revoked", action, {"reason": why, "source": "discord"})
    return lifted


def executor_label(session: Session, imported: DiscordImport) -> str:
    staff = linked_staff(session, imported.community_id, imported.executor_discord_id)
    if imported.action_type in AUTOMOD_TYPES:
        return "Discord AutoMod"
    if staff is not None:
        return staff.username
    return f"unlinked moderator {imported.executor_discord_id or '(unknown)'}"


def imported_of(session: Session, action_id: int) -> DiscordImport | None:
    return session.exec(select(DiscordImport).where(DiscordImport.action_id == action_id)).first()


def reason_needed(session: Session, community_id: int, limit: int = 50) -> list[DiscordImport]:
    return list(session.exec(select(DiscordImport).where(DiscordImport.community_id == community_id,
                                                         DiscordImport.reason_completed_at.is_(None))
                             .order_by(DiscordImport.id).limit(limit)))


def reason_needed_count(session: Session, community_id: int) -> int:
    return session.exec(select(sa.func.count()).select_from(DiscordImport).where(
        DiscordImport.community_id == community_id, DiscordImport.reason_completed_at.is_(None))).one()


@service
def complete_statement(uow: UnitOfWork, action_id: int, rules: list[str], public_reason: str,
                       facts: str = "") -> Action:
    """A moderator completes a case recorded from Discord: cites the rules, explains,
    and the member is told (DM with the appeal link) with a fresh appeal window."""
    uow.staff_with(permissions.can_file)
    session = uow.session
    action = uow.get(Action, action_id, "case")
    imported = imported_of(session, action_id)
    if imported is None:
        raise NotFound(f"case #{action_id} is not a case recorded from Discord")
    if imported.reason_completed_at is not None:
        raise Conflict(f"the statement of reasons of case #{action_id} is already complete")
    policy = uow.policy
    cited = validate_rules(policy, rules)
    reason = clean_text(public_reason, "public_reason", min_len=10, max_len=2000, label="public reason")
    text = clean_text(facts, "facts", max_len=5000) or reason
    now = clock.now()
    action.rules, action.public_reason, action.policy_version = cited, reason, policy.version
    if action.appealable:
        action.appeal_deadline = now + policy.appeals.window
    session.add(action)
    session.add(build_statement(action, policy, facts=f"Done in Discord; recorded by modsys. {text}",
                                automated_detection=imported.action_type in AUTOMOD_TYPES,
                                appeal_deadline=action.appeal_deadline))
    imported.reason_completed_at = now
    session.add(imported)
    uow.record("action.reasons_completed", action, {"rules": cited, "policy_version": policy.version,
                                                     "appeal_deadline": action.appeal_deadline})
    uow.emit(events.ActionReasonCompleted(action.id))  # the member's DM with the link (modsys.notify.member_dm)
    return action


@service
def write_reasons(uow: UnitOfWork, action_id: int, text: str, rule: str = "") -> tuple[Action, bool]:
    """`/reason`: complete the statement of a case done in Discord (True; the rule is
    then required) or amend a case's explanation (False)."""
    uow.staff_with(permissions.can_file)
    uow.get(Action, action_id, "case")  # another community's case is "not found", whatever its state
    if awaiting_reasons(uow.session, action_id):
        if not rule:
            raise ValidationFailed(f"case #{action_id} was done in Discord and cites no rule yet: add the rule "
                                   "option to complete it", field="rule")
        return complete_statement(uow.session, uow.actor, action_id, [rule], text), True
    return amend_statement(uow.session, uow.actor, action_id, text), False


@service
def amend_statement(uow: UnitOfWork, action_id: int, public_reason: str) -> Action:
    """A moderator rewrites the explanation of a case's statement of reasons (a typo,
    a clearer wording). Not once an appeal exists: its reviewers read the statement
    as the member appealed it. Audited with the old and the new text."""
    uow.staff_with(permissions.can_file)
    session = uow.session
    action = uow.get(Action, action_id, "case")
    if awaiting_reasons(session, action.id):  # type: ignore[arg-type]
        raise Conflict(f"case #{action_id} has no statement of reasons yet; cite a rule to complete it")
    statement = session.exec(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id)).first()
    if statement is None or not kinds.kind(action.kind).tells_member:
        raise Conflict(f"case #{action_id} is a {action.kind}: it has no statement of reasons to amend")
    if session.exec(select(Appeal.id).where(Appeal.action_id == action.id)).first() is not None:
        raise Conflict(f"case #{action_id} was appealed; answer in the appeal thread instead of rewriting the reasons")
    reason = clean_text(public_reason, "public_reason", min_len=10, max_len=2000, label="public reason")
    old = action.public_reason
    action.public_reason = statement.ground_explanation = reason
    session.add(action)
    session.add(statement)
    uow.record("action.reasons_amended", action, {"from": old, "to": reason})
    return action
