"""/transparency: the page, its CSV and its JSON say the same numbers, the numbers
counted by hand, per community; the page needs no script; the log obeys the policy."""

import csv
import io
import re
from pathlib import Path

import pytest
from sqlmodel import select

from modsys.community import ensure_community
from modsys.domain.models import Member, StaffUser
from modsys.infra.config import DEFAULT_POLICY
from modsys.reads.export.csvsafe import neutralise, write_csv
from tests.support.transparency import build_history


@pytest.fixture
def history(session, engine, community, mod_a, mod_b, leader, make_member, clock):
    return build_history(session, engine, community, mod_a, mod_b, leader, make_member, clock)


def shown(value: str, unit: str) -> str:
    """How the page should show a CSV value, written out independently of web/charts.py."""
    if value == "":
        return "–"
    if unit == "share":
        return "%.1f %%" % (float(value) * 100)
    if unit == "hours":
        return "%.1f" % float(value)
    return value


def page_cells(html: str) -> dict[tuple[str, str, str], str]:
    return {tuple(k.split("|")): v for k, v in re.findall(r'<td data-cell="([^"]+)">([^<]*)</td>', html)}


def test_page_csv_and_json_agree_with_each_other_and_the_hand_count(app, history):
    client = app.test_client()
    page = client.get("/transparency")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    as_csv = client.get("/transparency.csv")
    assert as_csv.mimetype == "text/csv" and "attachment" in as_csv.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    data = client.get("/transparency.json").get_json()
    units = {(m["metric"], m["key"]): m["unit"] for m in data["metrics"]}

    cells = page_cells(html)
    assert len(rows) == len(cells) == 12 * len(data["metrics"]) > 12 * 15
    for row in rows:
        key = (row["metric"], row["key"], row["month"])
        assert cells[key] == shown(row["value"], units[key[:2]]), key
        from_json = next(m for m in data["metrics"] if (m["metric"], m["key"]) == key[:2])["values"][row["month"]]
        assert row["value"] == ("" if from_json is None else str(from_json)), key

    # A few numbers counted by hand (tests/support/transparency.py says how).
    assert cells[("actions_by_kind", "ban", "2025-11")] == "1"
    assert cells[("actions_by_rule", "spam", "2025-12")] == "1"
    assert cells[("automated_detection_share", "", "2025-12")] == "100.0 %"
    assert cells[("flags", "dismissed", "2025-11")] == "1"
    assert cells[("overturn_rate", "", "2025-12")] == "100.0 %"
    assert cells[("overturn_rate", "", "2026-01")] == "0.0 %"
    assert cells[("median_hours_to_first_decision", "", "2025-11")] == "3.0"
    assert cells[("median_hours_to_final_decision", "", "2026-01")] == "721.0"
    assert cells[("sla_missed", "leadership", "2025-12")] == "1"


def test_the_page_needs_no_script_and_names_nobody(app, session, history):
    response = app.test_client().get("/transparency")
    html = response.get_data(as_text=True)
    assert "script-src" not in response.headers["Content-Security-Policy"]  # nothing inline is allowed
    assert html.count("<svg viewBox=\"0 0 720 240\" role=\"img\"") == 7  # one chart per section
    assert 'style="' not in html and "<style" not in html
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []  # no inline script
    assert "<rect class=\"bar s0\"" in html and "<title>2025-11, actions by kind: ban: 1</title>" in html
    for member in session.exec(select(Member)).all():
        assert member.display_name not in html
    as_csv = app.test_client().get("/transparency.csv").get_data(as_text=True)
    for user in session.exec(select(StaffUser)).all():  # "leader", not "leadership"
        assert not re.search(rf"\b{re.escape(user.username)}\b", html + as_csv), user.username


def test_each_community_under_its_slug(app, history):
    client = app.test_client()
    other = client.get("/c/other/transparency.json").get_json()
    default = client.get("/c/default/transparency.json").get_json()
    assert default == client.get("/transparency.json").get_json()
    bans = lambda d: next(m for m in d["metrics"] if m["metric"] == "actions_by_kind" and m["key"] == "ban")["values"]  # noqa: E731
    assert bans(other)["2025-11"] == 1 and other["slug"] == "other"
    assert next(m for m in other["metrics"] if m["key"] == "received")["values"]["2025-11"] == 0
    missing = client.get("/c/nope/transparency")
    assert missing.status_code == 404 and "no community" in missing.get_data(as_text=True)


def test_the_public_log_follows_the_policy_switch(app, session, history, tmp_path: Path):
    client = app.test_client()
    off = client.get("/transparency/log")
    assert off.status_code == 404 and "public_log" in off.get_data(as_text=True)
    assert "moderation log" not in client.get("/transparency").get_data(as_text=True)
    policy = tmp_path / "open.yaml"
    policy.write_text(DEFAULT_POLICY.read_text().replace('public_log: "off"', "public_log: anonymised"))
    ensure_community(session, policy, slug="default")  # the same community, now publishing its log
    html = client.get("/transparency/log").get_data(as_text=True)
    assert f"#{history['a2'].id}" in html and "1 week ban" in html and "respectful, spam" in html
    assert "overturned on appeal" in html and "public moderation log" in client.get("/transparency").get_data(as_text=True)
    for member in session.exec(select(Member)).all():
        assert member.display_name not in html and member.platform_user_id not in html


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1"])
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(cell):
    assert neutralise(cell) == "'" + cell
    assert next(csv.reader(io.StringIO(write_csv(["h"], [[cell]])).readlines()[1:]))[0] == "'" + cell
    assert neutralise("2026-01") == "2026-01" and neutralise(0) == "0"


def test_the_report_is_computed_once_per_five_minutes(app, session, history, mod_a, make_member, monkeypatch):
    from tests.factories import ban

    client = app.test_client()
    bans = lambda: next(m for m in client.get("/transparency.json").get_json()["metrics"]  # noqa: E731
                        if m["key"] == "ban")["values"]["2026-01"]
    assert bans() == 0
    ban(session, mod_a, make_member(), days=7)  # filed on 5 January 2026
    assert bans() == 0  # served from the cache: a burst of visitors costs one computation
    monkeypatch.setattr("web.public.FRESH_S", -1)  # as if five minutes had passed
    assert bans() == 1
