"""Staff accounts: creation, authentication, roles, deactivation."""

from __future__ import annotations

import re
import secrets

from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from modsys import audit, clock
from modsys.actors import Actor
from modsys.errors import Conflict, PermissionDenied, ValidationFailed
from modsys.models import Role, StaffUser
from modsys.services._base import get_or_404, require_admin_or_operator, require_staff, service

MIN_PASSWORD = 12
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
# Checked against when the username is unknown, so both paths cost one hash.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def _check_role(role: str) -> str:
    if role not in set(Role):
        raise ValidationFailed(f"unknown role {role!r}; use one of {', '.join(Role)}", field="role")
    return role


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"password needs at least {MIN_PASSWORD} characters", field="password")
    return password


def generate_password() -> str:
    return secrets.token_urlsafe(15)


@service
def create_staff(session: Session, actor: Actor, community_id: int, username: str, role: str, password: str) -> StaffUser:
    require_admin_or_operator(session, actor)
    if not _USERNAME.match(username or ""):
        raise ValidationFailed("username: 2-64 letters, digits, '.', '_' or '-'", field="username")
    _check_role(role)
    _check_password(password)
    if session.exec(select(StaffUser.id).where(StaffUser.username == username)).first():
        raise Conflict(f"the username {username!r} is taken", field="username")
    user = StaffUser(
        community_id=community_id, username=username, role=role, active=True,
        password_hash=generate_password_hash(password), session_token=secrets.token_hex(16),
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "staff.created", user, {"username": username, "role": role})
    return user


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """The active user with these credentials, or None. Never says which part was wrong."""
    user = session.exec(select(StaffUser).where(StaffUser.username == username)).first()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


@service
def set_role(session: Session, actor: Actor, user_id: int, role: str) -> StaffUser:
    require_admin_or_operator(session, actor)
    user = get_or_404(session, StaffUser, user_id, "staff user")
    old, user.role = user.role, _check_role(role)
    user.session_token = secrets.token_hex(16)  # new role, new session
    session.add(user)
    audit.record(session, actor, "staff.role_changed", user, {"from": old, "to": role})
    return user


@service
def set_active(session: Session, actor: Actor, user_id: int, active: bool) -> StaffUser:
    require_admin_or_operator(session, actor)
    user = get_or_404(session, StaffUser, user_id, "staff user")
    if actor.kind == "staff" and actor.id == user_id and not active:
        raise PermissionDenied("you cannot deactivate your own account; ask another admin")
    user.active = active
    user.session_token = secrets.token_hex(16)  # logs the user out everywhere
    session.add(user)
    audit.record(session, actor, "staff.activated" if active else "staff.deactivated", user)
    return user


@service
def set_password(session: Session, actor: Actor, user_id: int, password: str) -> StaffUser:
    if not (actor.kind == "staff" and actor.id == user_id):
        require_admin_or_operator(session, actor)
    user = get_or_404(session, StaffUser, user_id, "staff user")
    user.password_hash = generate_password_hash(_check_password(password))
    user.session_token = secrets.token_hex(16)
    session.add(user)
    audit.record(session, actor, "staff.password_changed", user)  # never the password itself
    return user


@service
def rotate_session(session: Session, actor: Actor) -> StaffUser:
    """Invalidate every session of the acting user (logout)."""
    user = require_staff(session, actor)
    user.session_token = secrets.token_hex(16)
    session.add(user)
    audit.record(session, actor, "staff.logged_out", user)
    return user


@service
def set_discord_user_id(session: Session, actor: Actor, user_id: int, discord_user_id: str | None) -> StaffUser:
    """Link a staff account to its Discord user (cases done in Discord are attributed
    through it); empty unlinks. An admin of the community or the operator; audited."""
    user = get_or_404(session, StaffUser, user_id, "staff user")
    require_admin_or_operator(session, actor, user.community_id)
    value = (discord_user_id or "").strip() or None
    if value is not None and not (value.isdigit() and 15 <= len(value) <= 20):
        raise ValidationFailed("a Discord user id is a number of 15 to 20 digits (Developer Mode > Copy User ID)",
                               field="discord_user_id")
    taken = value and session.exec(select(StaffUser.username).where(
        StaffUser.community_id == user.community_id, StaffUser.discord_user_id == value, StaffUser.id != user.id)).first()
    if taken:
        raise Conflict(f"Discord user {value} is already linked to {taken}", field="discord_user_id")
    old, user.discord_user_id = user.discord_user_id, value
    session.add(user)
    audit.record(session, actor, "staff.discord_linked" if value else "staff.discord_unlinked", user,
                 {"from": old, "to": value})
    return user
