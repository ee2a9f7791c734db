"""`modsys` command line: database, staff, policy, audit (and, with their own
modules, serving, scheduling, scoring)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from modsys.config import load_settings


def _open(settings=None):
    """Engine + session on the configured database, schema created if missing."""
    from modsys.db import create_schema, make_engine, new_session

    settings = settings or load_settings()
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

    _, session = _open()
    result = audit_mod.verify(session)
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


if __name__ == "__main__":
    main()
