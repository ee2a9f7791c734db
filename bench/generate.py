"""Fill a PostgreSQL database with a large, believable moderation history for
the other benchmarks. Prints figures; never a test.

    python bench/generate.py [--url URL] [--scale 1.0] [--reset] [--seed 1]
    python bench/generate.py --url URL --drop        # drop the benchmark database

At --scale 1: 100,000 members, 1,000,000 actions, 200,000 flags (190,000 of
them with a stored toxicity score), 100,000 appeals in every state, 46 staff.
Rows go in with COPY (psycopg 3 `cursor.copy`), with explicit ids, into the
schema the migrations make, in a dedicated database (`--url`,
created if missing; default `modsys_bench` on 127.0.0.1).

The shape, so the queries meet what a real server would give them:
- offenders are skewed: 75% of actions hit a uniformly random member, 20% one
  of 1% "frequent" members (~200 actions each), 5% one of 0.05% "worst"
  members (~1,200 actions each): the case files worth measuring;
- half the flags were actioned (each linked to its action, against the
  message's author), 40% dismissed, 10% open (the last two weeks: the queue);
- appeals: 90% decided, 8% withdrawn, and a realistic open backlog of 2%
  (1% submitted, 0.5% in review, 0.5% escalated), all inside their SLA, so
  the scheduler has nothing to escalate until bench/queries.py makes 10,000 overdue.

Statements of reasons: one per action that tells the member (not notes), made
from the action rows by one INSERT ... SELECT, with the DSA fields the kind
registry gives (modsys.domain.kinds); `modsys export statements` reads them.

Not generated (no benchmarked query reads them): evidence, flag reports (one row per reporter; `flag.reporter_count` is set),
appeal messages, replacement actions of "modified" decisions.

The audit log is NOT filled: generated history is not audited. The chain
stays valid, because the migrations made its head row and nothing was
appended: the verifier is run at the end and must report ok on 0 events.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from array import array
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import click  # noqa: E402
import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from common import BENCH_DB, drop_database, ensure_database, libpq_url, machine_facts  # noqa: E402
from sqlmodel import Session, SQLModel  # noqa: E402

from modsys import audit  # noqa: E402
from modsys.community import ensure_community  # noqa: E402
from modsys.domain.policy import load_policy  # noqa: E402
from modsys.infra.config import DEFAULT_POLICY  # noqa: E402
from modsys.infra.db import make_engine  # noqa: E402
from modsys.infra.migrate import upgrade_engine  # noqa: E402

DAY = 86400.0
RULES = ["respectful", "illegal", "leaks", "spam", "instructions"]
CHANNELS = [(str(1_200_000_000_000_000_000 + i), name) for i, name in enumerate(
    "general memes gaming support off-topic introductions art music dev-chat help "
    "announcements-talk politics news random voice-text trading feedback events bots media "
    "science books movies pets food sports travel jobs showcase questions".split())]
LABELS = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
WORDS = ("you are the a to and is it that of in me my this for on be was are not so just do have lol what but "
         "with like no yes can all your get if we at he she they know idiot stupid shut up trash noob ban mod "
         "server game play chat message rule rules hey thanks please sorry dumb clown cope seethe ratio").split()
KIND_WEIGHTS = [("warning", 47), ("timeout", 35), ("ban", 12), ("note", 5), ("unban", 1)]
APPEALABLE = ("warning", "timeout", "ban")
KIND_CODE = {k: i for i, (k, _) in enumerate(KIND_WEIGHTS)}
ACTION_COLS = ("id", "community_id", "member_id", "kind", "moderator_id", "cosigner_id", "cosigned_at", "rules",
               "policy_version", "public_reason", "private_note", "starts_at", "ends_at", "status", "source",
               "flag_id", "appealable", "appeal_deadline", "supersedes_id", "lifted_by_id", "lifted_at",
               "lifted_reason", "created_at")


def _case(column: str, by_kind: dict[str, str | None]) -> str:
    whens = " ".join(f"WHEN '{k}' THEN {'NULL' if v is None else repr(v)}" for k, v in by_kind.items())
    return f"CASE {column} {whens} END"


def _statements_sql() -> str:
    """Statements of reasons as modsys.domain.reasons.build_statement writes them (the DSA
    fields from the kind registry; the texts short)."""
    from modsys.domain.kinds import KINDS
    from modsys.domain.reasons import measure

    told = [k for k, v in KINDS.items() if v.tells_member]
    timed = {k: KINDS[k].decision_account for k in told}
    account = (f"CASE WHEN a.ends_at IS NULL THEN {_case('a.kind', {k: v[1] for k, v in timed.items()})} "
               f"ELSE {_case('a.kind', {k: v[0] for k, v in timed.items()})} END")
    provision = (f"CASE WHEN a.ends_at IS NULL THEN {_case('a.kind', {k: KINDS[k].decision_provision[1] for k in told})} "
                 f"ELSE {_case('a.kind', {k: KINDS[k].decision_provision[0] for k in told})} END")
    labels = _case("a.kind", {k: measure(k, None) if not KINDS[k].timed else KINDS[k].label for k in told})
    return (
        "INSERT INTO statementofreasons (action_id, decision_ground, category, decision_account, measure, "
        "end_date_account_restriction, decision_facts, ground_reference, ground_explanation, automated_detection, "
        "automated_decision, redress, created_at, decision_provision) "
        "SELECT a.id, CASE WHEN a.rules::text LIKE '%illegal%' THEN 'DECISION_GROUND_ILLEGAL_CONTENT' "
        "ELSE 'DECISION_GROUND_INCOMPATIBLE_CONTENT' END, "
        "CASE WHEN a.rules::text LIKE '%illegal%' THEN 'STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY' "
        "ELSE 'STATEMENT_CATEGORY_OTHER_VIOLATION_TC' END, "
        f"{account}, {labels}, CASE WHEN ({account}) IS NOT NULL THEN a.ends_at END, a.public_reason, "
        "'Rule ' || (a.rules->>0) || ' (policy version ' || a.policy_version || ')', a.public_reason, "
        "a.flag_id IS NOT NULL AND a.id % 7 = 0, 'AUTOMATED_DECISION_NOT_AUTOMATED', "
        "'You can appeal this decision through the appeal link you received.', a.created_at, "
        f"{provision} FROM action a WHERE a.kind IN ({', '.join(repr(k) for k in told)}) ORDER BY a.id")


STATEMENTS_SQL = _statements_sql()


class Counts:
    def __init__(self, scale: float):
        self.members = max(200, round(100_000 * scale))
        self.actions = max(2_000, round(1_000_000 * scale))
        self.flags = max(400, round(200_000 * scale))
        self.appeals = max(200, round(100_000 * scale))


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Offenders:
    """Who gets actioned or flagged: uniform, 'frequent' (1%) or 'worst' (0.05%)."""

    def __init__(self, members: int, rng: random.Random):
        self.rng, self.members = rng, members
        self.frequent = list(range(100, members + 1, 100)) or [1]
        self.worst = list(range(2000, members + 1, 2000)) or [1]

    def pick(self) -> int:
        r = self.rng.random()
        if r < 0.75:
            return self.rng.randint(1, self.members)
        return self.rng.choice(self.frequent if r < 0.95 else self.worst)


def text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high)))


class Loader:
    """COPY rows into tables, with one progress bar over everything."""

    def __init__(self, conn: psycopg.Connection, total: int):
        self.conn = conn
        self.bar = click.progressbar(length=total, label="generating", file=sys.stderr, show_eta=True,
                                     show_percent=True, width=32)
        self.bar.__enter__()
        self.timings: dict[str, tuple[int, float]] = {}

    def copy(self, table: str, columns: tuple[str, ...], rows) -> int:
        started, n = time.perf_counter(), 0
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
                n += 1
                if n % 5000 == 0:
                    self.bar.update(5000)
        self.bar.update(n % 5000)
        self.conn.commit()
        self.timings[table] = (n, time.perf_counter() - started)
        return n

    def close(self) -> None:
        self.bar.__exit__(None, None, None)


def generate(url: str, scale: float, seed: int) -> None:
    rng = random.Random(seed)
    n = Counts(scale)
    now = time.time()
    engine = make_engine(url)
    upgrade_engine(engine)
    with Session(engine) as session:
        community_id = ensure_community(session, DEFAULT_POLICY).id
    policy_version = load_policy(DEFAULT_POLICY).version

    started = time.perf_counter()
    with engine.begin() as conn:  # staff: few rows, plain INSERTs; '!' can never match a password hash
        staff_rows = ([("moderator", f"bench_mod{i:02d}") for i in range(1, 41)]
                      + [("leadership", f"bench_lead{i}") for i in range(1, 6)] + [("admin", "bench_admin")])
        ids = conn.execute(sa.text(
            "INSERT INTO staffuser (community_id, username, password_hash, role, active, session_token, created_at) "
            "SELECT :c, u, '!', r, true, md5(u), now() FROM unnest(CAST(:users AS text[]), CAST(:roles AS text[])) "
            "AS t(u, r) RETURNING id, role"),
            {"c": community_id, "users": [u for _, u in staff_rows], "roles": [r for r, _ in staff_rows]}).all()
    mods = [i for i, role in ids if role == "moderator"]
    leads = [i for i, role in ids if role == "leadership"]

    # --- plan actions first (compact arrays), so appeals and flags agree with them --------------
    offenders = Offenders(n.members, rng)
    kinds, weights = [k for k, _ in KIND_WEIGHTS], [w for _, w in KIND_WEIGHTS]
    n_flag_actioned = n.flags // 2
    n_open_flags = n.flags // 10
    flag_author = array("i", (offenders.pick() for _ in range(n.flags)))
    flag_time = array("d")
    for i in range(n.flags):
        open_ = i >= n.flags - n_open_flags  # the last tenth: open, from the last two weeks
        flag_time.append(now - rng.uniform(0, 14 * DAY) if open_ else now - rng.uniform(14 * DAY, 365 * DAY))
    a_member = array("i")
    a_time = array("d")
    a_kind = array("b")
    for i in range(n.actions):
        if i < n_flag_actioned:  # action i is the one on flag i (the first half of the flags)
            a_member.append(flag_author[i])
            a_time.append(flag_time[i] + rng.uniform(60, 6 * 3600))
            a_kind.append(KIND_CODE[rng.choices(APPEALABLE, (50, 40, 10))[0]])
        else:
            a_member.append(offenders.pick())
            a_time.append(now - rng.uniform(0, 730 * DAY))
            a_kind.append(KIND_CODE[rng.choices(kinds, weights)[0]])

    # Appeals: open ones on recent actions (still appealable), closed ones on older actions;
    # each appeal on its own action, submitted after the action and decided before now.
    appealable = [i for i in range(n.actions) if kinds[a_kind[i]] in APPEALABLE and a_time[i] < now - 2 * DAY]
    recent = [i for i in appealable if a_time[i] > now - 30 * DAY]
    month_old = [i for i in appealable if now - 40 * DAY < a_time[i] < now - 10 * DAY]
    older = [i for i in appealable if a_time[i] < now - 10 * DAY]
    n_submitted, n_review, n_escalated = n.appeals // 100, n.appeals // 200, n.appeals // 200
    n_withdrawn = n.appeals * 8 // 100
    n_decided = n.appeals - n_submitted - n_review - n_escalated - n_withdrawn
    appeal_plan: dict[int, str] = {}
    for j, i in enumerate(rng.sample(recent, n_submitted + n_review)):
        appeal_plan[i] = "submitted" if j < n_submitted else "in_review"
    for i in rng.sample([i for i in month_old if i not in appeal_plan], n_escalated):
        appeal_plan[i] = "escalated"
    for j, i in enumerate(rng.sample([i for i in older if i not in appeal_plan], n_decided + n_withdrawn)):
        appeal_plan[i] = "withdrawn" if j < n_withdrawn else rng.choices(["upheld", "overturned", "modified"], (75, 20, 5))[0]

    # Timing drawn now, so the action rows can show what a decision did to them.
    appeal_times: dict[int, tuple[float, float, bool]] = {}  # submitted, closed, decided by leadership
    for i, plan in appeal_plan.items():
        by_leadership = False
        if plan in ("submitted", "in_review"):  # inside the 72 h review SLA
            submitted = rng.uniform(max(a_time[i] + 600, now - 2.9 * DAY), now - 0.05 * DAY)
            closed = now
        elif plan == "escalated":  # the review SLA passed; the 7 d leadership SLA runs
            submitted = rng.uniform(max(a_time[i] + 600, now - 9 * DAY), now - 3.1 * DAY)
            closed = now
        else:
            submitted = min(a_time[i] + rng.uniform(600, 7 * DAY), now - 3 * DAY)
            by_leadership = plan != "withdrawn" and rng.random() < 0.1
            closed = submitted + (72 * 3600 + rng.uniform(3600, 5 * DAY) if by_leadership else rng.uniform(3600, 60 * 3600))
            closed = min(closed, now - 60)
        appeal_times[i] = (submitted, closed, by_leadership)
    decided_at = {i: appeal_times[i][1] for i, plan in appeal_plan.items() if plan in ("overturned", "modified")}

    total = n.members + n.actions + n.flags * 2 + n.appeals
    conn = psycopg.connect(libpq_url(url))
    loader = Loader(conn, total)
    try:
        # --- members -----------------------------------------------------------------------
        loader.copy("member", ("id", "community_id", "platform", "platform_user_id", "display_name", "created_at"), (
            (i, community_id, "discord", str(100_000_000_000_000_000 + i), f"member{i}",
             at(now - rng.uniform(30 * DAY, 1500 * DAY))) for i in range(1, n.members + 1)))

        # --- flags, then their scores ---------------------------------------------------------
        scores: list[tuple] = []

        def flag_rows():
            for i in range(n.flags):
                fid = i + 1
                created = flag_time[i]
                if i < n_flag_actioned:
                    status = "actioned"
                elif i >= n.flags - n_open_flags:
                    status = "open"
                else:
                    status = "dismissed"
                r = rng.random()
                state = ("pending" if status == "open" and r < 0.02 else "unsupported_language" if r < 0.03
                         else "empty" if r < 0.04 else "scored")
                max_score = max_label = None
                priority = False
                if state == "scored":
                    top = min(0.9999, rng.betavariate(0.7, 2.2))
                    labels = {label: round(top * rng.random(), 4) for label in LABELS}
                    max_label = rng.choice(LABELS)
                    labels[max_label] = round(top, 4)
                    max_score = labels[max_label]
                    over = sorted(k for k, v in labels.items() if v >= (0.8 if k in ("toxicity", "obscene", "insult") else 0.5))
                    priority = bool(over)
                    scores.append((len(scores) + 1, fid, "original", "f" * 64, "0.5.2", json.dumps(labels), max_label,
                                   max_score, json.dumps(over), at(created + rng.uniform(0.2, 3))))
                channel_id, channel_name = rng.choice(CHANNELS)
                resolved = None if status == "open" else created + rng.uniform(600, 3 * DAY)
                yield (fid, community_id, str(1_300_000_000_000_000_000 + fid), channel_id, channel_name,
                       flag_author[i], text(rng, 3, 40), None if state != "unsupported_language" else "de",
                       at(created - 5), "", rng.choice((1, 1, 1, 2, 2, 3, 5)), status, state, max_score, max_label,
                       priority, None, None, None if resolved is None else rng.choice(mods),
                       None if resolved is None else at(resolved),
                       f"case #{fid}" if status == "actioned" else "", at(created))

        loader.copy("flag", ("id", "community_id", "platform_message_id", "channel_id", "channel_name", "author_id",
                             "content", "language", "message_sent_at", "reason", "reporter_count", "status",
                             "score_state", "max_score", "max_label", "priority", "claimed_by", "claimed_until",
                             "resolved_by_id", "resolved_at", "resolution_note", "created_at"), flag_rows())
        loader.copy("toxicityscore", ("id", "flag_id", "model_name", "model_sha256", "package_version", "labels",
                                      "max_label", "max_score", "over_threshold", "created_at"), iter(scores))
        # the bar counted flags twice (flags + scores); scores are fewer
        loader.bar.update(n.flags - len(scores))
        scores.clear()  # free the memory before the actions

        # --- actions ---------------------------------------------------------------------------
        durations = {"timeout": (3600, 86400, 7 * 86400), "ban": (7 * 86400, 30 * 86400, None)}

        def action_rows():
            for i in range(n.actions):
                kind = kinds[a_kind[i]]
                created = a_time[i]
                ends = None
                if kind in durations:
                    length = rng.choice(durations[kind])
                    ends = None if length is None else created + length
                status = "active" if ends is None or ends > now else "expired"
                lifted_at, lifted_by, lifted_reason = None, None, ""
                cosigner = cosigned = None
                plan = appeal_plan.get(i)
                if kind == "ban" and ends is None:  # permanent: two-person rule
                    if created > now - 0.25 * DAY and plan is None:  # a few hours: someone co-signs soon
                        status = "pending_cosign"
                    else:
                        cosigner, cosigned = rng.choice(mods), at(created + rng.uniform(60, 3600))
                if plan in ("overturned", "modified"):
                    status, lifted_at, lifted_by = plan, decided_at[i], rng.choice(leads + mods)
                    lifted_reason = "appeal decided: see the appeal"
                elif plan is None and status in ("active", "expired") and rng.random() < 0.03:
                    status, lifted_at, lifted_by = "revoked", created + rng.uniform(600, DAY), rng.choice(mods)
                    lifted_reason = "revoked: new facts came to light"
                if lifted_at is not None and kind in ("timeout", "ban") and (ends is None or ends > lifted_at):
                    ends = lifted_at
                deadline = created + 180 * DAY if kind in APPEALABLE else None
                open_appeal = plan in ("submitted", "in_review", "escalated")
                is_appealable = kind in APPEALABLE and status != "pending_cosign" and (deadline > now or open_appeal)
                flag_id = i + 1 if i < n_flag_actioned else None
                yield (i + 1, community_id, a_member[i], kind, rng.choice(mods), cosigner, cosigned,
                       json.dumps([rng.choice(RULES)]), policy_version,
                       "" if kind == "note" else text(rng, 6, 20), "" if kind != "note" else text(rng, 4, 12),
                       at(created), None if ends is None else at(ends), status,
                       "flag" if flag_id else "moderator", flag_id, is_appealable,
                       None if deadline is None else at(deadline), None, lifted_by,
                       None if lifted_at is None else at(lifted_at), lifted_reason, at(created))

        loader.copy("action", ACTION_COLS, action_rows())

        # --- appeals ------------------------------------------------------------------------------
        def appeal_rows():
            for aid, (i, plan) in enumerate(sorted(appeal_plan.items()), start=1):
                submitted, closed, by_leadership = appeal_times[i]
                row = dict(status=plan, reviewer_id=None, review_started_at=None, escalated_at=None,
                           escalation_reason="", recommendation="", leadership_due_at=None, outcome=None,
                           outcome_reasons="", decided_by_id=None, decided_at=None, withdrawn_at=None)
                if plan == "in_review":
                    row.update(reviewer_id=rng.choice(mods), review_started_at=submitted + rng.uniform(60, 3600))
                elif plan == "escalated":
                    esc = submitted + 72 * 3600
                    row.update(escalated_at=esc, escalation_reason="review SLA passed", leadership_due_at=esc + 7 * DAY)
                elif plan == "withdrawn":
                    row.update(withdrawn_at=closed)
                elif plan in ("upheld", "overturned", "modified"):
                    if by_leadership:
                        row.update(escalated_at=submitted + 72 * 3600, escalation_reason="review SLA passed",
                                   leadership_due_at=submitted + 72 * 3600 + 7 * DAY)
                    else:
                        row.update(reviewer_id=rng.choice(mods), review_started_at=submitted + rng.uniform(60, 3600))
                    row.update(status="decided", outcome=plan, outcome_reasons=text(rng, 8, 30),
                               decided_by_id=rng.choice(leads if by_leadership else mods),
                               decided_at=closed)
                yield (aid, community_id, i + 1, a_member[i], text(rng, 10, 60), row["status"], at(submitted),
                       at(submitted + 72 * 3600), row["reviewer_id"], *(at(t) if t else None for t in (
                           row["review_started_at"], row["escalated_at"])), None, row["escalation_reason"],
                       row["recommendation"], at(row["leadership_due_at"]) if row["leadership_due_at"] else None,
                       row["outcome"], row["outcome_reasons"], None, row["decided_by_id"],
                       at(row["decided_at"]) if row["decided_at"] else None,
                       at(row["withdrawn_at"]) if row["withdrawn_at"] else None)

        loader.copy("appeal", ("id", "community_id", "action_id", "appellant_id", "statement", "status",
                               "submitted_at", "review_due_at", "reviewer_id", "review_started_at", "escalated_at",
                               "escalated_by_id", "escalation_reason", "recommendation", "leadership_due_at",
                               "outcome", "outcome_reasons", "modified_action_id", "decided_by_id", "decided_at",
                               "withdrawn_at"), appeal_rows())
    finally:
        loader.close()

    # --- statements of reasons, from the action rows ------------------------------------------
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(STATEMENTS_SQL)
        loader.timings["statementofreasons"] = (cur.rowcount, time.perf_counter() - t0)
    conn.commit()

    # --- sequences past the explicit ids, then statistics and the visibility map ---------------
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        for table in ("member", "flag", "toxicityscore", "action", "appeal", "statementofreasons"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))")
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM (ANALYZE)")
    conn.close()
    vacuum_s = time.perf_counter() - t0
    took = time.perf_counter() - started

    with Session(engine) as session:
        verified = audit.verify(session)
    with engine.connect() as conn2:
        states = dict(conn2.execute(sa.text("SELECT status, count(*) FROM appeal GROUP BY status")).all())
        top = conn2.execute(sa.text("SELECT count(*) FROM action GROUP BY member_id ORDER BY 1 DESC LIMIT 1")).scalar()
        size = conn2.execute(sa.text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
    print(machine_facts(engine))
    print(f"generated into {sa.engine.make_url(url).render_as_string(hide_password=True)} (scale {scale}, seed {seed}) "
          f"in {took:.1f} s (VACUUM ANALYZE {vacuum_s:.1f} s); database size {size}")
    for table, (rows, seconds) in loader.timings.items():
        print(f"  {table:<14} {rows:>10,} rows  {seconds:7.1f} s  {rows / max(seconds, 1e-9):>9,.0f} rows/s")
    print(f"  staff {len(ids)}; appeals by state: " + ", ".join(f"{k} {v:,}" for k, v in sorted(states.items())))
    print(f"  most actions on one member: {top:,}")
    print(f"  audit chain: {'ok' if verified.ok else 'BROKEN: ' + str(verified.reason)} "
          f"({verified.checked} events: generated data is not audited)")
    engine.dispose()
    if not verified.ok:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=BENCH_DB, help=f"a dedicated database (default {BENCH_DB})")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M actions; 0.1 for a quick run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reset", action="store_true", help="drop every modsys table in --url first")
    parser.add_argument("--drop", action="store_true", help="drop the database in --url and exit")
    args = parser.parse_args()
    if args.drop:
        drop_database(args.url)
        print(f"dropped {sa.engine.make_url(args.url).database}")
        return
    if ensure_database(args.url):
        print(f"created database {sa.engine.make_url(args.url).database}", file=sys.stderr)
    engine = make_engine(args.url)
    with engine.connect() as conn:
        present = set(sa.inspect(conn).get_table_names()) & set(SQLModel.metadata.tables)
        has_rows = "action" in present and conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM action)")).scalar()
    if present and args.reset:
        with engine.begin() as conn:
            for table in present:
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
    elif has_rows:
        raise SystemExit("this database already holds actions; use --reset to start over (or another --url)")
    engine.dispose()
    generate(args.url, args.scale, args.seed)


if __name__ == "__main__":
    main()
