"""Helpers shared by the service modules."""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, TypeVar

from sqlmodel import Session, SQLModel

from modsys.actors import Actor
from modsys.db import write_transaction
from modsys.errors import NotFound, PermissionDenied, ValidationFailed
from modsys.models import Role, StaffUser

MODERATION_ROLES = (Role.moderator, Role.leadership)

F = TypeVar("F", bound=Callable[..., Any])


def service(fn: F) -> F:
    """Run `fn` as one transaction: commit on success, roll back on any error.
    A service called from inside another joins the outer transaction."""

    @functools.wraps(fn)
    def wrapper(session: Session, *args: Any, **kwargs: Any) -> Any:
        if session.info.get("in_service"):
            return fn(session, *args, **kwargs)
        session.info["in_service"] = True
        try:
            write_transaction(session)
            result = fn(session, *args, **kwargs)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.info["in_service"] = False

    return wrapper  # type: ignore[return-value]


T = TypeVar("T", bound=SQLModel)


def get_or_404(session: Session, model: type[T], ident: int | None, what: str | None = None) -> T:
    row = session.get(model, ident) if ident is not None else None
    if row is None:
        raise NotFound(f"{what or model.__name__.lower()} {ident} does not exist")
    return row


def require_staff(session: Session, actor: Actor, roles: Iterable[str] = tuple(Role)) -> StaffUser:
    """The acting staff user, fresh from the database, if active and in `roles`."""
    if actor.kind != "staff" or actor.id is None:
        raise PermissionDenied("this needs a staff account")
    user = session.get(StaffUser, actor.id)
    if user is None or not user.active:
        raise PermissionDenied("this staff account is deactivated")
    allowed = tuple(roles)
    if user.role not in allowed:
        raise PermissionDenied(f"this needs the role {' or '.join(allowed)}; you are {user.role}")
    return user


def require_admin_or_operator(session: Session, actor: Actor, community_id: int | None = None) -> StaffUser | None:
    """An admin (of `community_id`, when given), or the operator at the CLI (a system actor)."""
    if actor.kind == "system":
        return None
    admin = require_staff(session, actor, (Role.admin,))
    if community_id is not None and admin.community_id != community_id:
        raise PermissionDenied("you administer another community")
    return admin


def same_community(row: Any, community_id: int, what: str) -> None:
    if getattr(row, "community_id", None) != community_id:
        raise NotFound(f"{what} does not exist in this community")


def clean_text(value: str | None, field: str, *, min_len: int = 0, max_len: int, label: str | None = None) -> str:
    """Strip, then enforce length with a message a person can act on."""
    text = (value or "").strip()
    name = label or field.replace("_", " ")
    if "\x00" in text:
        raise ValidationFailed(f"{name} contains a NUL character", field=field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed(f"{name} contains broken Unicode (an unpaired surrogate)", field=field) from None
    if len(text) < min_len:
        raise ValidationFailed(
            f"{name} is required" if min_len <= 1 else f"{name} needs at least {min_len} characters (has {len(text)})",
            field=field,
        )
    if len(text) > max_len:
        raise ValidationFailed(f"{name} is limited to {max_len} characters (has {len(text)})", field=field)
    return text
