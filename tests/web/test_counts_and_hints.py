"""Counts and hints staff act on: the dashboard's overdue count (the one /metrics
uses) and the ladder hint when a case is filed by Discord id."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

from modsys.services.appeals import escalate_appeal, start_review
from tests.conftest import csrf_token, login
from tests.factories import appeal, ban, timeout


def test_dashboard_overdue_counts_leaderships_deadline_too(app, session, clock, mod_a, mod_b, make_member):
    member = make_member()
    case = appeal(session, member, ban(session, mod_a, member))
    start_review(session, mod_b, case.id)
    case = escalate_appeal(session, mod_b, case.id, "Leadership should decide this one.")
    clock.set(case.leadership_due_at + timedelta(hours=1))
    client = app.test_client()
    login(client, mod_b.name)
    page = client.get("/").get_data(as_text=True)
    assert re.search(r">\s*1 overdue<", page), page
    assert 'modsys_appeals_overdue{community="default",stage="leadership"} 1.0' in client.get("/metrics").text


def _counts(page: str) -> dict[str, int]:
    found = re.search(r'data-suggestions="([^"]*)"', page)
    return {rule: s["count"] for rule, s in json.loads(html.unescape(found.group(1))).items()}


def test_ladder_hint_counts_earlier_cases_of_a_member_named_by_discord_id(app, session, mod_a, make_member):
    member = make_member()
    for _ in range(3):
        timeout(session, mod_a, member, hours=1)
    client = app.test_client()
    login(client, mod_a.name)
    # As the form asks when the id is typed:
    r = client.get(f"/actions/suggestions?platform_user_id={member.platform_user_id}")
    assert r.status_code == 200 and r.json["respectful"]["count"] == 3
    assert client.get("/actions/suggestions?platform_user_id=123456789012345678").json["respectful"]["count"] == 0
    # And the page rendered after a preview by Discord id:
    page = client.post("/actions/new", data={
        "csrf_token": csrf_token(client, "/actions/new"), "platform_user_id": member.platform_user_id,
        "display_name": member.display_name, "kind": "warning", "rule": "respectful", "preview": "1",
        "public_reason": "Insulting another member again."}).get_data(as_text=True)
    assert _counts(page)["respectful"] == 3
