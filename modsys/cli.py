"""`modsys` command line: database, staff, policy, audit (and, with their own
modules, serving, scheduling, scoring)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from modsys.config import ConfigError, check_production, load_settings


def _open(settings=None):
    """Engine + session on the configured database, schema created if missing."""
    from modsys.db import create_schema, make_engine, new_session

    settings = settings or load_settings()
    try:
        check_production(settings)  # every process refuses unsafe production settings the same way
    except ConfigError as e:
        _fail(str(e))
    engine = make_engine(settings.database_url)
    create_schema(engine)
    return engine, new_session(engine)


def _community(session, settings):
    from modsys.community import ensure_community

    return ensure_community(session, settings.policy_path)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group()
@click.version_option(package_name="modsys")
def main() -> None:
    """Community moderation and ban-appeal system."""


@main.command()
def init() -> None:
    """Create the schema on DATABASE_URL and load the policy (MODSYS_POLICY)."""
    from modsys.errors import PolicyError

    settings = load_settings()
    try:
        from modsys.migrate import init_database

        init_database(settings.database_url)  # stamps a new database's revision; upgrades a migrated one
        _, session = _open(settings)
        community = _community(session, settings)
    except PolicyError as e:
        _fail(str(e))
    click.echo(f"database ready: {settings.database_url.split('@')[-1]}")
    click.echo(f"community {community.slug!r} on policy {settings.policy_path}")


@main.command("create-user")
@click.argument("name")
@click.option("--role", type=click.Choice(["moderator", "leadership", "admin"]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of generating one.")
def create_user(name: str, role: str, password_stdin: bool) -> None:
    """Create a staff account; prints the generated password once."""
    from modsys.actors import CLI
    from modsys.errors import DomainError
    from modsys.services.staff import create_staff, generate_password

    settings = load_settings()
    _, session = _open(settings)
    community = _community(session, settings)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else generate_password()
    try:
        create_staff(session, CLI, community.id, name, role, password)
    except DomainError as e:
        _fail(e.message)
    click.echo(f"created {role} {name!r}")
    if not password_stdin:
        click.echo(f"password: {password}  (shown once; change it after the first login)")


@main.command()
def demo() -> None:
    """Fill an empty database with a believable demo community."""
    from modsys import demo as demo_mod

    settings = load_settings()
    if settings.env == "production":
        _fail("demo data has well-known passwords; it is refused when MODSYS_ENV=production")
    _, session = _open(settings)
    community = _community(session, settings)
    try:
        logins = demo_mod.fill(session, community)
    except RuntimeError as e:
        _fail(str(e))
    click.echo("demo community ready. Staff logins (demo only):")
    for username, role, password in logins:
        click.echo(f"  {username:<8} {role:<11} {password}")


@main.group()
def policy() -> None:
    """Community policy files."""


@policy.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def policy_check(file: Path) -> None:
    """Validate a policy file: prints its version, or file, field and reason."""
    from modsys.errors import PolicyError
    from modsys.policy import load_policy

    try:
        loaded = load_policy(file)
    except PolicyError as e:
        _fail(str(e))
    click.echo(f"{file}: ok, version {loaded.version} ({loaded.label or 'no label'}), {len(loaded.rules)} rules")


@main.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Walk the whole chain; exit 1 naming the first broken event."""
    from modsys import audit as audit_mod

    engine, _ = _open()
    result = audit_mod.verify_snapshot(engine)
    if not result.ok:
        _fail(f"audit chain BROKEN at event #{result.broken_seq}: {result.reason} ({result.checked} events verified before it)")
    click.echo(f"audit chain ok: {result.checked} events verified")


# --- commands that live with their own modules (one line each) -------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the embedded default: web app, scheduler and scorer in one process."""
    from web.server import serve as run  # the composition root; the domain never imports web

    run(host, port)


@main.group()
def apikey() -> None:
    """API keys for bots and integrations (see modsys/services/api_keys.py)."""


@apikey.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["reporter", "moderator", "leadership"]), required=True)
@click.option("--staff", "acts_as", metavar="USERNAME", help="The staff user a moderator/leadership key acts as.")
def apikey_create(name: str, role: str, acts_as: str | None) -> None:
    """Issue a key; prints it once."""
    from modsys.actors import CLI
    from modsys.errors import DomainError
    from modsys.services.api_keys import create_api_key

    settings = load_settings()
    _, session = _open(settings)
    try:
        key, plaintext = create_api_key(session, CLI, _community(session, settings).id, name, role, acts_as)
    except DomainError as e:
        _fail(e.message)
    click.echo(f"created {role} key #{key.id} {name!r}" + (f" acting as {acts_as}" if acts_as else ""))
    click.echo(f"key: {plaintext}  (shown once; send it as 'Authorization: Bearer <key>')")


