"""The Alembic migrations build exactly the schema the models describe.

When this fails after a model change, add a revision: see modsys/infra/migrations/README.
"""

from __future__ import annotations

from typing import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlmodel import SQLModel

from modsys.audit import GENESIS
from modsys.cli import main
from modsys.infra import migrate
from tests.conftest import DEFAULT_POLICY, empty_pg_schema, schema_url

HEAD = migrate.head_revision()


@pytest.fixture
def empty_db_url(backend: str, tmp_path) -> Iterator[str]:
    """A URL to a database with nothing in it (PostgreSQL: a fresh schema)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    with empty_pg_schema("modsys_mig") as schema:
        yield schema_url(schema)


def _diff(url: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts=migrate.CONTEXT_OPTIONS)
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_one_head_revision():
    # Two people adding revisions on the same parent leave two heads: `upgrade head` refuses.
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert heads == [HEAD], f"migration heads {heads}: merge them (alembic merge heads)"


def test_upgrade_of_an_empty_database_matches_the_models(empty_db_url: str):
    assert _tables(empty_db_url) == set()
    before, after = migrate.upgrade(empty_db_url)
    assert (before, after) == (None, HEAD)
    diff = _diff(empty_db_url)
    assert diff == [], (
        "the models and the migrations disagree; add a revision (modsys/infra/migrations/README):\n"
        + "\n".join(map(str, diff)))
    assert _tables(empty_db_url) == set(SQLModel.metadata.tables) | {"alembic_version"}


def test_migrated_database_has_the_audit_head_and_append_only_triggers(empty_db_url: str):
    migrate.upgrade(empty_db_url)
    engine = sa.create_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            assert conn.exec_driver_sql("SELECT id, seq, hash FROM audithead").all() == [(1, 0, GENESIS)]
            conn.exec_driver_sql(
                "INSERT INTO auditevent (seq, created_at, actor_kind, actor_name, verb, subject_type, data, "
                "prev_hash, hash) VALUES (1, CURRENT_TIMESTAMP, 'system', 'test', 'x', 'y', '{}', 'a', 'b')")
        for statement in ("UPDATE auditevent SET verb = 'edited'", "DELETE FROM auditevent"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
                conn.exec_driver_sql(statement)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT verb FROM auditevent").all() == [("x",)]
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(empty_db_url: str):
    from alembic import command

    migrate.upgrade(empty_db_url)

    engine = sa.create_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(connection=conn), "base")
        assert _tables(empty_db_url) == {"alembic_version"}
        with engine.connect() as conn:
            assert migrate.current_revision(conn) is None
    finally:
        engine.dispose()
    assert migrate.upgrade(empty_db_url) == (None, HEAD)
    assert _diff(empty_db_url) == []


def test_init_stamps_the_head_so_db_upgrade_has_nothing_to_do(empty_db_url: str, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    monkeypatch.setenv("MODSYS_POLICY", str(DEFAULT_POLICY))
    runner = CliRunner()
    result = runner.invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            assert migrate.current_revision(conn) == HEAD
    finally:
        engine.dispose()
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"already at {HEAD}" in result.output
    assert _diff(empty_db_url) == []
    # init again on a migrated database: still fine, still at head
    assert runner.invoke(main, ["init"]).exit_code == 0
    assert runner.invoke(main, ["db", "upgrade"]).output.strip().endswith(f"already at {HEAD}")


def test_db_upgrade_refuses_a_database_built_without_migrations(empty_db_url: str, monkeypatch):
    engine = sa.create_engine(empty_db_url)
    SQLModel.metadata.create_all(engine)  # how `modsys serve` built databases before migrations
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "no migration revision" in result.output and "modsys init" in result.output


def test_db_upgrade_output_never_shows_the_database_password(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0 and "migrated empty -> " in result.output
    # the PostgreSQL form: only what follows '@' is printed
    monkeypatch.setenv("DATABASE_URL", "postgresql://modsys:hunter2-secret@127.0.0.1:1/nope")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1, result.exception
    assert "cannot reach the database at 127.0.0.1:1/nope" in result.output
    assert "hunter2" not in result.output


def test_init_brings_a_database_built_before_migrations_to_head(empty_db_url: str, monkeypatch):
    # What `modsys serve` left before Alembic built every schema: revision 0002's tables, no alembic_version.
    migrate.upgrade(empty_db_url, migrate.LAST_CREATE_ALL_REVISION)
    engine = sa.create_engine(empty_db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    monkeypatch.setenv("MODSYS_POLICY", str(DEFAULT_POLICY))
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    assert _diff(empty_db_url) == []



def test_migrated_postgresql_has_every_search_index(empty_db_url: str, backend: str):
    # The model comparison leaves these DDL-only indexes out: this is what sees a revision forget one.
    from modsys.domain.models import SEARCH_INDEXES

    migrate.upgrade(empty_db_url)
    listing = ("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()" if backend == "postgresql"
               else "SELECT name FROM sqlite_master WHERE type = 'index'")
    engine = sa.create_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            names = set(conn.exec_driver_sql(listing).scalars())
    finally:
        engine.dispose()
    # PostgreSQL has every one; SQLite (which searches with LIKE) none.
    assert set(SEARCH_INDEXES) & names == (set(SEARCH_INDEXES) if backend == "postgresql" else set())
