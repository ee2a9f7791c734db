"""The scheduler as operators run it: real `modsys scheduler` processes, a real
database lock, real HTTP to the fake Discord. Every wait is bounded."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from modsys import audit
from modsys.adapters.discord.webhooks import set_webhook
from modsys.community import ensure_community
from modsys.domain.actors import CLI
from modsys.infra.config import DEFAULT_POLICY, load_settings
from modsys.runtime.scheduler import (
    SchedulerService,
    leader_lock,
    start_embedded_scheduler,
)
from tests.conftest import PG_URL, _reset_pg
from tests.factories import appeal, ban
from tests.support.bulk import insert_appeals
from tests.support.discord_server import error, ok
from tests.support.wait import wait_until

TOKEN = "proc-T0KEN-not-for-logs"


class Scheduler:
    """A `modsys scheduler` subprocess whose log goes to a file we can read while it runs."""

    def __init__(self, db_url: str, log: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = log
        environ = {**os.environ, "DATABASE_URL": db_url, "MODSYS_POLICY": str(DEFAULT_POLICY), "no_proxy": "127.0.0.1",
                   "MODSYS_LOG_FORMAT": "text", "MODSYS_AUDIT_CHECKPOINTS": str(log.parent / "checkpoints.log"),
                   **(env or {})}
        environ.pop("MODSYS_ENV", None)
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "modsys.cli", "scheduler", *args],
                                         env=environ, stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"scheduler did not stop on SIGTERM:\n{self.text()[-2000:]}") from None


def pg_url(request) -> str:
    _, connect_args = request.getfixturevalue("pg_schema_url")
    schema = connect_args["options"].split("=", 1)[1]
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


def escalations(fake_discord, hook: str = "77") -> list[str]:
    """Titles posted to leadership, less the audit checkpoints each leader posts when it starts."""
    titles = [p["embeds"][0]["title"] for p in fake_discord.payloads_for(hook)]
    return [t for t in titles if not t.startswith("Audit checkpoint")]


def count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


def test_two_schedulers_one_acts_and_the_standby_finishes_after_sigkill(pg_engine, request, tmp_path, fake_discord):
    _reset_pg(pg_engine)
    with Session(pg_engine) as session:
        community_id = ensure_community(session, DEFAULT_POLICY).id
    ids = insert_appeals(pg_engine, community_id, 1000, submitted_at=datetime.now(UTC) - timedelta(hours=80))
    fake_discord.set_mode(error(500))  # Discord is down while the first scheduler works
    url, env = pg_url(request), {"MODSYS_WEBHOOK_LEADERSHIP": fake_discord.url("77", TOKEN)}
    args = ("--standby-poll", "0.2", "--batch", "5", "--discord-timeout", "2")

    first = Scheduler(url, tmp_path / "first.log", *args, env=env)
    second = None
    try:
        wait_until(lambda: "scheduler lock acquired" in first.text(), 30, "the first scheduler to lead")
        second = Scheduler(url, tmp_path / "second.log", *args, env=env)
        wait_until(lambda: "standing by" in second.text(), 30, "the second scheduler to stand by")
        wait_until(lambda: count(pg_engine, "SELECT count(*) FROM appeal WHERE status = 'escalated'") >= 50, 30,
                   "escalation to start")
        first.proc.send_signal(signal.SIGKILL)  # mid-run: no cleanup, no goodbye
        first.proc.wait(10)
        at_kill = count(pg_engine, "SELECT count(*) FROM appeal WHERE status = 'escalated'")
        assert 50 <= at_kill < 1000, at_kill
        assert "standing by" in second.text() and "scheduler lock acquired" not in second.text()  # it only waited
        fake_discord.set_mode(ok())

        wait_until(lambda: "scheduler lock acquired" in second.text(), 10, "the standby to take over")
        wait_until(lambda: len(escalations(fake_discord)) >= 1000, 120, "every escalation to be announced", every=0.2)
        assert second.stop() == 0  # SIGTERM: a clean exit
    finally:
        for proc in (first, second):
            if proc is not None and proc.proc.poll() is None:
                proc.proc.kill()
                proc.proc.wait(5)

    with pg_engine.connect() as conn:
        escalated = conn.execute(sa.text("SELECT subject_id FROM auditevent WHERE verb = 'appeal.escalated'")).scalars().all()
        notes = conn.execute(sa.text("SELECT payload, status FROM outboxmessage WHERE event = 'appeal.escalated' "
                                     "ORDER BY id")).all()
    assert sorted(escalated) == ids  # each appeal escalated exactly once...
    assert count(pg_engine, "SELECT count(*) FROM appeal WHERE status = 'escalated'") == 1000
    assert len(notes) == 1000 and {status for _, status in notes} == {"sent"}
    announced = escalations(fake_discord)
    # ...announced exactly once, in order (the outbox holds the event; its embed is rendered at delivery).
    assert [int(re.search(r"appeal #(\d+)", title)[1]) for title in announced] == [p["appeal_id"] for p, _ in notes]
    with Session(pg_engine) as session:
        assert audit.verify(session).ok
    assert not any(TOKEN in log for log in (first.text(), second.text()))


def test_once_runs_the_jobs_and_exits_or_defers_to_the_active_one(engine, db_url, tmp_path):
    with Session(engine) as session:
        community_id = ensure_community(session, DEFAULT_POLICY).id
    insert_appeals(engine, community_id, 30, submitted_at=datetime.now(UTC) - timedelta(hours=80))

    active = leader_lock(engine)
    assert active.try_acquire()  # as if a `modsys scheduler` were running
    try:
        deferred = Scheduler(db_url, tmp_path / "deferred.log", "--once")
        assert deferred.proc.wait(60) == 0
        assert "another scheduler is active" in deferred.text()
        assert count(engine, "SELECT count(*) FROM appeal WHERE status = 'escalated'") == 0
    finally:
        active.release()

    run = Scheduler(db_url, tmp_path / "once.log", "--once")
    assert run.proc.wait(60) == 0, run.text()
    assert "escalate_overdue_appeals: {'escalated': 30}" in run.text()
    assert "deliver_outbox: {'skipped': 30}" in run.text()  # no webhook configured: recorded, not lost
    assert count(engine, "SELECT count(*) FROM appeal WHERE status = 'escalated'") == 30


def test_embedded_scheduler_runs_in_a_thread_and_a_second_one_stands_by(engine, session, community, clock,
                                                                       make_member, mod_a, fake_discord, tmp_path):
    set_webhook(session, CLI, community.id, "leadership", fake_discord.url("9", TOKEN))
    session.commit()
    member = make_member()
    filed = appeal(session, member, ban(session, mod_a, member))
    clock.advance(hours=73)
    settings = load_settings({"SECRET_KEY": "test-secret-key-not-for-production",
                              "MODSYS_AUDIT_CHECKPOINTS": str(tmp_path / "checkpoints.log")})

    first = start_embedded_scheduler(engine, settings, standby_poll=0.1, watchdog=0.1)
    assert first.is_leader.wait(10)
    second = SchedulerService(engine, settings, standby_poll=0.1, watchdog=0.1).start()
    try:
        wait_until(lambda: escalations(fake_discord, "9"), 15, "the escalation to be announced")
        assert escalations(fake_discord, "9")[0].startswith(f"Escalated to leadership: appeal #{filed.id}")
        assert not second.is_leader.is_set()  # one acts at a time
        first.shutdown()
        assert second.is_leader.wait(10)  # the standby takes over when the first stops
    finally:
        first.shutdown()
        second.shutdown()
    assert not first._thread.is_alive() and not second._thread.is_alive()
    assert len(escalations(fake_discord, "9")) == 1
    assert len((tmp_path / "checkpoints.log").read_text().splitlines()) == 2  # each leader checkpoints as it starts
