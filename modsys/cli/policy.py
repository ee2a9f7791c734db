"""Policy files."""

from __future__ import annotations

from pathlib import Path

import click

from modsys.cli.base import fail, main


@main.group()
def policy() -> None:
    """Community policy files."""


@policy.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def policy_check(file: Path) -> None:
    """Validate a policy file: prints its version, or file, field and reason."""
    from modsys.domain.errors import PolicyError
    from modsys.domain.policy import load_policy

    try:
        loaded = load_policy(file)
    except PolicyError as e:
        fail(str(e))
    click.echo(f"{file}: ok, version {loaded.version} ({loaded.label or 'no label'}), {len(loaded.rules)} rules")
