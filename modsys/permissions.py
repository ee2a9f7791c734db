"""Who may do what: roles as capabilities, and one predicate per verb.

The services refuse with these (`ensure(can_revoke(user, action))` raises
PermissionDenied with the predicate's reason); the templates hide with them
(the `can` global in web/), so a page never offers what the service would refuse.
Community membership is not checked here: the unit of work only ever hands a
service rows of the actor's own community (modsys.uow).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from modsys.domain.errors import PermissionDenied
from modsys.domain.models import Action, Appeal, Evidence, Role, StaffUser


class Cap(StrEnum):
    read_cases = "read_cases"  # flags, case files, actions, appeals (private evidence included)
    moderate = "moderate"  # file, co-sign, work flags, add evidence, review appeals
    revoke_any = "revoke_any"  # revoke an action someone else filed
    release_any = "release_any"  # hand back a review someone else holds
    decide_final = "decide_final"  # final decisions on escalated appeals, official statements
    delete_any_evidence = "delete_any_evidence"
    administer = "administer"  # staff, API keys, webhooks, dead letters
    browse_audit = "browse_audit"  # the audit log browser


CAPABILITIES: dict[str, frozenset[Cap]] = {
    Role.moderator: frozenset({Cap.read_cases, Cap.moderate}),
    Role.leadership: frozenset({Cap.read_cases, Cap.moderate, Cap.revoke_any, Cap.release_any, Cap.decide_final,
                                Cap.delete_any_evidence, Cap.browse_audit}),
    Role.admin: frozenset({Cap.read_cases, Cap.delete_any_evidence, Cap.administer, Cap.browse_audit}),
}


@dataclass(frozen=True)
class Verdict:
    """A predicate's answer: truthy when allowed; `reason` says why not."""

    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


YES = Verdict(True)


def _no(reason: str) -> Verdict:
    return Verdict(False, reason)


def ensure(verdict: Verdict) -> None:
    if not verdict:
        raise PermissionDenied(verdict.reason)


def roles_with(cap: Cap) -> list[str]:
    return [role for role, caps in CAPABILITIES.items() if cap in caps]


def has(user: StaffUser | None, cap: Cap) -> Verdict:
    if user is None:
        return _no("this needs a staff account")
    if cap in CAPABILITIES.get(user.role, frozenset()):
        return YES
    return _no(f"this needs the role {' or '.join(roles_with(cap))}; you are {user.role}")


def conflicted(action: Action, staff_id: int | None) -> bool:
    """Whoever filed or co-signed an action may not judge its appeal."""
    return staff_id is not None and staff_id in (action.moderator_id, action.cosigner_id)


def _unconflicted(user: StaffUser, action: Action) -> Verdict:
    if conflicted(action, user.id):
        role = "filed" if action.moderator_id == user.id else "co-signed"
        return _no(f"you {role} case #{action.id}, so you can't review or decide its appeal; another moderator must")
    return YES


# --- one predicate per verb ----------------------------------------------------


def can_read_cases(user: StaffUser | None) -> Verdict:
    return has(user, Cap.read_cases)


def can_file(user: StaffUser | None, kind: str | None = None) -> Verdict:  # noqa: ARG001 (same rule for every kind today)
    return has(user, Cap.moderate)


def can_work_flags(user: StaffUser | None) -> Verdict:
    return has(user, Cap.moderate)


def can_cosign(user: StaffUser | None, action: Action) -> Verdict:
    if not (v := has(user, Cap.moderate)):
        return v
    if action.moderator_id == user.id:  # type: ignore[union-attr]
        return _no("the second signature must come from someone other than the moderator who filed it")
    return YES


def can_revoke(user: StaffUser | None, action: Action) -> Verdict:
    if not (v := has(user, Cap.moderate)):
        return v
    if action.moderator_id != user.id and not has(user, Cap.revoke_any):  # type: ignore[union-attr]
        return _no("only the moderator who filed an action, or leadership, can revoke it")
    return YES


