"""Shared by the benchmarks in bench/: machine facts printed with every figure,
database URL helpers, percentiles. Not a test; imports nothing heavy."""

from __future__ import annotations

import math
import os
import platform
import sys
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

BENCH_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/modsys_bench"


def cores() -> tuple[int, int]:
    """(cores this process may use, cores in the machine)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return usable, os.cpu_count() or 1


def machine_facts(engine: sa.Engine | None = None, *, gunicorn_workers: int | None = None,
                  gunicorn_threads: int | None = None, torch_threads: int | None = None,
                  extra: Iterable[str] = ()) -> str:
    """One block of text: what the figures below were measured on."""
    import psycopg

    usable, total = cores()
    lines = [f"machine: {usable} cores usable of {total} (os.cpu_count), load average "
             + " ".join(f"{x:.2f}" for x in os.getloadavg()),
             f"Python {platform.python_version()}, SQLAlchemy {sa.__version__}, psycopg {psycopg.__version__} "
             f"({psycopg.pq.__impl__})"]
    if engine is not None:
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SHOW server_version").scalar_one()
            settings = dict(conn.exec_driver_sql(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                "('shared_buffers', 'work_mem', 'max_connections', 'jit')").all())
        lines.append(f"PostgreSQL {version} on 127.0.0.1 (same machine): "
                     + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
    if gunicorn_workers is not None:
        import gunicorn

        lines.append(f"gunicorn {gunicorn.__version__}: {gunicorn_workers} workers x {gunicorn_threads} threads (gthread)")
    if torch_threads is not None:
        import torch

        lines.append(f"torch {torch.__version__}: {torch_threads} threads for the scoring worker")
    lines += list(extra)
    return "\n".join("# " + line for line in lines)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"n": len(ordered), "p50": percentile(ordered, 50) * 1000, "p95": percentile(ordered, 95) * 1000,
            "p99": percentile(ordered, 99) * 1000, "max": ordered[-1] * 1000 if ordered else math.nan}


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as a libpq connection string for psycopg.connect."""
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_name(url: str) -> str:
    return sa.engine.make_url(url).database or ""


def _maintenance(url: str) -> sa.Engine:
    return sa.create_engine(sa.engine.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT",
                            poolclass=sa.pool.NullPool)


def ensure_database(url: str) -> bool:
    """Create the database named in `url` if it is missing; True when created."""
    name = database_name(url)
    engine = _maintenance(url)
    try:
        with engine.connect() as conn:
            if conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                return False
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            return True
    finally:
        engine.dispose()


def drop_database(url: str) -> None:
    name = database_name(url)
    if name in ("postgres", "template0", "template1", "test"):
        raise SystemExit(f"refusing to drop the database {name!r}")
    engine = _maintenance(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()
