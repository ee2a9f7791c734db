"""Running the jobs: one acting scheduler per database, any number on standby.

Production runs `modsys scheduler` (a dedicated process); `modsys serve` runs
the same thing in a background thread (`start_embedded_scheduler`). Web
workers never start one. Whoever holds the leader lock runs the jobs:

- PostgreSQL: a session-level advisory lock on a connection held for the
  process lifetime. When the process dies its connection closes, the lock is
  released, and a standby (retrying every few seconds) takes over. The key is
  a constant plus the current schema, so deployments sharing a database in
  separate schemas (the test suite does) don't block each other.
- SQLite: the embedded default is meant to be the only process; an exclusive
  `flock` on `<database>.scheduler-lock` makes a second `modsys scheduler` on the
  same file stand by, exactly as on PostgreSQL. (In-memory databases: no lock.)

Jobs are idempotent and claim rows with SKIP LOCKED, so a former leader still
finishing a job while the new one starts does no harm; the lock just keeps the
work (and the Discord traffic) in one place.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import sqlalchemy as sa
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from modsys.domain.actors import SCHEDULER
from modsys.infra.config import Settings
from modsys.infra.db import new_session
from modsys.notify import DiscordSender
from modsys.runtime import jobs

log = logging.getLogger(__name__)

LOCK_KEY = 0x6D6F6473  # "mods": identifies the scheduler's advisory lock
STANDBY_POLL = 5.0  # seconds between a standby's attempts to take over
WATCHDOG = 5.0  # seconds between the leader's checks that its lock connection lives

# job -> (trigger, misfire grace in seconds). Interval jobs also run at once when
# a scheduler becomes leader, so a takeover resumes the work without waiting.
SCHEDULE: dict[str, tuple[Any, int]] = {
    "deliver_outbox": (IntervalTrigger(seconds=2), 30),
    "escalate_overdue_appeals": (IntervalTrigger(seconds=60), 300),
    "send_reminders": (IntervalTrigger(seconds=60), 300),
    "expire_sanctions": (IntervalTrigger(seconds=60), 300),
    "close_appeal_windows": (IntervalTrigger(minutes=15), 900),
    "release_idle_claims": (IntervalTrigger(minutes=5), 900),
    "count_transparency": (IntervalTrigger(seconds=60), 300),  # the public numbers' rollups
    "verify_audit_chain": (CronTrigger(hour=3, minute=30, timezone=UTC), 6 * 3600),
    # Discord: enforcement within about a second of filing; the audit log every
    # minute (Discord keeps it 45 days); drift daily, and within a minute when /admin asks.
    "deliver_discord_enforcement": (IntervalTrigger(seconds=1), 30),
    "sync_discord_audit_log": (IntervalTrigger(seconds=60), 300),
    "check_discord_drift": (CronTrigger(hour=4, minute=15, timezone=UTC), 6 * 3600),
    "check_requested_discord_drift": (IntervalTrigger(seconds=30), 300),
    # Hourly: rows written since the last checkpoint are the ones it can't vouch for.
    "checkpoint_audit_chain": (IntervalTrigger(hours=1), 3600),
    # The message log's retention (docs/discord.md, section 8).
    "purge_message_log": (IntervalTrigger(hours=1), 3600),
    # Discord's signed attachment links expire: files that became evidence are fetched at once.
    "fetch_evidence_files": (IntervalTrigger(seconds=2), 30),
    "deliver_raid_responses": (IntervalTrigger(seconds=1), 30),
    "deliver_modmail": (IntervalTrigger(seconds=2), 30),
    "settle_triage": (IntervalTrigger(seconds=5), 60),
    "keep_report_context": (IntervalTrigger(seconds=2), 30),
}


# --- leader election -------------------------------------------------------------------


class LeaderLock(Protocol):
    def try_acquire(self) -> bool: ...
    def held(self) -> bool: ...
    def release(self) -> None: ...


class PgAdvisoryLock:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: sa.Connection | None = None

    def try_acquire(self) -> bool:
        if self.conn is None:
            # Autocommit: the lock belongs to the session; no transaction stays open.
            self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = self.conn.execute(sa.text("SELECT pg_try_advisory_lock(:key, hashtext(coalesce(current_schema(), '')))"),
                                {"key": LOCK_KEY}).scalar_one()
        return bool(got)

    def held(self) -> bool:
        """A session-level lock lasts as long as its session: check the connection lives."""
        try:
            return self.conn is not None and self.conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        except sa.exc.DBAPIError:
            return False

    def release(self) -> None:
        if self.conn is not None:
            try:
                # Close the database session itself (ending it releases the lock)
                # rather than return a connection still holding it to the pool.
                self.conn.invalidate()
            except sa.exc.DBAPIError:
                pass
            finally:
                self.conn.close()
                self.conn = None


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path, self.fd = path, None

    def try_acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


class NoLock:
    def try_acquire(self) -> bool:
        return True

    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass


def leader_lock(engine: Engine) -> LeaderLock:
    if engine.dialect.name == "postgresql":
        return PgAdvisoryLock(engine)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        return FileLock(Path(f"{database}.scheduler-lock"))
    return NoLock()


# --- running the jobs ----------------------------------------------------------------------


def run_once(engine: Engine, settings: Settings, *, names: Iterable[str] | None = None,
             batch: int | None = None, discord_timeout: float | None = None) -> dict[str, dict[str, Any]]:
    """Run every job (or those named) once, in order; returns each job's summary.
    The audit check runs only when due (see `jobs.verify_audit_chain`)."""
    options: dict[str, dict[str, Any]] = {}
    if discord_timeout:
        options["deliver_outbox"] = {"sender": DiscordSender(timeout=discord_timeout)}
    if batch:
        for name in ("escalate_overdue_appeals", "close_appeal_windows", "expire_sanctions"):
            options[name] = {"batch": batch}
    return jobs.run_jobs(engine, names, settings=settings, options=options)


def apply_env_webhooks(engine: Engine) -> None:
    """MODSYS_WEBHOOK_* for the default community (if there is one yet)."""
    from modsys.adapters.discord.webhooks import configure_from_env
    from modsys.community import default_community
    from modsys.domain.errors import NotFound, ValidationFailed

    with new_session(engine) as session:
        try:
            community = default_community(session)
            changed = configure_from_env(session, SCHEDULER, community.id)
        except NotFound:
            return
        except ValidationFailed as e:  # keep running: the other channels still deliver
            log.error("webhook configuration ignored: %s", e.message)
            return
        except sa.exc.IntegrityError:
            return  # another scheduler wrote the same rows at the same moment
    if changed:
        log.info("webhooks configured from the environment: %s", ", ".join(changed))


def _logged(name: str, engine: Engine, settings: Settings, options: dict[str, Any]) -> Callable[[], None]:
    def job() -> None:
        summary = run_once(engine, settings, names=[name], **options)[name]
        if any(isinstance(v, int) and not isinstance(v, bool) and v for v in summary.values()):
            log.info("%s: %s", name, summary)
    return job


class _ExpectedSkips(logging.Filter):
    """max_instances=1 makes APScheduler skip a run while the previous one still
    works (a long delivery backlog): that is the design, not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def _quiet_apscheduler() -> None:
    # Its per-run INFO lines ("Running job", "executed successfully") every two
    # seconds would drown ours; job errors are still logged (ERROR).
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    noisy = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _ExpectedSkips) for f in noisy.filters):
        noisy.addFilter(_ExpectedSkips())


