"""The audit chain."""

from __future__ import annotations

import click

from modsys.cli.base import fail, main, open_db


@main.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Walk the whole chain; exit 1 naming the first broken event."""
    from modsys import audit as audit_mod

    engine, _ = open_db()
    result = audit_mod.verify_snapshot(engine)
    if not result.ok:
        fail(f"audit chain BROKEN at event #{result.broken_seq}: {result.reason} ({result.checked} events verified before it)")
    click.echo(f"audit chain ok: {result.checked} events verified")
