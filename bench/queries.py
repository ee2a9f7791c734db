"""Read-model queries and the escalation sweep on a large PostgreSQL database
(fill it first with bench/generate.py). Prints figures; never a test.

    python bench/queries.py [--url URL] [--iterations 200] [--plans] [--indexes]
                            [--sweep 10000] [--only NAME ...]

Each query is the real function from `modsys.reads.queries` (or, for the
transparency report, `modsys.reads.export.transparency`), called N times, each time in
a fresh Session as a web request would, and timed end to end: SQL, network
(loopback) and ORM object building. Reported: p50/p95/max in ms, rows.
`--plans` prints `EXPLAIN (ANALYZE, BUFFERS)` of every SQL statement each one
sends and names any sequential scan of a large table. `--indexes` creates the
candidate indexes (CANDIDATE_INDEXES below) that the schema lacks, by plain
SQL, so an index can be measured before it goes into modsys/domain/models.py, and
drops again only those it created (`--keep-indexes` keeps them).

The sweep: `--sweep N` inserts N appeals past their review SLA (each on an
action that had none), measures the moderators' queue with that backlog, then
times `modsys.runtime.jobs.escalate_overdue_appeals` escalating them all; afterwards
the N appeals and their notifications are deleted again so the dataset is
unchanged, except the audit events, which are append-only and stay.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa  # noqa: E402
from common import BENCH_DB, machine_facts, summary_ms  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from modsys.community import default_community  # noqa: E402
from modsys.domain import clock  # noqa: E402
from modsys.domain.models import Member, StaffUser  # noqa: E402
from modsys.infra.db import make_engine  # noqa: E402
from modsys.reads import listing, queries, search
from modsys.reads.export import rollups  # noqa: E402
from modsys.reads.export.transparency import (  # noqa: E402
    months_back,
    recount_report,
    transparency_report,
)
from modsys.runtime import jobs

LARGE_TABLES = {"member", "action", "flag", "appeal", "toxicityscore", "auditevent", "outboxmessage", "flagreport",
                "evidence", "statementofreasons"}

# Indexes to try, by plain SQL (--indexes). The ones the first measurements asked
# for (ix_action_community_created, ix_flag_queue in the queue's order,
# ix_flag_community_channel, ix_appeal_review_queue) are in modsys/domain/models.py
# now; see bench/RESULTS.md. What is left is a candidate for the transparency
# report, which reads appeals by decision date.
CANDIDATE_INDEXES: dict[str, str] = {
    "ix_appeal_decided": "CREATE INDEX IF NOT EXISTS ix_appeal_decided ON appeal (community_id, decided_at)",
}
ALL = 10**6  # a "limit" that returns everything: what the unpaginated versions did


# --- measuring --------------------------------------------------------------------------------------

class Capture:
    """The SQL statements (with parameters) an engine sends while active."""

    def __init__(self, engine: sa.Engine):
        self.engine, self.statements = engine, []

    def _hook(self, conn, cursor, statement, parameters, context, executemany):
        if not executemany:
            self.statements.append((statement, parameters))

    def __enter__(self) -> "Capture":
        event.listen(self.engine, "before_cursor_execute", self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._hook)


def explain(engine: sa.Engine, statement: str, parameters: Any, *, rollback: bool = False) -> str:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars().all()
        if rollback:
            conn.rollback()
    return "\n".join(rows)


def seq_scans(plan: str) -> list[str]:
    return sorted({m for m in re.findall(r"Seq Scan on (\w+)", plan) if m in LARGE_TABLES})


def measure(engine: sa.Engine, fn: Callable[[Session], Any], iterations: int, warmup: int) -> tuple[dict, int]:
    rows = 0
    for _ in range(warmup):
        with Session(engine) as s:
            fn(s)
    times = []
    for _ in range(iterations):
        with Session(engine) as s:
            t0 = time.perf_counter()
            result = fn(s)
            times.append(time.perf_counter() - t0)
    rows = _rows(result)
    return summary_ms(times), rows


def _rows(result: Any) -> int:
    if isinstance(result, list):
        return len(result)
    if isinstance(result, queries.CaseFile):
        return len(result.actions) + len(result.appeals) + len(result.flags)
    if isinstance(result, dict):
        return sum(len(v) for v in result.values())
    if isinstance(result, search.Results):
        return sum(len(g) for g in (result.members, result.cases, result.appeals, result.evidence, result.flags))
    return 1


def report(name: str, stats: dict, rows: int, target_ms: float | None) -> str:
    verdict = ""
    if target_ms is not None:
        verdict = f"  target p95 < {target_ms:g} ms: {'met' if stats['p95'] < target_ms else 'MISSED'}"
    return (f"{name:<44} p50 {stats['p50']:7.2f}  p95 {stats['p95']:7.2f}  max {stats['max']:7.2f} ms  "
            f"rows {rows:>6}{verdict}")


def print_plans(engine: sa.Engine, name: str, fn: Callable[[Session], Any]) -> list[str]:
    with Capture(engine) as cap, Session(engine) as s:
        fn(s)
    found: list[str] = []
    for statement, parameters in cap.statements:
        plan = explain(engine, statement, parameters)
        scans = seq_scans(plan)
        found += scans
        print(f"\n--- {name}: {' '.join(statement.split())[:300]}")
        print(plan)
        if scans:
            print(f"*** sequential scan of {', '.join(scans)}")
    return found


# --- the sweep ------------------------------------------------------------------------------------

def make_overdue(engine: sa.Engine, community_id: int, n: int, now: datetime) -> list[int]:
    """N submitted appeals past their review SLA, each on an action that has none."""
    with engine.begin() as conn:
        return list(conn.execute(sa.text(
            "INSERT INTO appeal (community_id, action_id, appellant_id, statement, status, submitted_at, "
            "review_due_at, escalation_reason, recommendation, outcome_reasons) "
            "SELECT a.community_id, a.id, a.member_id, 'bench: an appeal nobody reviewed in time', 'submitted', "
            "CAST(:submitted AS timestamptz), CAST(:due AS timestamptz), '', '', '' FROM action a "
            "WHERE a.community_id = :c AND a.kind IN ('warning', 'timeout', 'ban') "
            "AND a.status IN ('active', 'expired') "
            "AND NOT EXISTS (SELECT 1 FROM appeal p WHERE p.action_id = a.id) ORDER BY a.id DESC LIMIT :n "
            "RETURNING id"),
            {"c": community_id, "n": n, "submitted": now - timedelta(hours=80),
             "due": now - timedelta(hours=8)}).scalars())


def remove(engine: sa.Engine, ids: list[int]) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outboxmessage WHERE dedupe_key = ANY(:keys)"),
                     {"keys": [f"appeal.escalated:{i}" for i in ids]})
        conn.execute(sa.text("DELETE FROM appeal WHERE id = ANY(:ids)"), {"ids": ids})


def sweep(engine: sa.Engine, community_id: int, staff: StaffUser, n: int, plans: bool) -> None:
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    ids = make_overdue(engine, community_id, n, now)
    print(f"\nsweep: {len(ids):,} overdue appeals inserted in {time.perf_counter() - t0:.2f}s")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE appeal")  # as autovacuum would after this many new rows
        stats, rows = measure(engine, lambda s: queries.reviewable_appeals(s, staff), 50, 5)
        print(report(f"reviewable_appeals, {len(ids):,} overdue waiting", stats, rows, 50))
        stats, rows = measure(engine, lambda s: queries.reviewable_appeals(s, staff, limit=ALL), 10, 2)
        print(report("  the same, every one of them", stats, rows, 50))
        stats, rows = measure(engine, lambda s: queries.counts(s, community_id), 10, 2)
        print(report(f"counts, {len(ids):,} overdue waiting", stats, rows, None))
        with Capture(engine) as cap:
            t0 = time.perf_counter()
            summary = jobs.escalate_overdue_appeals(engine)
            took = time.perf_counter() - t0
        verdict = "met" if took < 2 else "MISSED"
        print(f"escalate_overdue_appeals: {summary['escalated']:,} escalated in {took:.2f}s "
              f"({summary['escalated'] / took:,.0f} appeals/s; batch {jobs.BATCH})  target < 2 s: {verdict}")
        t0 = time.perf_counter()
        again = jobs.escalate_overdue_appeals(engine)
        print(f"second run, nothing due: {again['escalated']} escalated in {(time.perf_counter() - t0) * 1000:.1f} ms")
        if plans:  # the batch UPDATE again, on fresh overdue rows, rolled back
            extra = make_overdue(engine, community_id, jobs.BATCH, now)
            try:
                update = next((st, p) for st, p in cap.statements if st.lstrip().upper().startswith("UPDATE APPEAL"))
                plan = explain(engine, *update, rollback=True)
                print(f"\n--- escalation batch: {' '.join(update[0].split())[:300]}\n{plan}")
                if scans := seq_scans(plan):
                    print(f"*** sequential scan of {', '.join(scans)}")
            finally:
                remove(engine, extra)
    finally:
        remove(engine, ids)


# --- main -------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=BENCH_DB)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--plans", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) of every statement")
    parser.add_argument("--indexes", action="store_true", help="create CANDIDATE_INDEXES first (dropped after)")
    parser.add_argument("--keep-indexes", action="store_true")
    parser.add_argument("--sweep", type=int, default=10_000, help="overdue appeals for the sweep (0: skip)")
    parser.add_argument("--only", nargs="*", help="run only the queries whose name contains one of these")
    args = parser.parse_args()

    engine = make_engine(args.url)
    print(machine_facts(engine, extra=[f"{args.iterations} iterations per query after {args.warmup} warm-up calls, "
                                       "one fresh Session each; the client runs on the same machine"]))
    with Session(engine) as s:
        community_id = default_community(s).id
        staff = s.exec(select(StaffUser).where(StaffUser.username == "bench_mod01")).one()
        sizes = {t: s.exec(sa.text(f"SELECT count(*) FROM {t}")).one()[0]
                 for t in ("member", "action", "flag", "toxicityscore", "appeal")}
        per_member = s.exec(sa.text(
            "SELECT member_id, count(*) AS n FROM action GROUP BY member_id ORDER BY n DESC")).all()
        s.expunge_all()
    print("# dataset: " + ", ".join(f"{t} {n:,}" for t, n in sizes.items()))
    worst_id, worst_n = per_member[0]
    frequent_id, frequent_n = next((m, c) for m, c in per_member if c <= 300)  # a "frequent" offender
    typical_id, typical_n = per_member[len(per_member) // 2]

    created: list[str] = []
    if args.indexes:
        with engine.begin() as conn:
            present = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))
                          .scalars())
            for name, ddl in CANDIDATE_INDEXES.items():
                if name in present:
                    print(f"# {name} is already in the schema")
                    continue
                t0 = time.perf_counter()
                conn.exec_driver_sql(ddl)
                created.append(name)
                print(f"# created {name} in {time.perf_counter() - t0:.1f}s: {ddl}")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE action, flag, appeal")  # visibility map for index-only scans
    t0 = time.perf_counter()
    built = rollups.refresh(engine)  # the first run counts every month (generated data is not audited)
    print(f"# rollups built: {built['months']} months in {time.perf_counter() - t0:.2f} s")

    def member(member_id: int) -> Member:
        with Session(engine) as s:
            m = s.get(Member, member_id)
            s.expunge(m)
            return m

    worst, frequent, typical = member(worst_id), member(frequent_id), member(typical_id)
    this_month = months_back(clock.now())[-1]
    month_start = datetime(int(this_month[:4]), int(this_month[5:]), 1, tzinfo=UTC)
    # name -> (function, p95 target in ms or None)
    benches: dict[str, tuple[Callable[[Session], Any], float | None]] = {
        "flag_queue page 1 (50 open flags)": (lambda s: queries.flag_queue(s, community_id), 50),
        "flag_queue page 10": (lambda s: queries.flag_queue(s, community_id, offset=9 * queries.PAGE), 50),
        "flag_queue, dashboard home (10)": (lambda s: queries.flag_queue(s, community_id, limit=10), 50),
        "flag_queue, dismissed page 1": (lambda s: queries.flag_queue(s, community_id, status="dismissed"), 50),
        "flag_channels (flags page filter, a loose index scan)": (lambda s: queries.flag_channels(s, community_id), 50),
        "appeals list, due order, page 1 (/appeals)": (lambda s: listing.appeals(s, community_id, {}, staff), 50),
        "member by Discord id (no platform)": (lambda s: s.exec(select(Member).where(
            Member.community_id == community_id, Member.platform_user_id == typical.platform_user_id)).all(), 50),
        "reviewable_appeals (moderators' queue)": (lambda s: queries.reviewable_appeals(s, staff), 50),
        "reviewable_appeals, all open (no limit)": (lambda s: queries.reviewable_appeals(s, staff, limit=ALL), 50),
        "escalated_appeals (leadership desk)": (lambda s: queries.escalated_appeals(s, community_id), 50),
        f"case_file, worst member ({worst_n} actions)": (lambda s: queries.case_file(s, worst), 50),
        f"case_file, frequent ({frequent_n} actions)": (lambda s: queries.case_file(s, frequent), 50),
        f"case_file, typical ({typical_n} actions)": (lambda s: queries.case_file(s, typical), 50),
        "case_file, worst, whole history (no limit)": (lambda s: queries.case_file(s, worst, limit=ALL), 50),
        "recent_actions (dashboard home)": (lambda s: queries.recent_actions(s, community_id), 50),
        "pending_cosign (dashboard home)": (lambda s: queries.pending_cosign(s, community_id), 50),
        "counts (dashboard + transparency)": (lambda s: queries.counts(s, community_id), None),
        # The public /transparency page reads the rollups (modsys/reads/export/rollups.py); the
        # full recount of 12 months is what it cost before, and what the rollups must equal.
        "transparency_report from rollups (/transparency)": (lambda s: transparency_report(s, community_id), 100),
        "recount_report, 12 months (the full recount)": (lambda s: recount_report(s, community_id), None),
        "recount of the current month (refresh's work per changed month)": (
            lambda s: rollups.count(s, community_id, [this_month], month_start, clock.now(), clock.now()), None),
    }
    # The header's search box (modsys/reads/search.py): numbers, names, and words from the
    # generator's vocabulary: a common one (in ~1 in 6 public reasons), two together,
    # and one nobody wrote (the GIN index must answer "nothing" without a scan).
    for label, q in (("a Discord id", typical.platform_user_id), ("#case number", f"#{sizes['action'] // 2}"),
                     ("a name prefix", f"member{typical_id // 10}"), ("a common word", "idiot"),
                     ("two words", "stupid clown"), ("a word nobody used", "zebra")):
        benches[f"search: {label} ({q})"] = ((lambda q: lambda s: search.search(s, community_id, q))(q), 100)
    if args.only:
        benches = {k: v for k, v in benches.items() if any(o in k for o in args.only)}

    scans: dict[str, list[str]] = {}
    try:
        print()
        for name, (fn, target) in benches.items():
            iterations = args.iterations if "recount" not in name else max(5, args.iterations // 20)
            stats, rows = measure(engine, fn, iterations, args.warmup)
            print(report(name, stats, rows, target), flush=True)
        if args.plans:
            for name, (fn, _) in benches.items():
                if found := print_plans(engine, name, fn):
                    scans[name] = found
            print("\nsequential scans of large tables: " + ("none" if not scans else "; ".join(
                f"{name}: {', '.join(sorted(set(t)))}" for name, t in scans.items())))
        if args.sweep:
            with clock.using(clock.SystemClock()):
                sweep(engine, community_id, staff, args.sweep, args.plans)
    finally:
        if created and not args.keep_indexes:
            with engine.begin() as conn:
                for name in created:
                    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
            print(f"\n# dropped {', '.join(created)}")
    engine.dispose()


if __name__ == "__main__":
    main()
