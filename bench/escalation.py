"""Escalating overdue appeals in bulk, on SQLite and PostgreSQL. Prints figures; never a test.

    python bench/escalation.py [--appeals 10000] [--batch 1000] [--loop 500] [--pg URL] [--no-pg]

For each database: N appeals past their review SLA are bulk-inserted, then the
scheduler's job (`modsys.runtime.jobs.escalate_overdue_appeals`: one UPDATE ... RETURNING
per batch, chained audit events and leadership notifications in bulk) escalates
them all. Reported: the job's wall time, a second (no-op) run, and the audit
chain check afterwards. `--loop N` also times the per-appeal service path
(`services.appeals.mark_escalated`, one appeal per transaction) on N appeals,
for comparison. PostgreSQL runs in a throwaway schema of the `test` database.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from modsys import audit  # noqa: E402
from modsys.community import ensure_community  # noqa: E402
from modsys.domain.actors import SCHEDULER  # noqa: E402
from modsys.domain.models import Appeal  # noqa: E402
from modsys.infra.config import DEFAULT_POLICY  # noqa: E402
from modsys.infra.db import make_engine, write_transaction  # noqa: E402
from modsys.infra.migrate import upgrade_engine  # noqa: E402
from modsys.runtime import jobs
from modsys.services.appeals import mark_escalated  # noqa: E402
from modsys.uow import open_unit  # noqa: E402
from tests.support.bulk import insert_appeals  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


def bench(name: str, engine: sa.Engine, appeals: int, batch: int, loop: int) -> None:
    upgrade_engine(engine)
    with Session(engine) as session:
        community_id = ensure_community(session, DEFAULT_POLICY).id
    overdue_since = datetime.now(UTC) - timedelta(hours=80)
    started = time.perf_counter()
    insert_appeals(engine, community_id, appeals, submitted_at=overdue_since)
    print(f"\n{name}: {appeals:,} overdue appeals inserted in {time.perf_counter() - started:.2f}s")

    started = time.perf_counter()
    summary = jobs.escalate_overdue_appeals(engine, batch=batch)
    took = time.perf_counter() - started
    print(f"  escalate_overdue_appeals(batch={batch}): {summary['escalated']:,} escalated in {took:.2f}s "
          f"({summary['escalated'] / took:,.0f} appeals/s)")
    started = time.perf_counter()
    again = jobs.escalate_overdue_appeals(engine, batch=batch)
    print(f"  second run (nothing due): {again['escalated']} escalated in {(time.perf_counter() - started) * 1000:.0f} ms")
    events = count(engine, "SELECT count(*) FROM auditevent WHERE verb = 'appeal.escalated'")
    notes = count(engine, "SELECT count(*) FROM outboxmessage WHERE event = 'appeal.escalated'")
    started = time.perf_counter()
    with Session(engine) as session:
        verified = audit.verify(session)
    print(f"  audit events {events:,}, leadership notifications {notes:,}; audit chain "
          f"{'ok' if verified.ok else 'BROKEN'} ({verified.checked:,} events verified in {time.perf_counter() - started:.2f}s)")
    assert summary["escalated"] == events == notes == appeals and verified.ok

    if loop:
        insert_appeals(engine, community_id, loop, submitted_at=overdue_since)
        started = time.perf_counter()
        with Session(engine) as session:
            ids = session.exec(select(Appeal.id).where(Appeal.status == "submitted")).all()
            session.rollback()
            for appeal_id in ids:  # the shape a naive job would have: one appeal per transaction
                write_transaction(session)
                uow = open_unit(session, SCHEDULER.within(community_id))
                mark_escalated(uow, uow.get(Appeal, appeal_id), "review SLA passed")
                session.commit()
        took = time.perf_counter() - started
        print(f"  for comparison, one service call per appeal: {len(ids):,} in {took:.2f}s "
              f"({len(ids) / took:,.0f} appeals/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appeals", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=jobs.BATCH)
    parser.add_argument("--loop", type=int, default=500, help="appeals for the per-appeal comparison (0: skip)")
    parser.add_argument("--pg", default=os.environ.get("MODSYS_TEST_PG_URL", PG_DEFAULT))
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores available: {cores} (machine: {os.cpu_count()}); the job itself is single-threaded")
    print(f"Python {platform.python_version()}, SQLAlchemy {sa.__version__}, SQLite {sqlite3.sqlite_version}")

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        bench("SQLite (file, WAL)", engine, args.appeals, args.batch, args.loop)
        engine.dispose()

    if args.no_pg:
        return
    import psycopg

    schema = f"bench_escalation_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.pg)
    with admin.begin() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        print(f"\nPostgreSQL {version}, psycopg {psycopg.__version__}")
        engine = make_engine(args.pg, connect_args={"options": f"-csearch_path={schema}"})
        bench("PostgreSQL", engine, args.appeals, args.batch, args.loop)
        engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
