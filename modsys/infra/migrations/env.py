"""Alembic environment for modsys: models from modsys.domain.models, URL from
`sqlalchemy.url` when the caller set one, else DATABASE_URL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

from modsys.domain import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from modsys.infra.config import load_settings
from modsys.infra.migrate import CONTEXT_OPTIONS

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or load_settings().database_url


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: write the SQL for a DBA instead of running it."""
    url = _url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"}, **CONTEXT_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, **CONTEXT_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # the caller's connection and transaction (tests, `modsys init`)
        _run(connection)
        return
    # A plain engine, not modsys.infra.db.make_engine: SQLite batch migrations rebuild
    # tables, which must not run with PRAGMA foreign_keys=ON (a DROP TABLE would
    # cascade), and a migration needs no pool.
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
