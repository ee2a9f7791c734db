"""Two communities in one deployment: for every HTML route (enumerated from the
app's URL map, so a new route can't be forgotten), every API endpoint and every
CLI command that lists or reads, one community's actors get nothing of the
other: a 404 for its staff, actions, appeals, evidence and members (never a 403
that would confirm they exist), and not a name, a count or a link of it in any
page, list or answer."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlmodel import select

from modsys.cli import main
from modsys.domain.models import AuditEvent
from tests.conftest import PASSWORD, csrf_token, fresh, login
from tests.support.communities import two_communities

SECRET = "test-secret-key-not-for-production"
ROLES = ("moderator", "leadership", "admin")
# URL arguments the sweep knows how to fill; a route with any other argument fails the sweep until added.
ARGS = {"flag_id", "member_id", "action_id", "appeal_id", "evidence_id", "user_id", "key_id", "verb", "token",
        "drift_id", "how", "subject", "subject_id", "move", "incident_id", "logged_id", "thread_id"}
# The API is swept below; ops serve operators, not a community; the Discord front
# door is off (404) without its keys, and tests/web/test_discord_*.py sweep two guilds;
# public pages are open to anyone by design (tests/web/test_transparency.py keeps
# each community's numbers to itself).
SKIP_BLUEPRINTS = {"static", "api", "ops", "discord", "public"}


@pytest.fixture
def worlds(app, session, community):
    return two_communities(session, community, SECRET)


def _audit_count(session, community_id: int) -> int:
    fresh(session)
    return len(session.exec(select(AuditEvent.seq).where(AuditEvent.community_id == community_id)).all())


def _url(app, rule, ids: dict) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **{k: ids[k] for k in rule.arguments})


def _fixed(world) -> dict:
    """URL arguments that are words, not ids (the ids come from the world's rows)."""
    return {"verb": "review", "how": "import", "token": world.token, "subject": "flag",
            "subject_id": world.ids["flag_id"], "move": "claim"}


def _assert_clean(text: str, other, where: str) -> None:
    for marker in other.markers:
        assert marker not in text, f"{where} shows {marker!r} of the other community"


@pytest.mark.parametrize("role", ROLES)
def test_every_html_route_keeps_the_other_community_out(app, session, worlds, role):
    a, b = worlds
    client = app.test_client()
    assert login(client, a.staff[role].username, PASSWORD).status_code == 302
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] not in SKIP_BLUEPRINTS]
    unknown = {(r.rule, arg) for r in rules for arg in r.arguments if arg not in ARGS}
    assert not unknown, f"teach the sweep these URL arguments: {unknown}"
    before = _audit_count(session, b.community.id)
    token = csrf_token(client, "/statements")
    for rule in rules:
        if rule.endpoint.startswith("portal."):
            continue  # reached through a member's link, swept below
        own = _url(app, rule, {**a.ids, **_fixed(a)})
        theirs = _url(app, rule, {**b.ids, **_fixed(b)})
        if "GET" in rule.methods:
            mine = client.get(own)
            # 422: a page that does not apply to that row (a thumbnail of a file that isn't an image).
            assert mine.status_code in (200, 302, 403, 422), (rule.rule, mine.status_code)
            _assert_clean(mine.get_data().decode(errors="replace"), b, rule.rule)
            if rule.arguments:
                other = client.get(theirs)
                # 403 only from the role gate, which answers the same for any id (it confirms nothing).
                expected = 403 if mine.status_code == 403 else 404
                assert other.status_code == expected, (role, rule.rule, other.status_code)
                _assert_clean(other.get_data().decode(errors="replace"), b, rule.rule)
        if "POST" in rule.methods and rule.arguments:
            answer = client.post(theirs, data={"csrf_token": token, "reason": "x" * 20, "role": "moderator",
                                               "active": "0", "body": "hello", "outcome": "upheld"})
            assert answer.status_code in (403, 404), (role, rule.rule, answer.status_code)
            _assert_clean(answer.get_data().decode(errors="replace"), b, rule.rule)
    assert _audit_count(session, b.community.id) == before  # nothing of theirs changed


