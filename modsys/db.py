"""Engine and session setup for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from modsys import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from modsys.models import AuditHead

# The audit log is append-only at the database level too: an UPDATE or DELETE
# on it fails. (Someone with DDL rights can drop these; the hash chain still
# catches what they change.)
_PG_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION modsys_audit_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'audit events are append-only'; END; $$ LANGUAGE plpgsql;
CREATE TRIGGER auditevent_append_only BEFORE UPDATE OR DELETE ON auditevent
FOR EACH ROW EXECUTE FUNCTION modsys_audit_append_only();
"""
_SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER auditevent_no_update BEFORE UPDATE ON auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TRIGGER auditevent_no_delete BEFORE DELETE ON auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
]


@event.listens_for(models.AuditEvent.__table__, "after_create")
def _append_only(target: sa.Table, connection: sa.Connection, **_: Any) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_PG_APPEND_ONLY)
    elif connection.dialect.name == "sqlite":
        for stmt in _SQLITE_APPEND_ONLY:
            connection.exec_driver_sql(stmt)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control from the sqlite3 module (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Service calls ask for BEGIN IMMEDIATE (`write_transaction`): they take the
        # write lock up front and queue for it, instead of failing half-way when a
        # read snapshot can't be upgraded. Plain reads stay deferred and never block writers.
        immediate = conn.get_execution_options().get(IMMEDIATE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


IMMEDIATE = "modsys_sqlite_immediate"


def write_transaction(session: Session) -> None:
    """Start the session's next transaction as a writer (SQLite: BEGIN IMMEDIATE;
    PostgreSQL needs nothing: row locks and unique indexes do the work)."""
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        session.commit()  # end the read snapshot (and flush what the caller staged)
    session.connection(execution_options={IMMEDIATE: True})


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    return sa.create_engine(url, **kwargs)


def create_schema(engine: Engine) -> None:
    """Create every table that is missing, and the audit chain's head row."""
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        if session.get(AuditHead, 1) is None:
            session.add(AuditHead(id=1))
            session.commit()


def new_session(engine: Engine) -> Session:
    # Objects stay readable after the service commits (the web layer renders them).
    return Session(engine, expire_on_commit=False)
