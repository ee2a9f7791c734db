"""`modsys export statements` on a large database: wall time and peak memory of the
command, beside the same two queries streamed by `psql` (the floor: the SQL and the
transfer, nothing else). Prints figures; never a test. Fill the database first with
bench/generate.py (it writes the statements of reasons too).

    python bench/export.py [--url URL] [--before /path/to/an/older/checkout] [--format dsa-json dsa-csv]

Each run is a fresh process measured by GNU time: wall seconds and its peak
resident memory. `--before DIR` runs the same command from another
checkout (PYTHONPATH=DIR), e.g. the commit before the streaming export; for that run
the database's Alembic revision is stamped to the one the older code expects (it only
reads, and ignores the newer column and indexes) and restored afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa  # noqa: E402
from common import BENCH_DB, libpq_url, machine_facts  # noqa: E402
from sqlmodel import Session  # noqa: E402

from modsys.community import default_community  # noqa: E402
from modsys.infra.config import DEFAULT_POLICY  # noqa: E402
from modsys.infra.db import make_engine  # noqa: E402
from modsys.reads.export.dsa import StatementStream  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS MiB, exit status) of one process, by GNU
    time (the child's own peak, not the forking parent's). CPU time is the fairer
    figure on a shared machine: the wall time waits for the cores."""
    with tempfile.NamedTemporaryFile("r") as timing:
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", timing.name, *cmd], env=env, cwd=cwd,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall, user, system, kib = timing.read().split()[-4:]
    if proc.returncode:
        print(f"  ! exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return float(wall), float(user) + float(system), int(kib) / 1024, proc.returncode


def stamped(url: str, checkout: Path, env: dict[str, str]):
    """Context: the database claims the older checkout's head revision while it runs."""
    from contextlib import contextmanager

    @contextmanager
    def cm():
        head = subprocess.run([sys.executable, "-c", "from modsys import migrate; print(migrate.head_revision())"],
                              env=env, cwd=checkout, capture_output=True, text=True, check=True).stdout.strip()
        engine = make_engine(url)
        with engine.begin() as conn:
            now = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        try:
            yield
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": now})
            engine.dispose()

    return cm()


def the_queries(url: str) -> list[str]:
    """The SQL the export streams (its two SELECTs), with literal parameters."""
    engine = make_engine(url)
    with Session(engine) as s:
        stream = StatementStream(s, default_community(s).id)
        out = [str(q.compile(engine, compile_kwargs={"literal_binds": True})) for q in stream.queries()]
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=BENCH_DB)
    parser.add_argument("--before", type=Path, help="another checkout to run the same command from")
    parser.add_argument("--format", nargs="*", default=["dsa-json"], choices=["dsa-json", "dsa-csv"])
    args = parser.parse_args()

    engine = make_engine(args.url)
    print(machine_facts(engine))
    with engine.connect() as conn:
        sizes = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                 for t in ("action", "statementofreasons", "flag", "appeal")}
    engine.dispose()
    print("# dataset: " + ", ".join(f"{t} {n:,}" for t, n in sizes.items()))

    base = {**os.environ, "DATABASE_URL": args.url, "MODSYS_POLICY": str(DEFAULT_POLICY)}
    base.pop("MODSYS_ENV", None)
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.format:
            out = Path(tmp) / ("sor.json" if fmt == "dsa-json" else "sor.csv")
            cmd = [sys.executable, "-m", "modsys.cli", "export", "statements", "--format", fmt, "--out", str(out)]
            checkouts = [("this checkout", ROOT)] + ([("--before " + str(args.before), args.before)]
                                                     if args.before else [])
            for label, where in checkouts:
                env = {**base, "PYTHONPATH": str(where)}
                if where == ROOT:
                    took, cpu, rss, rc = run(cmd, env, cwd=where)
                else:
                    with stamped(args.url, where, env):
                        took, cpu, rss, rc = run(cmd, env, cwd=where)
                files = sorted(Path(tmp).glob("sor*"))
                size = sum(f.stat().st_size for f in files) / 2**20
                print(f"modsys export statements --format {fmt} ({label}): {took:6.1f} s (CPU {cpu:5.1f} s), "
                      f"peak {rss:7.1f} MiB, "
                      f"{len(files)} files, {size:.1f} MiB" + ("" if rc == 0 else "  FAILED"))
                for f in files:
                    f.unlink()
    total_t, total_cpu, peak = 0.0, 0.0, 0.0
    for sql in the_queries(args.url):
        took, cpu, rss, _ = run(["psql", libpq_url(args.url), "-X", "-q", "-c", f"COPY ({sql}) TO STDOUT"],
                                dict(os.environ))
        total_t, total_cpu, peak = total_t + took, total_cpu + cpu, max(peak, rss)
    print(f"the same two queries streamed by psql (COPY ... TO STDOUT > /dev/null): {total_t:6.1f} s "
          f"(psql's CPU {total_cpu:5.1f} s), peak {peak:7.1f} MiB")
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
