"""API keys for bots and integrations, and how a key acts in the services.

A key is 256 random bits, shown once. We keep its first 8 characters
(`prefix`: to find it and to show it) and its SHA-256; a fast hash is enough
for a random secret this long (a password hash would only slow every request),
and the stored hash is compared in constant time.

How a key acts (roles):

- ``reporter`` may only report flags. It acts as ``Actor.api(key)``, so each
  report is attributed to the key by name. ``ApiKey.created_by_id`` is the
  admin who issued it (None from the CLI).
- ``moderator`` / ``leadership`` keys act AS a staff user: ``Actor.staff(user)``,
  so an action filed through the API names the person who answers for it
  ("decisions name who made them"). That user is chosen when the key is
  issued (``acts_as``) and kept in ``ApiKey.created_by_id``; the issuing admin
  is in the audit log. The key works only while that user is active and holds
  exactly the key's role: deactivate them or change their role and every key
  bound to them stops working at once, with no separate revocation.

Issuing, listing and revoking keys is for an admin or the operator at the CLI.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session, select

from modsys import permissions
from modsys.domain import clock
from modsys.domain.actors import Actor
from modsys.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from modsys.domain.models import (
    Action,
    ApiKey,
    Appeal,
    Evidence,
    Flag,
    FlagReport,
    Member,
    StaffUser,
    StatementOfReasons,
)
from modsys.reads import queries
from modsys.services._base import reading, service
from modsys.services.actions import NewAction, file_action
from modsys.services.flags import reporter_source
from modsys.uow import UnitOfWork

PREFIX_LEN = 8
_KEY_CHARS = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
NAME_MAX = 24  # key names appear in audit rows and the admin page
_NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{NAME_MAX - 1}}}$")


class ApiRole(StrEnum):
    reporter = "reporter"  # flags only
    moderator = "moderator"  # also reads and files actions, reads appeals
    leadership = "leadership"


STAFF_KEY_ROLES = (ApiRole.moderator, ApiRole.leadership)


class Scope(StrEnum):
    """What a request needs from its key."""

    report = "report"  # any key, acting as the key itself (flag intake)
    any = "any"  # any key: staff keys act as their staff user, reporter keys as the key
    staff = "staff"  # a moderator or leadership key, acting as its staff user


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _bound_user(session: Session, community_id: int, role: str, username: str | None) -> StaffUser:
    if not (username or "").strip():
        raise ValidationFailed(f"a {role} key acts as a staff user with the role {role}: name one", field="acts_as")
    user = session.exec(select(StaffUser).where(StaffUser.username == username.strip(),
                                                StaffUser.community_id == community_id)).first()
    if user is None:
        raise NotFound(f"no staff user {username.strip()!r} in this community", field="acts_as")
    if not user.active:
        raise ValidationFailed(f"{user.username} is deactivated", field="acts_as")
    if user.role != role:
        raise ValidationFailed(f"{user.username} is {user.role}; a {role} key must act as a {role}", field="acts_as")
    return user


@service
def create_api_key(uow: UnitOfWork, community_id: int, name: str, role: str,
                   acts_as: str | None = None) -> tuple[ApiKey, str]:
    """Issue a key. Returns (row, plaintext); the plaintext is never stored or shown again.
    `acts_as` (a staff username) is required for moderator and leadership keys."""
    uow.bind(community_id)
    admin = uow.admin_or_operator()
    session = uow.session
    name = (name or "").strip()
    if not _NAME.match(name):
        raise ValidationFailed(f"key name: 1-{NAME_MAX} letters, digits, '.', '_' or '-', starting with a letter "
                               "or digit", field="name")
    if role not in set(ApiRole):
        raise ValidationFailed(f"unknown key role {role!r}; use one of {', '.join(ApiRole)}", field="role")
    if role == ApiRole.reporter:
        if (acts_as or "").strip():
            raise ValidationFailed("a reporter key acts as itself; leave out the staff user", field="acts_as")
        owner_id = admin.id if admin else None
    else:
        owner_id = _bound_user(session, community_id, role, acts_as).id
    # Names attribute reports, so two live keys never share one.
    taken = session.exec(select(ApiKey.id).where(ApiKey.community_id == community_id, ApiKey.name == name,
                                                 ApiKey.revoked_at.is_(None))).first()
    if taken:
        raise Conflict(f"an active key is already called {name!r}; revoke it first or pick another name", field="name")
    plaintext = secrets.token_urlsafe(32)
    key = ApiKey(community_id=community_id, name=name, prefix=plaintext[:PREFIX_LEN], key_hash=_digest(plaintext),
                 role=role, created_by_id=owner_id, created_at=clock.now())
    session.add(key)
    session.flush()
    uow.record("apikey.created", key,
               {"name": name, "role": role, "prefix": key.prefix, "acts_as_id": owner_id if role != "reporter" else None})
    return key, plaintext


def authenticate_api_key(session: Session, presented: str | None) -> ApiKey | None:
    """The live key matching `presented`, or None (unknown, malformed or revoked)."""
    if not presented or not _KEY_CHARS.match(presented):
        return None
    digest = _digest(presented)
    found = None
    for key in session.exec(select(ApiKey).where(ApiKey.prefix == presented[:PREFIX_LEN])):
        if hmac.compare_digest(key.key_hash, digest):
            found = key
    if found is None or found.revoked_at is not None:
        return None
    return found


@service
def revoke_api_key(uow: UnitOfWork, key_id: int, community_id: int | None = None) -> ApiKey:
    uow.admin_or_operator()  # permission first: a non-admin learns nothing about keys
    if community_id is not None:
        uow.bind(community_id)
    key = uow.get(ApiKey, key_id, "API key")
    if key.revoked_at is not None:
        raise Conflict(f"API key {key.id} ({key.name}) was already revoked on {key.revoked_at:%Y-%m-%d %H:%M} UTC")
    key.revoked_at = clock.now()
    uow.session.add(key)
    uow.record("apikey.revoked", key, {"name": key.name, "prefix": key.prefix})
    return key


@dataclass(frozen=True)
class ApiKeyInfo:
    """What the admin page and `modsys apikey list` show: never the hash."""

    id: int
    name: str
    prefix: str
    role: str
    acts_as: str | None  # staff username a moderator/leadership key acts as
    issued_by: str | None  # for reporter keys: the admin who issued it
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def list_api_keys(session: Session, actor: Actor, community_id: int) -> list[ApiKeyInfo]:
    uow = reading(session, actor)
    uow.bind(community_id)
    uow.admin_or_operator()
    names = queries.staff_names(session, community_id)
    rows = session.exec(select(ApiKey).where(ApiKey.community_id == community_id)
                        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.id))
    out = []
    for k in rows:
        owner = names.get(k.created_by_id) if k.created_by_id else None
        staff_key = k.role in STAFF_KEY_ROLES
        out.append(ApiKeyInfo(id=k.id, name=k.name, prefix=k.prefix, role=k.role,
                              acts_as=owner if staff_key else None, issued_by=None if staff_key else owner,
                              created_at=k.created_at, revoked_at=k.revoked_at))
    return out


def api_actor(session: Session, key: ApiKey, scope: Scope) -> Actor:
    """Who `key` acts as for a request that needs `scope` (see the module docstring).
    A staff-scoped key whose user was deactivated or changed role is refused everywhere."""
    if key.role in STAFF_KEY_ROLES:
        user = session.get(StaffUser, key.created_by_id) if key.created_by_id else None
        if user is None or not user.active:
            raise PermissionDenied(f"API key {key.name!r} acts for a staff account that is deactivated; "
                                   "an admin must issue a new key")
        if user.role != key.role:
            raise PermissionDenied(f"API key {key.name!r} is a {key.role} key but {user.username} is now "
                                   f"{user.role}; an admin must issue a new key")
        return Actor.api(key) if scope == Scope.report else Actor.staff(user)
    if key.role == ApiRole.reporter:
        if scope == Scope.staff:
            raise PermissionDenied(f"API key {key.name!r} has the reporter role: it may only report flags")
        return Actor.api(key)
    raise PermissionDenied(f"API key {key.name!r} has an unknown role {key.role!r}")


# --- what the API reads and files (permission checked here, not in web/) ----


@dataclass(frozen=True)
class FlagView:
    flag: Flag
    author: Member | None  # None: the caller sees the flag's status only
    full: bool


def read_flag(session: Session, actor: Actor, flag_id: int) -> FlagView:
    """Staff see the whole flag; a reporter key only the status of flags it reported."""
    uow = reading(session, actor)
    flag = uow.get(Flag, flag_id, "flag")
    if uow.api_key is not None:
        mine = session.exec(select(FlagReport.id).where(
            FlagReport.flag_id == flag.id,
            FlagReport.reporter_key.startswith(reporter_source(actor), autoescape=True))).first()
        if mine is None:
            raise NotFound(f"flag {flag_id} does not exist")  # not one of its reports: don't say whether it exists
        return FlagView(flag, None, full=False)
    uow.staff_with()
    return FlagView(flag, session.get(Member, flag.author_id), full=True)


def list_flags(session: Session, actor: Actor, *, status: str | None = None, message_id: str | None = None,
               author_id: str | None = None, channel_id: str | None = None, limit: int = 50,
               offset: int = 0) -> list[FlagView]:
    """Newest first, staff only; `author_id` is the author's platform user id."""
    staff = _staff_in(session, actor)
    q = select(Flag, Member).join(Member, Member.id == Flag.author_id).where(Flag.community_id == staff.community_id)
    if status:
        q = q.where(Flag.status == status)
    if message_id:
        q = q.where(Flag.platform_message_id == message_id)
    if author_id:
        q = q.where(Member.platform_user_id == author_id)
    if channel_id:
        q = q.where(Flag.channel_id == channel_id)
    rows = session.exec(q.order_by(Flag.created_at.desc(), Flag.id.desc()).offset(offset).limit(limit)).all()
    return [FlagView(flag, author, full=True) for flag, author in rows]


