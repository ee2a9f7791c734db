"""Claims: a moderator holds a flag or an appeal so two people don't work the
same item. Everyone sees who holds what; a claim goes back to the queue by hand
or after the policy's idle time (`claims.idle_release`, the `release_idle_claims`
job). A claim warns, it does not lock: filing on a held flag is still possible,
the pages just say so before the form.

Not `Flag.claimed_by`: that is the scoring worker's lease on unscored flags.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from modsys import audit, permissions
from modsys.community import policy_for
from modsys.domain import clock
from modsys.domain.actors import Actor
from modsys.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from modsys.domain.models import (
    OPEN_APPEAL_STATES,
    Action,
    Appeal,
    ClaimSubject,
    Flag,
    FlagStatus,
    StaffUser,
    WorkClaim,
)
from modsys.permissions import conflicted
from modsys.services._base import service
from modsys.uow import UnitOfWork


def _subject(uow: UnitOfWork, subject_type: str, subject_id: int) -> Flag | Appeal:
    """The open flag or appeal of the unit's community (else not found / conflict)."""
    if subject_type not in set(ClaimSubject):
        raise ValidationFailed(f"only a flag or an appeal can be claimed, not {subject_type!r}", field="subject_type")
    row = uow.get(Flag if subject_type == ClaimSubject.flag else Appeal, subject_id, subject_type)
    still_open = row.status == FlagStatus.open if isinstance(row, Flag) else row.status in OPEN_APPEAL_STATES
    if not still_open:
        raise Conflict(f"{subject_type} #{subject_id} is already {row.status}; there is nothing to claim")
    return row


def _current(session: Session, subject_type: str, subject_id: int) -> WorkClaim | None:
    return session.exec(select(WorkClaim).where(WorkClaim.subject_type == subject_type,
                                                WorkClaim.subject_id == subject_id)
                        .with_for_update()).first()


@service
def claim(uow: UnitOfWork, subject_type: str, subject_id: int) -> WorkClaim:
    """Take the item, or refresh my own claim on it. Someone else's live claim is a
    Conflict naming them; leadership may take it over only after releasing it."""
    staff = uow.staff_with(permissions.can_work_flags)
    session = uow.session
    subject = _subject(uow, subject_type, subject_id)
    if isinstance(subject, Appeal) and conflicted(session.get(Action, subject.action_id), staff.id):
        raise PermissionDenied(f"you filed or co-signed the case of appeal #{subject.id}, so another moderator "
                               "must take it")
    now = clock.now()
    held = _current(session, subject_type, subject_id)
    if held is not None and held.staff_id != staff.id:
        holder = session.get(StaffUser, held.staff_id)
        raise Conflict(f"{subject_type} #{subject_id} is held by {holder.username if holder else 'someone'} "
                       f"since {held.claimed_at:%Y-%m-%d %H:%M} UTC; ask them, or release it first")
    if held is not None:  # mine: the idle clock starts again
        held.touched_at = now
        session.add(held)
        return held
    row = WorkClaim(community_id=staff.community_id, subject_type=subject_type, subject_id=subject.id,
                    staff_id=staff.id, claimed_at=now, touched_at=now)
    try:
        with session.begin_nested():  # two moderators clicking at once: the database picks one
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict(f"{subject_type} #{subject_id} was just claimed by someone else; reload the page") from None
    uow.record("claim.taken", subject, {"subject_type": subject_type})
    return row


@service
def release(uow: UnitOfWork, subject_type: str, subject_id: int) -> None:
    """Hand the item back. The holder may; leadership may release anyone's claim."""
    staff = uow.staff_with(permissions.can_work_flags)
    session = uow.session
    if subject_type not in set(ClaimSubject):
        raise ValidationFailed(f"only a flag or an appeal can be claimed, not {subject_type!r}", field="subject_type")
    held = _current(session, subject_type, subject_id)
    if held is None or held.community_id != staff.community_id:
        raise NotFound(f"{subject_type} #{subject_id} is not claimed")
    uow.require(permissions.can_release_claim(staff, held.staff_id))
    subject = uow.get(Flag if subject_type == ClaimSubject.flag else Appeal, subject_id, subject_type)
    uow.record("claim.released", subject, {"subject_type": subject_type, "holder_id": held.staff_id})
    session.delete(held)


def let_go(uow: UnitOfWork, appeal: Appeal, holder_id: int | None) -> None:
    """The appeal's claim goes with its review when the review is handed back (in the
    caller's transaction), if the reviewer held it."""
    held = _current(uow.session, ClaimSubject.appeal, appeal.id)
    if held is not None and held.staff_id == holder_id:
        uow.record("claim.released", appeal, {"subject_type": ClaimSubject.appeal.value, "holder_id": holder_id})
        uow.session.delete(held)


def release_idle(session: Session, actor: Actor) -> int:
    """Delete every claim untouched for longer than its community's policy allows
    (the scheduler's job; runs in the caller's transaction). Returns how many."""
    now, released = clock.now(), 0
    for community_id in session.exec(select(WorkClaim.community_id).distinct()).all():
        cutoff = now - policy_for(session, community_id).claims.idle_release
        stale = session.exec(select(WorkClaim).where(WorkClaim.community_id == community_id,
                                                     WorkClaim.touched_at < cutoff).with_for_update()).all()
        if not stale:
            continue
        for kind in ClaimSubject:  # the events name the flag or appeal, so the audit log links to it
            audit.record_many(session, actor, "claim.expired", kind.value, [
                (c.subject_id, c.community_id, {"subject_type": c.subject_type, "holder_id": c.staff_id,
                                                "idle_since": c.touched_at.isoformat()})
                for c in stale if c.subject_type == kind])
        for c in stale:
            session.delete(c)
        released += len(stale)
    return released