def can_add_evidence(user: StaffUser | None, action: Action) -> Verdict:  # noqa: ARG001
    return has(user, Cap.moderate)


def can_delete_evidence(user: StaffUser | None, evidence: Evidence) -> Verdict:
    if user is None:
        return _no("this needs a staff account")
    if evidence.added_by_id == user.id and has(user, Cap.moderate):
        return YES
    if has(user, Cap.delete_any_evidence):
        return YES
    return _no("only whoever added evidence, leadership or an admin can delete it")


def can_review(user: StaffUser | None, appeal: Appeal, action: Action) -> Verdict:  # noqa: ARG001
    """Take, escalate or write in the thread of an appeal at moderator level."""
    if not (v := has(user, Cap.moderate)):
        return v
    return _unconflicted(user, action)  # type: ignore[arg-type]


def can_write_to_appellant(user: StaffUser | None, appeal: Appeal) -> Verdict:  # noqa: ARG001
    """A message in an appeal's thread (conflicted staff may answer questions too)."""
    return has(user, Cap.moderate)


def can_release(user: StaffUser | None, appeal: Appeal) -> Verdict:
    if not (v := has(user, Cap.moderate)):
        return v
    if appeal.reviewer_id != user.id and not has(user, Cap.release_any):  # type: ignore[union-attr]
        return _no("only the assigned reviewer or leadership can release a review")
    return YES


def can_decide(user: StaffUser | None, appeal: Appeal, action: Action) -> Verdict:
    """The reviewing moderator's decision."""
    if not (v := can_review(user, appeal, action)):
        return v
    if appeal.reviewer_id is not None and appeal.reviewer_id != user.id:  # type: ignore[union-attr]
        return _no("another moderator is reviewing this appeal")
    return YES


def can_decide_final(user: StaffUser | None, appeal: Appeal, action: Action) -> Verdict:  # noqa: ARG001
    if not (v := has(user, Cap.decide_final)):
        return v
    return _unconflicted(user, action)  # type: ignore[arg-type]


def can_decide_final_desk(user: StaffUser | None) -> Verdict:
    """The leadership desk (escalated appeals)."""
    return has(user, Cap.decide_final)


def can_publish_statement(user: StaffUser | None, appeal: Appeal) -> Verdict:  # noqa: ARG001
    return has(user, Cap.decide_final)


def can_administer(user: StaffUser | None) -> Verdict:
    return has(user, Cap.administer)


def can_browse_audit(user: StaffUser | None) -> Verdict:
    return has(user, Cap.browse_audit)


def can_release_claim(user: StaffUser | None, holder_id: int) -> Verdict:
    """Hand back a flag or appeal someone holds: the holder, or who may release any."""
    if not (v := has(user, Cap.moderate)):
        return v
    if holder_id != user.id and not has(user, Cap.release_any):  # type: ignore[union-attr]
        return _no("only the moderator holding it, or leadership, can release it")
    return YES


def can_retry_enforcement(user: StaffUser | None) -> Verdict:
    """Queue failed Discord enforcement again: whoever works cases or administers."""
    return has(user, Cap.moderate) or has(user, Cap.administer)


def can_fix_drift(user: StaffUser | None) -> Verdict:
    """Import, re-apply or close what differs between modsys and Discord."""
    return has(user, Cap.administer) or has(user, Cap.decide_final)


def can_manage_staff(user: StaffUser | None, target: StaffUser | None = None) -> Verdict:
    """Create accounts, change roles, (de)activate, reset passwords. Not on yourself
    for deactivation (see `can_deactivate`)."""
    return has(user, Cap.administer)


def can_deactivate(user: StaffUser | None, target: StaffUser) -> Verdict:
    if not (v := can_manage_staff(user, target)):
        return v
    if target.id == user.id:  # type: ignore[union-attr]
        return _no("you cannot deactivate your own account; ask another admin")
    return YES

