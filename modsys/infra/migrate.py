"""Schema migrations (Alembic), run from code so an installed modsys finds its
own scripts: `modsys db upgrade` needs no alembic.ini and no checkout.

The scripts live in `modsys/infra/migrations/` (package data; see its README for
adding a revision). They are the only thing that creates or changes the
schema: `modsys init`, `modsys db upgrade` and `modsys serve` run them; the
web app and the other commands never do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from modsys.domain.models import QUEUE_ORDER_INDEX, SEARCH_INDEXES, UTCDateTime

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The schema databases built by create_all had (create_all stopped with revision 0003).
LAST_CREATE_ALL_REVISION = "0002"
# One migrator at a time on PostgreSQL (several containers may start at once).
_PG_LOCK_ID = 0x6D6F_6473_7973_0001


class MigrationError(Exception):
    """The database can't be migrated as asked; the message says what to do."""


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our column types as plain SQLAlchemy types in revision files, so a
    revision never imports modsys.domain.models (which keeps changing after it)."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False  # alembic's default rendering


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Leave the DDL indexes out of the model comparison: the PostgreSQL-only search
    indexes (models.SEARCH_INDEXES, revisions 0009 and 0012) and the queue order
    (revision 0015) are not Index objects."""
    ddl = name in SEARCH_INDEXES or name == QUEUE_ORDER_INDEX
    return not (type_ == "index" and reflected and compare_to is None and ddl)


# Shared by migrations/env.py and the test that compares models to migrations.
CONTEXT_OPTIONS: dict[str, Any] = {
    "compare_type": True,
    "render_item": render_item,
    "include_object": include_object,
    # SQLite can't ALTER most things; batch operations rebuild the table there
    # and are plain ALTERs elsewhere. Rendering them whichever database a
    # revision is generated against keeps every revision runnable on both.
    "render_as_batch": True,
}


def alembic_config(url: str | None = None, connection: sa.Connection | None = None) -> Config:
    """An Alembic Config for modsys's scripts, migrating `url` (default:
    DATABASE_URL) or an open `connection` (in the caller's transaction)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolation
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: sa.Connection) -> str | None:
    """The database's revision (None: never migrated nor stamped). Read directly,
    not through MigrationContext, which logs two lines per call (/readyz asks
    on every probe)."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    revisions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    return ",".join(sorted(revisions)) or None


def _has_modsys_tables(connection: sa.Connection) -> bool:
    present = set(sa.inspect(connection).get_table_names())
    return bool(present & set(SQLModel.metadata.tables))


def _plain_engine(url: str) -> sa.Engine:
    # Not modsys.infra.db.make_engine: SQLite batch migrations rebuild tables, which must
    # not run with PRAGMA foreign_keys=ON (a DROP TABLE would cascade); no pool needed.
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database at `url` to `revision`; returns (before, after)."""
    engine = _plain_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_ID})")
            before = current_revision(conn)
            if before is None and _has_modsys_tables(conn):
                raise MigrationError(
                    "this database has modsys tables but no migration revision: it was built by "
                    "create_all (`modsys serve`, an older `modsys init`). If it matches this version's "
                    "models, record that with `modsys init`; then `modsys db upgrade` works.")
            command.upgrade(alembic_config(connection=conn), revision)
            after = current_revision(conn)
    finally:
        engine.dispose()
    return before, after


def upgrade_engine(engine: sa.Engine) -> str | None:
    """Migrate a fresh database through an engine the caller built (benchmarks: it
    keeps the engine's connect_args, e.g. a PostgreSQL search_path). Returns the revision."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "head")
        return current_revision(conn)


def init_database(url: str) -> str | None:
    """For `modsys init` and `modsys serve`: an empty or versioned database is
    migrated to head. A database built by create_all (no revision, but modsys
    tables: `modsys serve` before Alembic built every schema) is stamped with
    the last revision create_all matched, then migrated from there.
    Returns the revision the database ends at."""
    engine = _plain_engine(url)
    try:
        with engine.begin() as conn:
            if current_revision(conn) is None and _has_modsys_tables(conn):
                command.stamp(alembic_config(connection=conn), LAST_CREATE_ALL_REVISION)
    finally:
        engine.dispose()
    return upgrade(url)[1]


def require_head(engine: sa.Engine) -> None:
    """Refuse to work on a database whose schema is not this code's (commands
    other than init/upgrade never change the schema themselves)."""
    with engine.connect() as conn:
        revision = current_revision(conn)
    head = head_revision()
    if revision is None:
        raise MigrationError("this database has no modsys schema yet: run `modsys init` "
                             "(or `modsys db upgrade`) first")
    if revision != head:
        raise MigrationError(f"the database schema is at {revision}, this code needs {head}: run `modsys db upgrade`")
