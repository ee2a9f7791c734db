"""Exports that leave modsys: statements of reasons for the EU DSA Transparency Database."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import click

from modsys.cli.base import community_of, fail, main, open_db
from modsys.config import load_settings


@main.group()
def export() -> None:
    """Exports for regulators and the public."""


def _date(ctx, param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from None


@export.command("statements")
@click.option("--community", "slug", metavar="SLUG", help="The community (default: the configured one).")
@click.option("--since", callback=_date, metavar="YYYY-MM-DD", help="Only statements from this day on (UTC).")
@click.option("--format", "fmt", type=click.Choice(["dsa-json", "dsa-csv"]), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="File to write (default: standard output). JSON over 100 statements becomes "
                   "PATH-001.json, PATH-002.json, ... one bulk request body each.")
def export_statements_cmd(slug: str | None, since: date | None, fmt: str, out: Path | None) -> None:
    """Statements of reasons in the DSA Transparency Database's submission schema.

    dsa-json is the body of its bulk endpoint, {"statements": [...]}, at most 100
    per body; dsa-csv is one row per statement with the same field names."""
    from modsys.export.dsa import export_statements

    settings = load_settings()
    _, session = open_db(settings)
    community = community_of(session, settings, slug)
    result = export_statements(session, community.id, since=since)
    written: list[str] = []
    if fmt == "dsa-csv":
        text = result.csv()
        if out is None:
            click.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
            written.append(str(out))
    else:
        bodies = list(result.batches())
        if out is None:
            if len(bodies) > 1:
                fail(f"{len(result.statements)} statements make {len(bodies)} bulk requests of at most 100; "
                     "give --out PATH to write one file per request")
            if bodies:
                click.echo(json.dumps(bodies[0], ensure_ascii=False, indent=2))
        elif len(bodies) == 1:
            out.write_text(json.dumps(bodies[0], ensure_ascii=False, indent=2), encoding="utf-8")
            written.append(str(out))
        else:
            for n, body in enumerate(bodies, 1):
                path = out.with_name(f"{out.stem}-{n:03d}{out.suffix or '.json'}")
                path.write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")
                written.append(str(path))
    click.echo(f"{len(result.statements)} statements ({result.skipped} without a restriction left out)"
               + (f"; wrote {', '.join(written)}" if written else ""), err=True)
