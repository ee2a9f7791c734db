"""Exports that leave modsys: statements of reasons for the EU DSA Transparency Database."""

from __future__ import annotations

import itertools
import json
import sys
from datetime import date, datetime
from pathlib import Path

import click

from modsys.cli.base import community_of, fail, main, open_db
from modsys.infra.config import load_settings


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


def _json(body: dict) -> str:
    # No indentation: json's C encoder then does the work (indent=2 took half the export's time).
    return json.dumps(body, ensure_ascii=False)


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
    per body; dsa-csv is one row per statement with the same field names. Written as
    they are read (a server-side cursor): memory stays at one batch."""
    from modsys.reads.export.csvsafe import stream_csv
    from modsys.reads.export.dsa import (
        BATCH_MAX,
        StatementStream,
        bulk_bodies,
        columns,
        csv_cells,
    )

    settings = load_settings()
    _, session = open_db(settings)
    community = community_of(session, settings, slug)
    stream = StatementStream(session, community.id, since=since)
    written: list[str] = []
    if fmt == "dsa-csv":
        if out is None:
            count = stream_csv(sys.stdout, columns(), (csv_cells(s) for s in stream))
        else:
            with out.open("w", encoding="utf-8", newline="") as fp:
                count = stream_csv(fp, columns(), (csv_cells(s) for s in stream))
            written.append(str(out))
    else:
        count = 0
        bodies = bulk_bodies(stream)
        first = next(bodies, None)
        second = next(bodies, None)
        if out is None:
            if second is not None:
                fail(f"more than {BATCH_MAX} statements make several bulk requests of at most {BATCH_MAX}; "
                     "give --out PATH to write one file per request")
            if first is not None:
                click.echo(_json(first))
                count = len(first["statements"])
        elif second is None:
            if first is not None:
                out.write_text(_json(first), encoding="utf-8")
                written.append(str(out))
                count = len(first["statements"])
        else:
            for n, body in enumerate(itertools.chain([first, second], bodies), 1):
                path = out.with_name(f"{out.stem}-{n:03d}{out.suffix or '.json'}")
                path.write_text(_json(body), encoding="utf-8")
                count += len(body["statements"])
                written.append(str(path))
    for puid, why in stream.refused:
        click.echo(f"not exported: {puid}: {why}", err=True)
    shown = written if len(written) <= 3 else [written[0], "...", written[-1]]
    click.echo(f"{count} statements ({stream.skipped} without a restriction left out"
               f"{f', {len(stream.refused)} the database would refuse left out' if stream.refused else ''})"
               + (f"; wrote {', '.join(shown)} ({len(written)} files)" if written else ""), err=True)
