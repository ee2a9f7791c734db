"""Long-running processes: the embedded server, the scheduler, the scoring worker."""

from __future__ import annotations

import click

from modsys.cli.base import main, open_db
from modsys.cli.model import scorer_or_fail
from modsys.infra.config import load_settings


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the embedded default: web app, scheduler and scorer in one process."""
    from web.server import (
        serve as run,  # the composition root; the domain never imports web
    )

    run(host, port)


@main.command()
@click.option("--once", is_flag=True, help="Run every due job once and exit (cron-style, checks).")
@click.option("--standby-poll", default=5.0, show_default=True, help="Seconds between a standby's takeover attempts.")
@click.option("--batch", type=int, help="Rows per transaction in the set-based jobs (default 1000).")
@click.option("--discord-timeout", type=float, help="Seconds to wait for Discord per message (default 10).")
def scheduler(once: bool, standby_poll: float, batch: int | None, discord_timeout: float | None) -> None:
    """Run the scheduled jobs; one scheduler acts per database, others stand by."""
    from modsys.infra.logging_setup import configure_logging
    from modsys.runtime import scheduler as sched

    settings = load_settings()  # the one settings object of this process
    configure_logging(settings)
    from modsys.cli.audit import audit_key_or_fail

    audit_key_or_fail(settings)  # the hourly checkpoints need it: refuse now, not in an hour
    engine, _ = open_db(settings)
    options = {"batch": batch, "discord_timeout": discord_timeout}
    if not once:
        return sched.run_forever(engine, settings, standby_poll=standby_poll, **options)
    results = sched.once(engine, settings, **options)
    for name, summary in (results or {}).items():
        click.echo(f"{name}: {summary}")
    if results is None:
        click.echo("another scheduler is active and runs the jobs; nothing done", err=True)


@main.command()
@click.option("--batch", default=32, show_default=True, help="Flags scored per model call.")
@click.option("--once", is_flag=True, help="Score what is pending now, then exit.")
def worker(batch: int, once: bool) -> None:
    """Score flagged messages with the toxicity model (several may run at once)."""
    import signal
    import threading

    from modsys.infra.logging_setup import configure_logging
    from modsys.runtime import scoring

    settings = load_settings()  # the one settings object of this process
    configure_logging(settings)
    engine, session = open_db(settings)
    plan = scoring.plan_for(session, settings)
    if once:
        scorer_or_fail(settings, plan.model, *plan.backends)
        scoring.bound_this_thread(settings)
        scorers, owner, total = scoring.scorers_for(settings, plan), scoring.worker_id(), 0
        while done := scoring.score_batch(engine, scorers, owner, batch):
            total += done
        click.echo(f"scored {total} flags")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scoring.run_worker(engine, settings, plan, stop, batch=batch)