@apikey.command("list")
def apikey_list() -> None:
    """List keys (prefix only; the keys themselves are not stored)."""
    from modsys.actors import CLI
    from modsys.services.api_keys import list_api_keys

    settings = load_settings()
    _, session = _open(settings)
    for k in list_api_keys(session, CLI, _community(session, settings).id):
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        who = f"as {k.acts_as}" if k.acts_as else f"by {k.issued_by or 'cli'}"
        click.echo(f"#{k.id:<4} {k.prefix}…  {k.name:<24} {k.role:<10} {who:<20} {state}")


@apikey.command("revoke")
@click.argument("key_id", type=int)
def apikey_revoke(key_id: int) -> None:
    """Revoke a key; it stops working at once."""
    from modsys.actors import CLI
    from modsys.errors import DomainError
    from modsys.services.api_keys import revoke_api_key

    settings = load_settings()
    _, session = _open(settings)
    try:
        key = revoke_api_key(session, CLI, key_id, _community(session, settings).id)
    except DomainError as e:
        _fail(e.message)
    click.echo(f"revoked key #{key.id} {key.name!r}")


@main.command()
@click.option("--once", is_flag=True, help="Run every due job once and exit (cron-style, checks).")
@click.option("--standby-poll", default=5.0, show_default=True, help="Seconds between a standby's takeover attempts.")
@click.option("--batch", type=int, help="Rows per transaction in the set-based jobs (default 1000).")
@click.option("--discord-timeout", type=float, help="Seconds to wait for Discord per message (default 10).")
def scheduler(once: bool, standby_poll: float, batch: int | None, discord_timeout: float | None) -> None:
    """Run the scheduled jobs; one scheduler acts per database, others stand by."""
    from modsys import scheduler as sched
    from modsys.logging_setup import configure_logging

    configure_logging()
    engine, _ = _open()
    options = {"batch": batch, "discord_timeout": discord_timeout}
    if not once:
        return sched.run_forever(engine, standby_poll=standby_poll, **options)
    results = sched.once(engine, **options)
    for name, summary in (results or {}).items():
        click.echo(f"{name}: {summary}")
    if results is None:
        click.echo("another scheduler is active and runs the jobs; nothing done", err=True)


@main.group()
def outbox() -> None:
    """Notifications waiting for delivery, or given up on."""


@outbox.command("list")
@click.option("--dead", is_flag=True, help="Only messages that gave up.")
def outbox_list(dead: bool) -> None:
    from modsys import delivery

    for message in delivery.list_messages(_open()[1], status="dead" if dead else None):
        click.echo(delivery.describe(message))


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--dead", is_flag=True, help="Every dead message.")
def outbox_retry(ids: tuple[int, ...], dead: bool) -> None:
    """Queue dead (or skipped) messages again, by id or --dead."""
    from modsys import delivery

    if not ids and not dead:
        _fail("name message ids, or use --dead for every dead message", 2)
    from modsys.actors import CLI

    click.echo(f"{delivery.retry(_open()[1], CLI, list(ids), dead=dead)} message(s) queued again")


@main.group()
def webhook() -> None:
    """Discord webhooks of the community (URLs are secrets: always shown redacted)."""


@webhook.command("set")
@click.argument("channel")
@click.argument("url")
def webhook_set(channel: str, url: str) -> None:
    """Point CHANNEL (modlog, appeals, leadership, member) at URL; "-" reads it from stdin."""
    from modsys.actors import CLI
    from modsys.errors import DomainError
    from modsys.notify import redact_url
    from modsys.webhooks import set_webhook

    settings = load_settings()
    url = sys.stdin.readline().strip() if url == "-" else url
    _, session = _open(settings)
    try:
        set_webhook(session, CLI, _community(session, settings).id, channel, url)
        session.commit()
    except DomainError as e:
        _fail(e.message)
    click.echo(f"{channel} webhook: {redact_url(url)}")


@webhook.command("list")
def webhook_list() -> None:
    from modsys.webhooks import list_webhooks

    for slug, channel, redacted in list_webhooks(_open()[1]):
        click.echo(f"{slug}  {channel:<10}  {redacted}")


@main.group()
def db() -> None:
    """Schema migrations (Alembic; the scripts ship inside the package)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate DATABASE_URL to REVISION (default: the newest). Safe to run on
    every deploy: one migrator at a time, nothing to do when already there."""
    from sqlalchemy.exc import OperationalError

    from modsys import migrate
    from modsys.logging_setup import configure_logging

    configure_logging()
    settings = load_settings()
    where = settings.database_url.split("@")[-1]  # never the password
    try:
        before, after = migrate.upgrade(settings.database_url, revision)
    except migrate.MigrationError as e:
        _fail(str(e))
    except OperationalError as e:
        _fail(f"cannot reach the database at {where}: {str(e.orig).strip().splitlines()[0]}")
    click.echo(f"{where}: already at {after}" if before == after else f"{where}: migrated {before or 'empty'} -> {after}")