@dataclass(frozen=True)
class ActionView:
    action: Action
    member: Member
    staff_names: dict[int, str]
    statement: StatementOfReasons | None = None
    evidence: list[Evidence] | None = None


def _staff_in(session: Session, actor: Actor) -> UnitOfWork:
    uow = reading(session, actor)
    uow.staff_with(permissions.can_work_flags)  # moderator or leadership keys
    return uow


def list_actions(session: Session, actor: Actor, *, platform_user_id: str | None = None, limit: int = 50,
                 offset: int = 0) -> list[ActionView]:
    """Newest first; optionally one member's, by their platform user id."""
    uow = _staff_in(session, actor)
    q = select(Action, Member).join(Member, Member.id == Action.member_id).where(uow.in_scope(Action))
    if platform_user_id:
        q = q.where(Member.platform_user_id == platform_user_id)
    rows = session.exec(q.order_by(Action.created_at.desc(), Action.id.desc()).offset(offset).limit(limit)).all()
    names = queries.staff_names(session, uow.scope)
    return [ActionView(action, member, names) for action, member in rows]


def read_action(session: Session, actor: Actor, action_id: int) -> ActionView:
    """An action with its statement of reasons and its evidence. Only staff get
    here, so private evidence is included; the member-facing portal uses
    `actions.public_evidence` instead."""
    uow = _staff_in(session, actor)
    action = uow.get(Action, action_id, "action")
    return ActionView(action, session.get(Member, action.member_id), queries.staff_names(session, uow.scope),
                      statement=queries.statement_of_reasons(session, action.id),
                      evidence=queries.evidence_for(session, action.id, include_private=actor.kind == "staff"))


