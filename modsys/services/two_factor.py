"""Optional two-factor (TOTP) for staff, which the policy can require per role
(`accounts.require_two_factor`).

Enrolment: a secret is made and shown once; it counts only after the person
proves their app has it with a code, and that step returns ten one-time
recovery codes, also shown once and stored as SHA-256 hashes (they are random,
50 bits each, so a slow password hash buys nothing). At login a code is
accepted once: the time step it matched is remembered, so a code seen over a
shoulder can't be replayed within its 90-second window.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

import sqlalchemy as sa
from sqlmodel import Session, select

from modsys import audit, permissions
from modsys.community import policy_for
from modsys.domain import clock
from modsys.domain.actors import Actor
from modsys.domain.errors import Conflict, NotFound, ValidationFailed
from modsys.domain.models import RecoveryCode, StaffUser
from modsys.infra import totp
from modsys.services._base import service
from modsys.uow import UnitOfWork

RECOVERY_CODES = 10


def _hash(code: str) -> str:
    return hashlib.sha256("".join(code.split()).replace("-", "").lower().encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(7)).decode().rstrip("=").lower()[:10]
    return f"{raw[:5]}-{raw[5:]}"


def required(session: Session, user: StaffUser) -> bool:
    """Whether the policy makes this user's role use two-factor."""
    return user.role in policy_for(session, user.community_id).accounts.require_two_factor


def enrolled(user: StaffUser) -> bool:
    return user.totp_enabled_at is not None


@service
def start_enrolment(uow: UnitOfWork) -> tuple[str, str]:
    """A new secret for the acting user (replacing an unconfirmed one). Returns
    (secret, otpauth URI): the only time either is shown."""
    user = uow.staff_with(lambda me: permissions.YES)
    session, actor = uow.session, uow.actor
    if enrolled(user):
        raise Conflict("two-factor is already on for this account; turn it off first to change the device")
    user.totp_secret = totp.new_secret()
    session.add(user)
    audit.record(session, actor, "staff.two_factor_started", user)  # never the secret
    return user.totp_secret, totp.provisioning_uri(user.totp_secret, user.username)


def pending_enrolment(user: StaffUser) -> tuple[str, str] | None:
    """The started, unconfirmed enrolment's (secret, otpauth URI), shown again to
    the person who started it after a mistyped first code; None when there is none."""
    if enrolled(user) or not user.totp_secret:
        return None
    return user.totp_secret, totp.provisioning_uri(user.totp_secret, user.username)


@service
def confirm_enrolment(uow: UnitOfWork, code: str) -> list[str]:
    """Turn two-factor on with a first code from the app; returns the recovery codes."""
    user = uow.staff_with(lambda me: permissions.YES)
    session, actor = uow.session, uow.actor
    if enrolled(user):
        raise Conflict("two-factor is already on for this account")
    if not user.totp_secret:
        raise ValidationFailed("start the enrolment first: no secret was made for this account", field="code")
    step = totp.matching_step(user.totp_secret, code or "", clock.now())
    if step is None:
        raise ValidationFailed("that code does not match; check the app's clock and type the 6 digits it shows now",
                               field="code")
    user.totp_enabled_at, user.totp_last_step = clock.now(), step
    session.add(user)
    for old in session.exec(select(RecoveryCode).where(RecoveryCode.staff_id == user.id)).all():
        session.delete(old)
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(staff_id=user.id, code_hash=_hash(c)) for c in codes)
    audit.record(session, actor, "staff.two_factor_enabled", user)
    return codes


@service
def disable(uow: UnitOfWork, code: str) -> StaffUser:
    """Turn two-factor off with a current code or a recovery code (not while the policy requires it)."""
    user = uow.staff_with(lambda me: permissions.YES)
    session, actor = uow.session, uow.actor
    if not enrolled(user):
        raise Conflict("two-factor is not on for this account")
    if required(session, user):
        raise ValidationFailed(f"the community's policy requires two-factor for {user.role}s", field="code")
    if not _accept(session, user, code):
        raise ValidationFailed("that code does not match (use the app's current code or a recovery code)", field="code")
    _clear(session, user)
    audit.record(session, actor, "staff.two_factor_disabled", user)
    return user


@service
def reset(uow: UnitOfWork, username: str) -> StaffUser:
    """An admin (or the operator) clears someone's two-factor after a lost device;
    they enrol again at their next login (compulsory where the policy says so)."""
    session, actor = uow.session, uow.actor
    found = session.exec(select(StaffUser.id).where(StaffUser.username == username)).first()
    try:
        user = uow.get(StaffUser, found)  # another community's account reads as missing
    except NotFound:
        raise NotFound(f"no staff account called {username!r}") from None
    uow.admin_or_operator()
    _clear(session, user)
    audit.record(session, actor, "staff.two_factor_reset", user)
    return user


def _clear(session: Session, user: StaffUser) -> None:
    user.totp_secret, user.totp_enabled_at, user.totp_last_step = None, None, None
    user.session_token = secrets.token_hex(16)  # whoever holds the lost device's sessions is out too
    session.add(user)
    for old in session.exec(select(RecoveryCode).where(RecoveryCode.staff_id == user.id)).all():
        session.delete(old)


@service
def verify_login_code(session: Session, user_id: int, code: str) -> bool:
    """The second login step: a fresh TOTP code or an unused recovery code."""
    user = session.get(StaffUser, user_id)
    if user is None or not user.active or not enrolled(user):
        return False
    ok = _accept(session, user, code)
    if ok:
        audit.record(session, Actor.staff(user), "staff.two_factor_passed", user)
    return ok


def _readable(code: str) -> str:
    """Codes are ASCII: app codes are digits 0-9, recovery codes base32. Anything
    else is a typing problem the person can fix, not a wrong guess."""
    code = code or ""
    if not code.isascii() or not code.isprintable():
        raise ValidationFailed("type the code with the digits 0-9 (or a recovery code's letters and digits)",
                               field="code")
    return code


def _accept(session: Session, user: StaffUser, code: str) -> bool:
    code = _readable(code)
    step = totp.matching_step(user.totp_secret or "", code, clock.now())
    if step is not None:
        return _use_step(session, user, step)
    recovery = session.exec(select(RecoveryCode).where(
        RecoveryCode.staff_id == user.id, RecoveryCode.code_hash == _hash(code),
        RecoveryCode.used_at.is_(None)).with_for_update()).first()
    if recovery is None:
        return False
    recovery.used_at = clock.now()
    session.add(recovery)
    audit.record(session, Actor.staff(user), "staff.recovery_code_used", user)
    return True


def _use_step(session: Session, user: StaffUser, step: int) -> bool:
    """Record `step` as used, once: a compare-and-set in the database, so the same
    code sent twice at once is accepted once (a read-then-write would let both in)."""
    table = StaffUser.__table__  # type: ignore[attr-defined]
    used = session.execute(sa.update(table).where(
        table.c.id == user.id, sa.or_(table.c.totp_last_step.is_(None), table.c.totp_last_step < step),
    ).values(totp_last_step=step))
    if used.rowcount != 1:  # type: ignore[attr-defined]
        return False  # this step or a later one was already used: a replay
    session.expire(user, ["totp_last_step"])
    return True
