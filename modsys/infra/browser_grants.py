"""The server-side half of short-lived grants a browser cookie carries (Sign in
with Discord's OAuth state, a member's "My cases" sign-in). The cookie keeps the
token; the database keeps its SHA-256 until the grant is used, ended or
expired. A copy of an old cookie is then worth nothing: a state works once and
a sign-out ends the sign-in on the server, not only in this browser."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from modsys.domain import clock
from modsys.domain.models import BrowserGrant
from modsys.infra.db import write_transaction

OAUTH_STATE = "oauth_state"
MEMBER = "member"


def _id(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _commit(session: Session, statement: sa.Executable) -> int:
    write_transaction(session)
    try:
        count = session.execute(statement).rowcount  # type: ignore[attr-defined]
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return count


def grant(session: Session, purpose: str, lifetime: timedelta, token: str | None = None) -> str:
    """Record a new grant (pruning expired ones as we go); returns its token."""
    token = token or secrets.token_urlsafe(32)
    now = clock.now()
    table = BrowserGrant.__table__  # type: ignore[attr-defined]
    write_transaction(session)
    try:
        session.execute(sa.delete(table).where(table.c.expires_at < now))
        session.execute(sa.insert(table).values(id=_id(token), purpose=purpose, expires_at=now + lifetime))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return token


def use(session: Session, purpose: str, token: str) -> bool:
    """Consume a grant: True once for a live one, False for a used, ended, expired or unknown one."""
    table = BrowserGrant.__table__  # type: ignore[attr-defined]
    return _commit(session, sa.delete(table).where(table.c.id == _id(token), table.c.purpose == purpose,
                                                   table.c.expires_at >= clock.now())) == 1


def live(session: Session, purpose: str, token: str) -> bool:
    row = session.get(BrowserGrant, _id(token))
    return row is not None and row.purpose == purpose and row.expires_at >= clock.now()


def end(session: Session, purpose: str, token: str) -> None:
    table = BrowserGrant.__table__  # type: ignore[attr-defined]
    _commit(session, sa.delete(table).where(table.c.id == _id(token), table.c.purpose == purpose))