def file_action_via_api(session: Session, key: ApiKey, actor: Actor, platform_user_id: str, display_name: str,
                        **fields: Any) -> Action:
    """File an action (NewAction's fields but member_id) against a member named by
    platform id, creating their record if new, in one transaction. An extra audit
    event names the key, so a leaked key can be traced to what it did."""
    return _file_via_api(session, actor, key, platform_user_id, display_name, **fields)


@service
def _file_via_api(uow: UnitOfWork, key: ApiKey, platform_user_id: str, display_name: str, **fields: Any) -> Action:
    uow.get(ApiKey, key.id, "API key")  # the key is of the staff user's community
    action = file_action(uow.session, uow.actor, NewAction(
        member_id=None, platform_user_id=platform_user_id, display_name=display_name, **fields))
    uow.record("action.filed_via_api", action, {"api_key_id": key.id, "api_key": key.name})
    return action


@dataclass(frozen=True)
class AppealView:
    appeal: Appeal
    staff_names: dict[int, str]
    attachments: list[Evidence] | None = None  # read for one appeal, not for lists


def list_appeals(session: Session, actor: Actor, *, status: str | None = None, limit: int = 50,
                 offset: int = 0) -> list[AppealView]:
    uow = _staff_in(session, actor)
    q = uow.select(Appeal)
    if status:
        q = q.where(Appeal.status == status)
    rows = session.exec(q.order_by(Appeal.submitted_at.desc(), Appeal.id.desc()).offset(offset).limit(limit)).all()
    names = queries.staff_names(session, uow.scope)
    return [AppealView(a, names) for a in rows]


def read_appeal(session: Session, actor: Actor, appeal_id: int) -> AppealView:
    uow = _staff_in(session, actor)
    appeal = uow.get(Appeal, appeal_id, "appeal")
    return AppealView(appeal, queries.staff_names(session, uow.scope), queries.appeal_attachments(session, appeal.id))
