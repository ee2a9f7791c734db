"""The audit chain and its external checkpoints."""

from __future__ import annotations

import click

from modsys.cli.base import fail, main, open_db


@main.group()
def audit() -> None:
    """The hash-chained audit log."""


def audit_key_or_fail(settings) -> str:
    from modsys.audit.checkpoint import audit_key
    from modsys.infra.config import ConfigError

    try:
        return audit_key(settings)
    except ConfigError as e:
        fail(str(e))
        raise  # unreachable: fail exits


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the chain's head with MODSYS_AUDIT_KEY, append the line to
    MODSYS_AUDIT_CHECKPOINTS, post it to the leadership channel(s), print it."""
    from modsys.audit import checkpoint as cp
    from modsys.infra.config import load_settings

    settings = load_settings()
    audit_key_or_fail(settings)  # refuse before touching the database
    engine, _ = open_db(settings)
    try:
        click.echo(cp.record(engine, settings).line)
    except cp.ChainBroken as e:
        from modsys.domain.actors import CLI
        from modsys.runtime.jobs import record_verification

        record_verification(engine, CLI, e.result, 0)
        fail(f"no checkpoint signed: {e} (run `modsys audit verify` and investigate)")


@audit.command("verify")
@click.option("--checkpoint", "line", metavar="LINE", help="Check against this one checkpoint line instead of the log.")
def audit_verify(line: str | None) -> None:
    """Walk the whole chain and check it against every recorded checkpoint (or
    the one given); exit 1 naming the first broken event. The result is recorded
    where /audit and /admin show it (a failure alerts leadership, as the nightly check does)."""
    from modsys.audit import checkpoint as cp
    from modsys.domain.actors import CLI
    from modsys.infra.config import load_settings
    from modsys.runtime.jobs import record_verification

    settings = load_settings()
    key = audit_key_or_fail(settings)
    try:
        checkpoints = [cp.parse(line, key)] if line is not None else cp.read_log(settings.audit_checkpoints, key)
    except cp.CheckpointError as e:
        fail(f"checkpoint refused: {e}")
    engine, _ = open_db(settings)
    result = cp.verify(engine, checkpoints)
    record_verification(engine, CLI, result, len(checkpoints))
    if not result.ok:
        fail(f"audit chain BROKEN at event #{result.broken_seq}: {result.reason} ({result.checked} events verified before it)")
    against = f"against {len(checkpoints)} checkpoint(s)" if checkpoints else "no checkpoint recorded yet"
    click.echo(f"audit chain ok: {result.checked} events verified, {against}")