def test_an_admin_gets_404_for_the_other_communitys_staff_actions_appeals_evidence_and_members(app, worlds):
    a, b = worlds
    client = app.test_client()
    login(client, a.staff["admin"].username, PASSWORD)
    token = csrf_token(client, "/admin")
    for path in (f"/actions/{b.ids['action_id']}", f"/appeals/{b.ids['appeal_id']}",
                 f"/evidence/{b.ids['evidence_id']}/file", f"/members/{b.ids['member_id']}"):
        assert client.get(path).status_code == 404, path
    for path, data in ((f"/admin/staff/{b.ids['user_id']}/role", {"role": "admin"}),
                       (f"/admin/staff/{b.ids['user_id']}/active", {"active": "0"}),
                       (f"/admin/apikeys/{b.ids['key_id']}/revoke", {})):
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 404, path
    admin_page = client.get("/admin").get_data().decode(errors="replace")
    assert a.community.name in admin_page
    _assert_clean(admin_page, b, "/admin")


def test_a_members_link_reaches_only_its_own_case(app, worlds):
    a, b = worlds
    client = app.test_client()
    case = client.get(f"/appeal/{a.token}.json")
    assert case.status_code == 200
    _assert_clean(case.get_data().decode(errors="replace"), b, "the portal")
    assert client.get(f"/appeal/{a.token}/evidence/{b.ids['evidence_id']}").status_code == 404
    assert client.get(f"/appeal/{a.token}/appeals/{b.ids['appeal_id']}").status_code == 404


def _api(client, method: str, path: str, key: str, **kw):
    return client.open(path, method=method, headers={"Authorization": f"Bearer {key}"}, **kw)


def test_every_api_endpoint_keeps_the_other_community_out(app, worlds):
    from web.api import ENDPOINTS

    a, b = worlds
    client = app.test_client()
    for ep in ENDPOINTS:
        if ep.method != "GET":
            continue
        path = "/api" + re.sub(r"<[^>]*:(\w+)>", lambda m: str(b.ids[m.group(1)]), ep.rule)
        for who, key in (("moderator", a.keys["moderator"]), ("reporter", a.keys["reporter"])):
            answer = _api(client, "GET", path, key)
            _assert_clean(answer.get_data().decode(errors="replace"), b, ep.rule)
            if who == "reporter" and ep.scope == "staff":
                assert answer.status_code == 403, ep.rule  # the key's role, the same for any id
            elif "<" in ep.rule:
                assert answer.status_code == 404, (who, ep.rule, answer.status_code)
            else:
                assert answer.status_code == 200, (who, ep.rule, answer.status_code)
    listed = _api(client, "GET", "/api/v1/actions?limit=100", a.keys["moderator"]).get_json()["items"]
    assert listed and all(item["member"]["display_name"] == "alpha-member" for item in listed)
    report = _api(client, "POST", "/api/v1/flags", a.keys["reporter"], json={
        "message_id": "555", "channel_id": "1", "author_id": "556000000000000000", "author_name": "someone", "content": "x",
        "reporter": "9"})
    assert report.status_code == 202
    flag_id = report.get_json()["flag_id"]
    assert _api(client, "GET", f"/api/v1/flags/{flag_id}", b.keys["moderator"]).status_code == 404


def test_cli_lists_and_reads_one_community(worlds, db_url, monkeypatch):
    a, b = worlds
    monkeypatch.setenv("DATABASE_URL", db_url)
    runner = CliRunner()
    ambiguous = runner.invoke(main, ["apikey", "list"])
    assert ambiguous.exit_code == 1 and "--community" in ambiguous.output
    assert "default" in ambiguous.output and "partner" in ambiguous.output  # it names the choices
    for args in (["apikey", "list"], ["webhook", "list"], ["outbox", "list"], ["outbox", "list", "--dead"]):
        out = runner.invoke(main, [*args, "--community", b.community.slug])
        assert out.exit_code == 0, (args, out.output)
        assert "alpha" not in out.output, args
    keys = runner.invoke(main, ["apikey", "list", "--community", a.community.slug]).output
    assert "alpha-bot" in keys and "beta-bot" not in keys
    listed = runner.invoke(main, ["community", "list"])
    assert listed.exit_code == 0 and "partner" in listed.output and "123456789012345678" in listed.output
    revoke = runner.invoke(main, ["apikey", "revoke", str(b.ids["key_id"]), "--community", a.community.slug])
    assert revoke.exit_code == 1 and "does not exist" in revoke.output
    created = runner.invoke(main, ["create-user", "gamma-mod", "--role", "moderator", "--community", "partner"])
    assert created.exit_code == 0 and "partner" in created.output
    unknown = runner.invoke(main, ["create-user", "delta", "--role", "moderator", "--community", "nope"])
    assert unknown.exit_code == 1 and "no community 'nope'" in unknown.output
