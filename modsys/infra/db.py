"""Engine and session setup for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from modsys.domain import models  # noqa: F401  (registers the tables on SQLModel.metadata)

# The audit log is append-only at the database level too: an UPDATE or DELETE
# on it fails. (Someone with DDL rights can drop these; the hash chain still
# catches what they change.)
_PG_APPEND_ONLY = [
    "CREATE OR REPLACE FUNCTION modsys_audit_append_only() RETURNS trigger AS $$\n"
    "BEGIN RAISE EXCEPTION 'audit events are append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER auditevent_append_only BEFORE UPDATE OR DELETE ON auditevent\n"
    "FOR EACH ROW EXECUTE FUNCTION modsys_audit_append_only()",
]
_SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER auditevent_no_update BEFORE UPDATE ON auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TRIGGER auditevent_no_delete BEFORE DELETE ON auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
]


# PostgreSQL's row triggers don't see TRUNCATE, and no trigger fires under
# `session_replication_role = replica` unless it is enabled ALWAYS. A table
# owner can still drop or disable them: the external checkpoints catch that.
_PG_NO_TRUNCATE = [
    "CREATE TRIGGER auditevent_no_truncate BEFORE TRUNCATE ON auditevent\n"
    "FOR EACH STATEMENT EXECUTE FUNCTION modsys_audit_append_only()",
    "ALTER TABLE auditevent ENABLE ALWAYS TRIGGER auditevent_append_only",
    "ALTER TABLE auditevent ENABLE ALWAYS TRIGGER auditevent_no_truncate",
]


def no_truncate_statements(dialect_name: str) -> list[str]:
    """The DDL (PostgreSQL only) that refuses TRUNCATE of `auditevent` and keeps
    its triggers firing in replica mode (migration 0004)."""
    return _PG_NO_TRUNCATE if dialect_name == "postgresql" else []


def append_only_statements(dialect_name: str) -> list[str]:
    """The DDL that makes `auditevent` refuse UPDATE and DELETE, one statement per
    item (migrations run them with op.execute, which also works offline)."""
    return {"postgresql": _PG_APPEND_ONLY, "sqlite": _SQLITE_APPEND_ONLY}.get(dialect_name, [])


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


@contextmanager
def writing(engine: Engine) -> Iterator[Session]:
    """One short write transaction outside the service layer (jobs, workers): on
    SQLite it takes the write lock up front, so a read-then-write never fails half-way."""
    with Session(engine, expire_on_commit=False) as session:
        write_transaction(session)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    return sa.create_engine(url, **kwargs)


def new_session(engine: Engine) -> Session:
    # Objects stay readable after the service commits (the web layer renders them).
    return Session(engine, expire_on_commit=False)
