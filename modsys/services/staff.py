"""Staff accounts: creation, authentication, roles, deactivation."""

from __future__ import annotations

import re
import secrets

from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from modsys import permissions
from modsys.domain import clock
from modsys.domain.errors import Conflict, PermissionDenied, ValidationFailed
from modsys.domain.models import SYSTEM_ROLE, Role, StaffUser
from modsys.services._base import service
from modsys.services.members import DISCORD_ID
from modsys.uow import UnitOfWork

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
def create_staff(uow: UnitOfWork, community_id: int, username: str, role: str, password: str) -> StaffUser:
    uow.bind(community_id)
    uow.admin_or_operator()
    if not _USERNAME.match(username or ""):
        raise ValidationFailed("username: 2-64 letters, digits, '.', '_' or '-'", field="username")
    _check_role(role)
    _check_password(password)
    # Usernames are unique across communities (one login page serves them all).
    if uow.session.exec(select(StaffUser.id).where(StaffUser.username == username)).first():
        raise Conflict(f"the username {username!r} is taken", field="username")
    user = StaffUser(
        community_id=community_id, username=username, role=role, active=True,
        password_hash=generate_password_hash(password), session_token=secrets.token_hex(16),
        created_at=clock.now(),
    )
    uow.session.add(user)
    uow.session.flush()
    uow.record("staff.created", user, {"username": username, "role": role})
    return user


PLACEHOLDER = ("{name} is modsys's placeholder for cases done in Discord by an unlinked moderator or "
               "AutoMod: it is no one's account and can't be activated, given a role, a password or a Discord link")


def _not_placeholder(user: StaffUser) -> StaffUser:
    if user.role == SYSTEM_ROLE:
        raise Conflict(PLACEHOLDER.format(name=user.username))
    return user


def _managed(uow: UnitOfWork, user_id: int) -> StaffUser:
    """A staff account of this community that the actor may manage."""
    user = _not_placeholder(uow.get(StaffUser, user_id, "staff user"))
    if uow.actor.kind != "system":
        uow.staff_with(lambda me: permissions.can_manage_staff(me, user))
    return user


def any_staff(session: Session) -> bool:
    """Whether any staff account exists yet (the embedded default fills a demo otherwise)."""
    return session.exec(select(StaffUser.id)).first() is not None


def session_user(session: Session, user_id: int, token: str) -> StaffUser | None:
    """The user a login session names, while it is still valid (not logged out,
    deactivated or given a new role since)."""
    user = session.get(StaffUser, user_id) if 0 < user_id < 2**31 else None
    if (user is None or not user.active or user.role == SYSTEM_ROLE
            or not secrets.compare_digest(user.session_token, token)):
        return None
    return user


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """The active user with these credentials, or None. Never says which part was wrong."""
    user = session.exec(select(StaffUser).where(StaffUser.username == username)).first()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active or user.role == SYSTEM_ROLE:
        return None
    return user


@service
def set_role(uow: UnitOfWork, user_id: int, role: str) -> StaffUser:
    user = _managed(uow, user_id)
    old, user.role = user.role, _check_role(role)
    user.session_token = secrets.token_hex(16)  # new role, new session
    uow.session.add(user)
    uow.record("staff.role_changed", user, {"from": old, "to": role})
    return user


@service
def set_active(uow: UnitOfWork, user_id: int, active: bool) -> StaffUser:
    user = _managed(uow, user_id)
    if not active and uow.staff is not None:
        uow.require(permissions.can_deactivate(uow.staff, user))
    user.active = active
    user.session_token = secrets.token_hex(16)  # logs the user out everywhere
    uow.session.add(user)
    uow.record("staff.activated" if active else "staff.deactivated", user)
    return user


def _new_password(uow: UnitOfWork, user: StaffUser, password: str, verb: str) -> None:
    """Store `password` and end every session of the user (a stolen session dies
    with the old password); audited, never the password itself."""
    user.password_hash = generate_password_hash(_check_password(password))
    user.session_token = secrets.token_hex(16)
    uow.session.add(user)
    uow.record(verb, user)


@service
def change_own_password(uow: UnitOfWork, current: str, new: str) -> StaffUser:
    """The acting user's new password, given their current one. Their other
    sessions end; the caller renews its own (web: log in again with the new token)."""
    user = uow.staff_with(lambda me: permissions.YES)
    if not check_password_hash(user.password_hash, current or ""):
        raise ValidationFailed("the current password is wrong; nothing was changed", field="current_password")
    if secrets.compare_digest((current or "").encode(), (new or "").encode()):
        raise ValidationFailed("the new password is the current one; choose another", field="password")
    _new_password(uow, user, new, "staff.password_changed")
    return user


@service
def reset_password(uow: UnitOfWork, user_id: int) -> tuple[StaffUser, str]:
    """A generated password for a staff account (an admin of its community, or the
    operator at the CLI), returned once for the caller to show; the account's
    sessions end."""
    user = _managed(uow, user_id)
    password = generate_password()
    _new_password(uow, user, password, "staff.password_reset")
    return user, password


def find_staff(session: Session, community_id: int, username: str) -> StaffUser | None:
    return session.exec(select(StaffUser).where(StaffUser.community_id == community_id,
                                                StaffUser.username == username)).first()


@service
def rotate_session(uow: UnitOfWork) -> StaffUser:
    """Invalidate every session of the acting user (logout)."""
    user = uow.staff_with(lambda me: permissions.YES)
    user.session_token = secrets.token_hex(16)
    uow.session.add(user)
    uow.record("staff.logged_out", user)
    return user


@service
def set_discord_user_id(uow: UnitOfWork, user_id: int, discord_user_id: str | None) -> StaffUser:
    """The operator at the CLI links a staff account to its Discord user (cases
    done in Discord are attributed through it); empty unlinks. Audited. An admin
    may only unlink: a link is a way to sign in (MODSYS_DISCORD_STAFF_LOGIN), so
    only the account holder makes one, through Discord itself (`link_own_discord`)."""
    user = _not_placeholder(uow.get(StaffUser, user_id, "staff user"))
    uow.admin_or_operator()
    if uow.actor.kind != "system" and (discord_user_id or "").strip():
        raise PermissionDenied("only the account holder links a Discord account (Your Discord account > Link), "
                               "signed in with their second factor; an admin may only unlink one")
    return _link_discord(uow, user, discord_user_id)


@service
def link_own_discord(uow: UnitOfWork, discord_user_id: str | None) -> StaffUser:
    """A staff member links (None: unlinks) their own Discord account, as proven by OAuth2."""
    return _link_discord(uow, uow.staff_with(lambda me: permissions.YES), discord_user_id)


def _link_discord(uow: UnitOfWork, user: StaffUser, discord_user_id: str | None) -> StaffUser:
    """One staff account per Discord user in a community (also a unique constraint)."""
    _not_placeholder(user)
    value = (discord_user_id or "").strip() or None
    if value is not None and not DISCORD_ID.fullmatch(value):
        raise ValidationFailed("a Discord user id is a number of 17 to 20 digits (Developer Mode > Copy User ID)",
                               field="discord_user_id")
    taken = value and uow.session.exec(select(StaffUser.username).where(
        StaffUser.community_id == user.community_id, StaffUser.discord_user_id == value, StaffUser.id != user.id)).first()
    if taken:
        raise Conflict(f"Discord user {value} is already linked to {taken}", field="discord_user_id")
    old, user.discord_user_id = user.discord_user_id, value
    uow.session.add(user)
    uow.record("staff.discord_linked" if value else "staff.discord_unlinked", user, {"from": old, "to": value})
    return user