@main.command()
@click.option("--batch", default=32, show_default=True, help="Flags scored per model call.")
@click.option("--once", is_flag=True, help="Score what is pending now, then exit.")
def worker(batch: int, once: bool) -> None:
    """Score flagged messages with the toxicity model (several may run at once)."""
    import signal
    import threading

    from modsys import scoring
    from modsys.logging_setup import configure_logging

    configure_logging()
    settings = load_settings()
    engine, session = _open(settings)
    model = _policy_model(session, settings)
    if once:
        scorer = _scorer_or_fail(settings, model)
        total = 0
        while done := scoring.score_batch(engine, scorer, model, scoring.worker_id(), batch):
            total += done
        click.echo(f"scored {total} flags")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scoring.run_worker(engine, settings, model, stop, batch=batch)


def _scorer_or_fail(settings, name: str):
    from modsys.toxicity import get_scorer, scorer_unavailable_reason

    scorer = get_scorer(settings.model_dir, name)
    if scorer is None:
        _fail(f"{name}: no usable model: {scorer_unavailable_reason(settings.model_dir, name)}")
    return scorer


def _policy_model(session, settings) -> str:
    from modsys.community import policy_for

    return policy_for(session, _community(session, settings).id).toxicity.model


@main.group()
def model() -> None:
    """The toxicity model: install, fetch, status, re-score, calibrate."""


@model.command("install")
@click.option("--checkpoint", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="detoxify's .ckpt file")
@click.option("--config-dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="the Hugging Face config and tokenizer files it was trained with")
@click.option("--model", "name", default="original", show_default=True, type=click.Choice(["original", "unbiased", "multilingual"]))
@click.option("--sha256", help="Refuse the checkpoint unless its SHA-256 is this (from where you got it).")
def model_install(checkpoint: Path, config_dir: Path, name: str, sha256: str | None) -> None:
    """Install a checkpoint and its Hugging Face config directory brought in by hand."""
    from modsys.toxicity import ModelError, install_model

    settings = load_settings()
    try:
        info = install_model(checkpoint, config_dir, settings.model_dir, name, expected_sha256=sha256)
    except ModelError as e:
        _fail(str(e))
    click.echo(f"installed {info.name} into {settings.model_dir}: sha256 {info.sha256}, labels {', '.join(info.labels)}")


@model.command("fetch")
@click.option("--model", "name", default="original", show_default=True, type=click.Choice(["original", "unbiased", "multilingual"]))
def model_fetch(name: str) -> None:
    """Download detoxify's checkpoint and tokenizer (needs internet; e.g. at image build)."""
    from modsys.toxicity import ModelError, fetch_model

    settings = load_settings()
    try:
        info = fetch_model(settings.model_dir, name)
    except ModelError as e:
        _fail(str(e))
    click.echo(f"fetched {info.name} into {settings.model_dir}: sha256 {info.sha256}")


@model.command("status")
def model_status() -> None:
    """Which model the policy asks for, and whether it loads."""
    settings = load_settings()
    _, session = _open(settings)
    name = _policy_model(session, settings)
    scorer = _scorer_or_fail(settings, name)
    click.echo(f"{name}: loaded (sha256 {scorer.info.sha256}, detoxify {scorer.info.package_version}, "
               f"{len(scorer.info.labels)} labels)")


@model.command("rescore")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
              help="Re-score flags reported since this date (UTC).")
@click.option("--batch", default=32, show_default=True)
def model_rescore(since, batch: int) -> None:
    """Score flags again after the model or the thresholds changed."""
    from datetime import UTC

    from modsys import scoring

    settings = load_settings()
    engine, session = _open(settings)
    name = _policy_model(session, settings)
    scorer = _scorer_or_fail(settings, name)
    total = scoring.reset_for_rescore(engine, since.replace(tzinfo=UTC))
    owner = scoring.worker_id()
    with click.progressbar(length=total, label=f"re-scoring {total} flags", file=sys.stderr) as bar:
        while done := scoring.score_batch(engine, scorer, name, owner, batch):
            bar.update(done)
    click.echo(f"re-scored {total} flags with {name} ({scorer.info.sha256[:12]}…)")


@model.command("calibrate")
@click.option("--target-precision", default=0.9, show_default=True, type=click.FloatRange(0.01, 1.0))
def model_calibrate(target_precision: float) -> None:
    """Precision and recall of the thresholds against moderators' decisions."""
    from modsys.calibration import calibrate
    from modsys.community import policy_for

    settings = load_settings()
    _, session = _open(settings)
    community = _community(session, settings)
    report = calibrate(session, community.id, policy_for(session, community.id), target_precision)
    click.echo(f"{report.decided} decided flags with scores ({report.actioned} actioned); "
               f"target precision {report.target_precision:.2f}")
    fmt = lambda v: "  -  " if v is None else f"{v:.3f}"  # noqa: E731
    click.echo(f"{'label':<16} {'threshold':>9} {'precision':>9} {'recall':>7} {'suggested':>9} {'recall':>7}")
    for r in report.labels:
        click.echo(f"{r.label:<16} {fmt(r.threshold):>9} {fmt(r.precision):>9} {fmt(r.recall):>7} "
                   f"{fmt(r.suggested):>9} {fmt(r.suggested_recall):>7}")


if __name__ == "__main__":
    main()
