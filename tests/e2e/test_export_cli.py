"""`modsys export statements` as an operator runs it, on the demo data and past 100 statements."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import jsonschema

from modsys.reads.export.dsa import columns, schema
from modsys.services.actions import NewAction, file_action
from tests.support.cli import modsys


def _valid(body: dict) -> None:
    jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker()).validate(body)


def test_demo_statements_as_json_and_csv(db_url, engine):
    assert modsys(db_url, "demo").returncode == 0
    out = modsys(db_url, "export", "statements", "--format", "dsa-json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    _valid(body)
    assert body["statements"] and f"{len(body['statements'])} statements" in out.stderr
    as_csv = modsys(db_url, "export", "statements", "--community", "default", "--format", "dsa-csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(rows[0]) == columns()
    assert [r["puid"] for r in rows] == [s["puid"] for s in body["statements"]]
    assert json.loads(rows[0]["content_type"]) == body["statements"][0]["content_type"]


def test_refusals_are_clear(db_url, engine):
    bad_date = modsys(db_url, "export", "statements", "--since", "31/12/2026", "--format", "dsa-json")
    assert bad_date.returncode == 2 and "use YYYY-MM-DD" in bad_date.stderr
    unknown = modsys(db_url, "export", "statements", "--community", "nope", "--format", "dsa-json")
    assert unknown.returncode == 1 and "no community 'nope'" in unknown.stderr


def test_more_than_100_statements_make_one_file_per_bulk_request(db_url, session, mod_a, make_member, tmp_path):
    member = make_member()
    for _ in range(101):
        file_action(session, mod_a, NewAction(member_id=member.id, kind="timeout", rules=["respectful"],
                                              public_reason="Insulting another member.", duration=timedelta(hours=1)))
    to_stdout = modsys(db_url, "export", "statements", "--format", "dsa-json")
    assert to_stdout.returncode == 1 and "give --out PATH" in to_stdout.stderr
    out = modsys(db_url, "export", "statements", "--format", "dsa-json", "--out", str(tmp_path / "sor.json"))
    assert out.returncode == 0, out.stderr
    first, second = json.loads((tmp_path / "sor-001.json").read_text()), json.loads((tmp_path / "sor-002.json").read_text())
    assert [len(first["statements"]), len(second["statements"])] == [100, 1]
    for body in (first, second):
        _valid(body)
    assert len({s["puid"] for s in first["statements"] + second["statements"]}) == 101
