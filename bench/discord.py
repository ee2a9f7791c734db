"""Discord enforcement: latency and a raid. Prints figures; never a test.

    python bench/discord.py [--filings 40] [--raid 1000] [--unbans 100] [--pg URL | --no-pg]

1. Filing -> Discord request: timeouts are filed one by one (the service's
   commit is the start) while the scheduler runs; the end is the moment the
   fake Discord receives the PATCH (after the member's DM). Embedded mode: the
   scheduler thread of `modsys serve` on a SQLite file. Production topology:
   PostgreSQL and `modsys scheduler` as its own process.
2. A raid: N bans queued at once (and, for `--unbans` of those members, the
   unban right after), drained by one deliverer against a fake Discord that
   enforces the documented global limit (50 requests per second) and a
   per-route bucket of 25 per second, answering 429 like Discord. Reported:
   wall time, requests, 429s, the busiest second, and whether every member's
   ban came before their unban.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from sqlmodel import select  # noqa: E402

from bench.common import machine_facts, percentile  # noqa: E402
from modsys.adapters.discord.delivery import deliver_enforcement  # noqa: E402
from modsys.community import ensure_community  # noqa: E402
from modsys.domain.actors import CLI, Actor  # noqa: E402
from modsys.domain.models import DiscordEnforcement  # noqa: E402
from modsys.infra.config import DEFAULT_POLICY, load_settings  # noqa: E402
from modsys.infra.db import make_engine, new_session, write_transaction  # noqa: E402
from modsys.infra.migrate import upgrade_engine  # noqa: E402
from modsys.services.actions import NewAction, file_action  # noqa: E402
from modsys.services.members import get_or_create_member  # noqa: E402
from modsys.services.staff import create_staff  # noqa: E402
from tests.support.discord_server import FakeDiscord  # noqa: E402

GUILD = "500000000000000001"
SECRET = "bench-secret-key-0123456789abcdefghijklmnop"


def setup(url: str, fake: FakeDiscord, schema: str | None = None) -> tuple[sa.Engine, Actor]:
    kw = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
    engine = make_engine(url, **kw)
    upgrade_engine(engine)
    with new_session(engine) as session:
        community = ensure_community(session, DEFAULT_POLICY)
        community.discord_guild_id = GUILD
        session.add(community)
        session.commit()
        mod = create_staff(session, CLI, community.id, f"bench{uuid.uuid4().hex[:6]}", "moderator", "bench-password-123")
    fake.add_guild(GUILD)
    return engine, Actor.staff(mod)


def env_for(fake: FakeDiscord, db_url: str) -> dict[str, str]:
    return {"DATABASE_URL": db_url, "SECRET_KEY": SECRET, "MODSYS_DISCORD_BOT_TOKEN": fake.bot_token,
            "MODSYS_DISCORD_API_URL": fake.api_url}


def file(engine: sa.Engine, mod: Actor, i: int, kind: str, **kw) -> tuple[str, float]:
    uid = str(800000000000000000 + i)
    with new_session(engine) as session:
        write_transaction(session)  # SQLite: take the write lock before reading (the scheduler writes too)
        member = get_or_create_member(session, 1, uid, f"raider{i}")
        session.commit()
        file_action(session, mod, NewAction(member_id=member.id, kind=kind, rules=["respectful"],
                                            public_reason="Part of a coordinated raid on #general.", **kw))
        return uid, time.monotonic()


def latency(fake: FakeDiscord, engine: sa.Engine, mod: Actor, filings: int, offset: int) -> list[float]:
    started = {}
    for i in range(filings):
        uid, at = file(engine, mod, offset + i, "timeout", duration=timedelta(hours=1))
        fake.guilds[GUILD].add_member(uid)
        started[uid] = at
        time.sleep(0.37)  # filings arrive at odd moments relative to the scheduler's tick
    deadline = time.monotonic() + 60
    while len(fake.calls_to("modify_member")) < filings and time.monotonic() < deadline:
        time.sleep(0.05)
    arrived = {c.path.rsplit("/", 1)[1]: c.at for c in fake.calls_to("modify_member")}
    return sorted(arrived[uid] - t for uid, t in started.items() if uid in arrived)


def report_latency(label: str, values: list[float], expected: int) -> None:
    print(f"{label}: {len(values)}/{expected} reached Discord; filing -> PATCH p50 {percentile(values, 50):.3f} s, "
          f"p95 {percentile(values, 95):.3f} s, max {values[-1]:.3f} s")


def embedded(filings: int) -> None:
    from modsys.runtime.scheduler import start_embedded_scheduler

    with FakeDiscord() as fake, tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        engine, mod = setup(url, fake)
        service = start_embedded_scheduler(engine, load_settings(env_for(fake, url)))
        try:
            os.environ.update(env_for(fake, url))  # the services read the bot token from the environment
            report_latency("embedded (SQLite, scheduler thread)", latency(fake, engine, mod, filings, 0), filings)
        finally:
            service.shutdown()


def production(filings: int, pg_url: str) -> None:
    schema = f"bench_discord_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        with FakeDiscord() as fake:
            engine, mod = setup(pg_url, fake, schema)
            db_url = f"{pg_url}?options=-csearch_path%3D{schema}"
            env = {**os.environ, **env_for(fake, db_url), "MODSYS_POLICY": str(DEFAULT_POLICY)}
            scheduler = subprocess.Popen([sys.executable, "-m", "modsys.cli", "scheduler"], env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(3)  # the process starts and takes the leader lock
                os.environ.update(env_for(fake, db_url))
                report_latency("production (PostgreSQL, `modsys scheduler` process)",
                               latency(fake, engine, mod, filings, 10_000), filings)
            finally:
                scheduler.terminate()
                scheduler.wait(timeout=30)
            engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def raid(count: int, unbans: int) -> None:
    with FakeDiscord() as fake, tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/raid.db"
        engine, mod = setup(url, fake)
        os.environ.update(env_for(fake, url))
        fake.global_limit, fake.bucket_limit = 50, (25, 1.0)
        t = time.monotonic()
        for i in range(count):
            file(engine, mod, 20_000 + i, "ban", duration=timedelta(days=7))
        for i in range(unbans):
            file(engine, mod, 20_000 + i, "unban")
        queued = time.monotonic() - t
        with new_session(engine) as session:
            rows = session.exec(select(sa.func.count()).select_from(DiscordEnforcement)).one()
        t = time.monotonic()
        counts = deliver_enforcement(engine, settings=load_settings(env_for(fake, url)), budget_s=3600)
        wall = time.monotonic() - t
        calls = fake.calls
        arrivals = sorted(c.at for c in calls)
        busiest, first = 0, 0
        for last, at in enumerate(arrivals):  # the most requests Discord saw within any one second
            while arrivals[first] <= at - 1.0:
                first += 1
            busiest = max(busiest, last - first + 1)
        too_many = [c.route for c in calls if c.status == 429]
        order_ok = all(  # no ban request after the member's unban request (a ban lifted while queued is skipped)
            max((c.at for c in fake.calls_to("put_ban") if c.path.endswith(uid)), default=0.0)
            < min(c.at for c in fake.calls_to("delete_ban") if c.path.endswith(uid))
            for uid in (str(800000000000020000 + i) for i in range(unbans)))
        print(f"raid: {rows} enforcement rows ({count} bans, {unbans} unbans) queued in {queued:.1f} s by the services")
        print(f"raid: drained in {wall:.1f} s: {counts}; {len(calls)} requests (DM channel, DM, ban/unban), "
              f"{len(calls) / wall:.1f} per second; 429s: {len(too_many)} {sorted(set(too_many))}; busiest second: {busiest} "
              f"requests (Discord's global limit: 50)")
        print(f"raid: no ban request came after its own unban: {order_ok}; "
              f"banned at the end: {len(fake.guilds[GUILD].bans)} (expected {count - unbans})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filings", type=int, default=40)
    parser.add_argument("--raid", type=int, default=1000)
    parser.add_argument("--unbans", type=int, default=100)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("no_proxy", "127.0.0.1")
    print(machine_facts())
    embedded(args.filings)
    if not args.no_pg:
        production(args.filings, args.pg)
    raid(args.raid, args.unbans)


if __name__ == "__main__":
    main()
