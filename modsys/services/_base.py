"""Helpers shared by the service modules: the `@service` decorator and text checks."""

from __future__ import annotations

import functools
import inspect
from datetime import UTC, datetime, timedelta
from typing import Any, Callable, TypeVar

from sqlmodel import Session

from modsys.domain.actors import Actor
from modsys.domain.errors import ValidationFailed
from modsys.infra.db import write_transaction
from modsys.uow import UnitOfWork, open_unit

F = TypeVar("F", bound=Callable[..., Any])


def service(fn: F) -> F:
    """Run `fn` as one transaction in a unit of work bound to (actor, community):
    commit on success, roll back on any error. Callers always call
    `fn(session, actor, ...)`; a function whose first parameter is `uow` receives
    the UnitOfWork instead of (session, actor). A service called from inside
    another joins the outer transaction."""
    takes_uow = next(iter(inspect.signature(fn).parameters)) == "uow"

    def call(session: Session, actor: Actor, args: tuple, kwargs: dict) -> Any:
        if not takes_uow:
            return fn(session, actor, *args, **kwargs)
        outer = session.info.get("uow")
        uow = outer if outer is not None and outer.actor == actor else open_unit(session, actor)
        session.info["uow"] = uow
        try:
            return fn(uow, *args, **kwargs)
        finally:
            session.info["uow"] = outer

    @functools.wraps(fn)
    def wrapper(session: Session, actor: Actor, *args: Any, **kwargs: Any) -> Any:
        if session.info.get("in_service"):
            return call(session, actor, args, kwargs)
        session.info["in_service"] = True
        try:
            write_transaction(session)
            result = call(session, actor, args, kwargs)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.info["in_service"] = False

    return wrapper  # type: ignore[return-value]


def reading(session: Session, actor: Actor) -> UnitOfWork:
    """A unit of work for reads (pages, the API): the same actor resolution and
    scoped lookups as a service call, no transaction of its own."""
    return open_unit(session, actor)


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


# Discord's epoch, the earliest time a Discord message can carry: discord-api-docs, Reference,
# "Snowflakes" (https://discord.com/developers/docs/reference#snowflakes), 1420070400000 ms.
EARLIEST_MESSAGE = datetime(2015, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)  # a sender's clock slightly ahead of ours


def check_message_time(value: datetime | None, field: str, now: datetime) -> datetime | None:
    """When a reported message was sent: never before Discord existed, never in the future.
    The DSA export cites it as the statement's content_date, and the Transparency Database
    refuses a statement (in bulk, its whole batch) whose content_date it cannot hold."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValidationFailed(f"{field} must carry a timezone, e.g. 2026-05-01T12:00:00Z", field=field)
    if value < EARLIEST_MESSAGE:
        raise ValidationFailed(f"{field} {value.isoformat()} is before any Discord message could be sent "
                               f"({EARLIEST_MESSAGE.date().isoformat()}); send the message's own timestamp",
                               field=field)
    if value > now + CLOCK_SKEW:
        raise ValidationFailed(f"{field} {value.isoformat()} is in the future; send the message's own timestamp",
                               field=field)
    return value