def build_scheduler(engine: Engine, settings: Settings, **options: Any) -> BackgroundScheduler:
    """An APScheduler with every job, explicit ids, no overlap and coalesced misfires."""
    _quiet_apscheduler()
    scheduler = BackgroundScheduler(timezone=UTC, executors={"default": ThreadPoolExecutor(4)})
    now = datetime.now(UTC)
    for name, (trigger, grace) in SCHEDULE.items():
        scheduler.add_job(
            _logged(name, engine, settings, options), trigger, id=name, name=name, replace_existing=True,
            misfire_grace_time=grace, coalesce=True, max_instances=1,
            **({"next_run_time": now} if isinstance(trigger, IntervalTrigger) else {}))
    return scheduler


class SchedulerService:
    """Stand by until the leader lock is ours, then run the jobs until stopped or
    the lock is lost (then stand by again)."""

    def __init__(self, engine: Engine, settings: Settings, *, standby_poll: float = STANDBY_POLL,
                 watchdog: float = WATCHDOG, **options: Any) -> None:
        """`options` go to `run_once` for every job run: batch, discord_timeout."""
        self.engine, self.settings = engine, settings
        self.standby_poll, self.watchdog, self.options = standby_poll, watchdog, options
        self.is_leader = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Blocks until `shutdown()`."""
        lock = leader_lock(self.engine)
        waiting_logged = False
        try:
            while not self._stop.is_set():
                try:
                    acquired = lock.try_acquire()
                except sa.exc.DBAPIError as e:  # database restarting: keep trying
                    log.warning("scheduler lock: database unavailable (%s)", type(e.orig).__name__)
                    lock.release()
                    acquired = False
                if acquired:
                    log.info("scheduler lock acquired: this process runs the jobs")
                    try:
                        self._lead(lock)
                    except Exception:  # e.g. the database went away at start: stand by and retry
                        log.exception("scheduler stopped leading after an error")
                        lock.release()
                        acquired = False
                    waiting_logged = False
                elif not waiting_logged:
                    log.info("another scheduler is active; standing by (retrying every %gs)", self.standby_poll)
                    waiting_logged = True
                if not self._stop.is_set() and not acquired:
                    self._stop.wait(self.standby_poll)
        finally:
            lock.release()

    def _lead(self, lock: LeaderLock) -> None:
        apply_env_webhooks(self.engine)
        scheduler = build_scheduler(self.engine, self.settings, **self.options)
        scheduler.start()
        self.is_leader.set()
        try:
            while not self._stop.wait(self.watchdog):
                if not lock.held():
                    log.error("scheduler lock lost (database connection closed); standing by")
                    lock.release()
                    return
        finally:
            self.is_leader.clear()
            scheduler.shutdown(wait=True)

    def start(self) -> "SchedulerService":
        self._thread = threading.Thread(target=self.run, name="modsys-scheduler", daemon=True)
        self._thread.start()
        return self

    def shutdown(self, wait: bool = True) -> None:
        self._stop.set()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()


def start_embedded_scheduler(engine: Engine, settings: Settings, **options: Any) -> SchedulerService:
    """For `modsys serve`: the scheduler in a background thread of this process.
    Call `.shutdown()` on the result when the server stops."""
    return SchedulerService(engine, settings, **options).start()


def run_forever(engine: Engine, settings: Settings, **options: Any) -> None:
    """`modsys scheduler`: run in the foreground until SIGTERM or SIGINT."""
    service = SchedulerService(engine, settings, **options)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.shutdown(wait=False))
    service.run()


def once(engine: Engine, settings: Settings, **options: Any) -> dict[str, Any] | None:
    """`modsys scheduler --once`: if no other scheduler is active, run every job
    once; None when another one is (it is doing the work)."""
    lock = leader_lock(engine)
    if not lock.try_acquire():
        return None
    try:
        apply_env_webhooks(engine)
        return run_once(engine, settings, **options)
    finally:
        lock.release()
