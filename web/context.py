"""Per-request plumbing: the database session, the acting user, template helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, g
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy.engine import Engine
from sqlmodel import Session

from modsys import permissions
from modsys.domain import clock, kinds
from modsys.domain.actors import Actor
from modsys.domain.models import Community, StaffUser
from modsys.infra.config import Settings
from modsys.infra.db import new_session
from modsys.services._base import reading
from modsys.uow import UnitOfWork


@dataclass
class State:
    settings: Settings
    engine: Engine
    secret_key: str
    # The last write the database refused for want of storage (monotonic time, why):
    # /readyz stays red a while after one, since a rolled-back probe can't see a full disk.
    storage_failure: tuple[float, str] | None = None


def state() -> State:
    return current_app.extensions["modsys"]


def db() -> Session:
    if "db" not in g:
        g.db = new_session(state().engine)
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


def staff() -> StaffUser:
    return current_user.user  # type: ignore[attr-defined]


def actor() -> Actor:
    return Actor.staff(staff())


def scoped() -> UnitOfWork:
    """The signed-in staff user's unit of work for this request's reads: every
    lookup is of their community; another community's row is a 404."""
    if "uow" not in g:
        g.uow = reading(db(), actor())
    return g.uow


class Can:
    """`can.revoke(action)` in templates: the predicates of modsys.permissions for
    the signed-in user, so pages hide what the services would refuse."""

    def __getattr__(self, verb: str) -> Any:
        predicate = getattr(permissions, f"can_{verb}")
        return lambda *args: bool(current_user.is_authenticated and predicate(staff(), *args))


def relative(when: datetime | None, now: datetime | None = None) -> str:
    if when is None:
        return "never"
    seconds = int(((now or clock.now()) - when).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{round(seconds / size)}{unit}"  # nearest: a 72 h deadline reads "in 3d"
            break
    else:
        text = "just now" if seconds < 30 else f"{seconds}s"
        if text == "just now":
            return text
    return f"in {text}" if future else f"{text} ago"


def when(value: datetime | None) -> Markup:
    """Relative time with the absolute UTC time beside it (and machine-readable)."""
    if value is None:
        return Markup("<span class=muted>never</span>")
    absolute = value.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{iso}" title="{abs}">{rel}</time> <small class=muted>{abs}</small>').format(
        iso=value.isoformat(), abs=absolute, rel=relative(value))


def nl2br(text: str) -> Markup:
    return Markup("<br>").join(escape(line) for line in (text or "").splitlines())


def model_banner() -> str | None:
    """The dashboard's banner when flags can't be scored (staff pages only)."""
    from modsys.community import policy_for
    from modsys.runtime.scoring import model_problem

    if not current_user.is_authenticated:
        return None
    model = policy_for(db(), staff().community_id).toxicity.model
    problem = model_problem(state().settings.model_dir, model)
    if problem is None:
        return None
    return f"Flags are not being scored, so the queue is ordered by reporters and age. {problem}"


def community() -> Community | None:
    """The signed-in staff user's community (shown in the page header)."""
    return scoped().get(Community, staff().community_id) if current_user.is_authenticated else None


def member_notices(action: Any) -> Any:
    """What the member of `action` was told by DM (modsys.notify.member_status)."""
    from modsys.notify import member_status

    return member_status.for_case(db(), action, state().settings)


def template_globals() -> dict[str, Any]:
    return {"now": clock.now(), "settings": state().settings, "model_banner": model_banner, "can": Can(),
            "kinds": kinds.KINDS, "sources": kinds.SOURCES, "community": community,
            "member_notices": member_notices}
