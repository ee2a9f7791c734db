"""Staff two-factor (TOTP) from the command line: the way back after a lost device."""

from __future__ import annotations

import click

from modsys.cli.base import fail, main, open_db


@main.group("two-factor")
def two_factor() -> None:
    """Staff two-factor sign-in (see modsys/services/two_factor.py)."""


@two_factor.command("reset")
@click.argument("username")
def two_factor_reset(username: str) -> None:
    """Turn two-factor off for USERNAME (lost device, no recovery code) and end their sessions."""
    from modsys.domain.actors import CLI
    from modsys.domain.errors import DomainError
    from modsys.services.two_factor import reset

    _, session = open_db()
    try:
        reset(session, CLI, username)
    except DomainError as e:
        fail(e.message)
    click.echo(f"two-factor reset for {username}: they sign in with their password and enrol again")
