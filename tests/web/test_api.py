"""The JSON API over HTTP (Flask test client), on SQLite and PostgreSQL: keys and
scopes, flag intake, actions, appeals, validation, rate limits, the OpenAPI
document, and random bodies that must never produce a 500."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate as validate_openapi
from sqlmodel import Session, select

from modsys.domain.actors import CLI
from modsys.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from modsys.domain.models import Action, ApiKey, AuditEvent, Flag, FlagReport, Member
from modsys.services import api_keys
from modsys.services.api_keys import create_api_key, list_api_keys, revoke_api_key
from modsys.services.appeals import start_review
from modsys.services.decisions import Decision, decide_appeal
from modsys.services.staff import set_active, set_role
from tests.factories import appeal, ban
from tests.support.cli import modsys

PRIVATE = "Reported by member 42 (staff only)."  # the private evidence of factories.ban


def fresh(engine, model, *where):
    """Rows as the database holds them now (never a stale test session), in insertion order."""
    with Session(engine) as s:
        return list(s.exec(select(model).where(*where).order_by(*model.__table__.primary_key.columns)))


def call(client, method: str, path: str, key: str | None = None, body=None, **kw):
    headers = kw.pop("headers", {})
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if body is not None:
        kw["data"], kw["content_type"] = json.dumps(body), "application/json"
    return client.open(path, method=method, headers=headers, **kw)


def flag_body(**kw) -> dict:
    body = {"message_id": "1300000000000000001", "channel_id": "42", "channel_name": "general",
            "author_id": "110000000000007001", "author_name": "Rude Person", "content": "you are an idiot",
            "reporter": "5001", "reason": "insult"}
    body.update(kw)
    return {k: v for k, v in body.items() if v is not ...}


def action_body(**kw) -> dict:
    body = {"member": {"platform_user_id": "110000000000008001", "display_name": "Offender"}, "kind": "timeout",
            "rules": ["respectful"], "public_reason": "Insulting another member in #general.", "duration": "24h",
            "evidence": [{"kind": "text", "visibility": "public", "content": "You called someone an idiot."},
                         {"kind": "link", "visibility": "private", "content": "https://example.org/modlog/1"}]}
    body.update(kw)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.fixture
def keys(session, community, mod_a, leader):
    reporter, reporter_plain = create_api_key(session, CLI, community.id, "chatbot", "reporter")
    _, other_plain = create_api_key(session, CLI, community.id, "otherbot", "reporter")
    mod_key, mod_plain = create_api_key(session, CLI, community.id, "modbot", "moderator", acts_as="mod_a")
    _, lead_plain = create_api_key(session, CLI, community.id, "leadbot", "leadership", acts_as="leader")
    return {"reporter": reporter_plain, "other": other_plain, "moderator": mod_plain, "leadership": lead_plain,
            "reporter_row": reporter, "mod_row": mod_key}


@pytest.fixture
def client(app):
    return app.test_client()


# --- flags -------------------------------------------------------------------


def test_report_flag_returns_202_at_once_and_a_reporter_counts_once(client, keys, engine):
    first = call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body())
    assert first.status_code == 202, first.get_json()
    receipt = first.get_json()
    assert receipt["counted"] is True and receipt["reporter_count"] == 1 and receipt["score_state"] == "pending"
    assert first.headers["Location"] == f"/api/v1/flags/{receipt['flag_id']}"
    again = call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body(reason="still rude"))
    assert again.status_code == 202
    assert again.get_json() | {"counted": True} == receipt and again.get_json()["counted"] is False
    third = call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body(reporter="5002"))
    assert third.get_json()["reporter_count"] == 2 and third.get_json()["counted"] is True
    # The same member reporting through another bot is another reporter key, so it counts.
    other = call(client, "POST", "/api/v1/flags", keys["other"], flag_body())
    assert other.get_json()["reporter_count"] == 3
    assert len(fresh(engine, Flag)) == 1 and len(fresh(engine, FlagReport)) == 3
    assert fresh(engine, Flag)[0].score_state == "pending"


def test_read_flag_reporter_sees_status_of_its_own_reports_staff_see_all(client, keys):
    flag_id = call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body()).get_json()["flag_id"]
    mine = call(client, "GET", f"/api/v1/flags/{flag_id}", keys["reporter"])
    assert mine.status_code == 200
    assert mine.get_json()["status"] == "open" and mine.get_json()["details"] is None
    assert "you are an idiot" not in mine.get_data(as_text=True)
    not_mine = call(client, "GET", f"/api/v1/flags/{flag_id}", keys["other"])
    assert not_mine.status_code == 404 and not_mine.get_json()["error"] == f"flag {flag_id} does not exist"
    staff = call(client, "GET", f"/api/v1/flags/{flag_id}", keys["moderator"]).get_json()
    assert staff["details"]["content"] == "you are an idiot"
    assert staff["details"]["author"] == {"platform": "discord", "platform_user_id": "110000000000007001",
                                          "display_name": "Rude Person"}
    assert call(client, "GET", "/api/v1/flags/999999", keys["moderator"]).status_code == 404
    assert call(client, "GET", "/api/v1/flags/99999999999999999999", keys["moderator"]).status_code == 404


def test_longest_key_name_and_reporter_fit_the_database(client, session, community, engine):
    _, plain = create_api_key(session, CLI, community.id, "b" * api_keys.NAME_MAX, "reporter")
    response = call(client, "POST", "/api/v1/flags", plain, flag_body(reporter="9" * 64))
    assert response.status_code == 202, response.get_json()
    assert len(fresh(engine, FlagReport)[0].reporter_key) <= 100


# --- authentication and scope -------------------------------------------------


def test_missing_malformed_unknown_and_revoked_keys_get_401(client, keys, session):
    cases = [
        ({}, "missing API key"),
        ({"Authorization": keys["reporter"]}, "malformed Authorization header"),
        ({"Authorization": f"Basic {keys['reporter']}"}, "malformed Authorization header"),
        ({"Authorization": "Bearer "}, "malformed Authorization header"),
        ({"Authorization": "Bearer not-a-key-at-all-but-long-enough"}, "not valid or has been revoked"),
        ({"Authorization": f"Bearer {keys['reporter'][:-1]}x"}, "not valid or has been revoked"),
        ({"Authorization": "Bearer \u00e9\u00e9\u00e9"}, "not valid or has been revoked"),
    ]
    for headers, message in cases:
        response = client.post("/api/v1/flags", json=flag_body(), headers=headers)
        assert response.status_code == 401, headers
        assert message in response.get_json()["error"], headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    revoke_api_key(session, CLI, keys["reporter_row"].id)
    revoked = call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body())
    assert revoked.status_code == 401 and "revoked" in revoked.get_json()["error"]
    assert call(client, "POST", "/api/v1/flags", keys["other"], flag_body()).status_code == 202


def test_reporter_key_may_only_report(client, keys, session, mod_a, make_member, engine):
    action = ban(session, mod_a, make_member())
    for method, path, body in [("POST", "/api/v1/actions", action_body()), ("GET", "/api/v1/actions", None),
                               ("GET", f"/api/v1/actions/{action.id}", None), ("GET", "/api/v1/appeals", None),
                               ("GET", "/api/v1/appeals/1", None)]:
        response = call(client, method, path, keys["reporter"], body)
        assert response.status_code == 403, path
        assert "reporter role: it may only report flags" in response.get_json()["error"]
    assert len(fresh(engine, Action)) == 1  # nothing filed
    assert fresh(engine, Member, Member.platform_user_id == "110000000000008001") == []


def test_staff_key_stops_working_when_its_user_is_deactivated_or_changes_role(client, keys, session, mod_a, leader):
    assert call(client, "GET", "/api/v1/actions", keys["moderator"]).status_code == 200
    set_role(session, CLI, leader.id, "moderator")
    response = call(client, "GET", "/api/v1/actions", keys["leadership"])
    assert response.status_code == 403 and "is now moderator" in response.get_json()["error"]
    set_active(session, CLI, mod_a.id, False)
    for method, path, body in [("GET", "/api/v1/actions", None), ("POST", "/api/v1/flags", flag_body())]:
        response = call(client, method, path, keys["moderator"], body)
        assert response.status_code == 403 and "deactivated" in response.get_json()["error"]


# --- actions ---------------------------------------------------------------------


def test_file_action_then_read_it_list_it_and_trace_it_to_the_key(client, keys, engine):
    response = call(client, "POST", "/api/v1/actions", keys["moderator"], action_body())
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["moderator"] == "mod_a" and created["kind"] == "timeout" and created["status"] == "active"
    assert created["member"]["platform_user_id"] == "110000000000008001"
    assert created["statement_of_reasons"]["measure"] == "1 day timeout"
    assert created["statement_of_reasons"]["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert {(e["kind"], e["visibility"]) for e in created["evidence"]} == {("text", "public"), ("link", "private")}
    assert response.headers["Location"] == f"/api/v1/actions/{created['id']}"
    read = call(client, "GET", f"/api/v1/actions/{created['id']}", keys["leadership"])
    assert read.status_code == 200 and read.get_json() == created
    listed = call(client, "GET", "/api/v1/actions?member=110000000000008001", keys["moderator"]).get_json()
    assert [a["id"] for a in listed["items"]] == [created["id"]] and listed["next_offset"] is None
    assert call(client, "GET", "/api/v1/actions?member=1234", keys["moderator"]).get_json()["items"] == []
    via = fresh(engine, AuditEvent, AuditEvent.verb == "action.filed_via_api")
    assert len(via) == 1 and via[0].actor_name == "mod_a" and via[0].data["api_key"] == "modbot"
    assert call(client, "GET", "/api/v1/actions/999999", keys["moderator"]).status_code == 404


def test_policy_still_decides_over_the_api(client, keys, engine):
    too_long = call(client, "POST", "/api/v1/actions", keys["moderator"], action_body(duration="60d"))
    assert too_long.status_code == 422
    assert too_long.get_json()["errors"] == [{"field": "duration", "reason": too_long.get_json()["error"]}]
    permanent = call(client, "POST", "/api/v1/actions", keys["moderator"],
                     action_body(kind="ban", duration="permanent", public_reason="Threats against a member."))
    assert permanent.status_code == 201 and permanent.get_json()["status"] == "pending_cosign"
    unknown_rule = call(client, "POST", "/api/v1/actions", keys["moderator"], action_body(rules=["nope"]))
    assert unknown_rule.status_code == 422 and unknown_rule.get_json()["field"] == "rules"
    assert len(fresh(engine, Action)) == 1


def test_pagination(client, keys):
    ids = [call(client, "POST", "/api/v1/actions", keys["moderator"],
                action_body(kind="warning", duration=None, evidence=[])).get_json()["id"] for _ in range(3)]
    first = call(client, "GET", "/api/v1/actions?limit=2", keys["moderator"]).get_json()
    assert [a["id"] for a in first["items"]] == ids[::-1][:2] and first["next_offset"] == 2
    last = call(client, "GET", f"/api/v1/actions?limit=2&offset={first['next_offset']}", keys["moderator"]).get_json()
    assert [a["id"] for a in last["items"]] == [ids[0]] and last["next_offset"] is None
    for bad, field in (("limit=0", "limit"), ("limit=1000", "limit"), ("offset=-1", "offset"), ("limit=x", "limit"),
                       ("offset=99999999999999999999", "offset")):
        response = call(client, "GET", f"/api/v1/actions?{bad}", keys["moderator"])
        assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == field, bad


# --- appeals ---------------------------------------------------------------------


def test_read_appeals_and_their_decision(client, keys, session, mod_a, mod_b, make_member):
    member = make_member()
    action = ban(session, mod_a, member)
    ap = appeal(session, member, action)
    listed = call(client, "GET", "/api/v1/appeals?status=submitted", keys["moderator"]).get_json()
    assert [a["id"] for a in listed["items"]] == [ap.id] and listed["items"][0]["decision"] is None
    start_review(session, mod_b, ap.id)
    decide_appeal(session, mod_b, ap.id, Decision("upheld", "The messages break the respect rule, clearly."))
    read = call(client, "GET", f"/api/v1/appeals/{ap.id}", keys["moderator"])
    assert read.status_code == 200
    body = read.get_json()
    assert body["status"] == "decided" and body["reviewer"] == "mod_b" and body["action_id"] == action.id
    assert body["decision"] == {"outcome": "upheld", "reasons": "The messages break the respect rule, clearly.",
                                "decided_by": "mod_b", "decided_at": body["decision"]["decided_at"],
                                "modified_action_id": None}
    assert call(client, "GET", "/api/v1/appeals?status=submitted", keys["moderator"]).get_json()["items"] == []
    bad = call(client, "GET", "/api/v1/appeals?status=lost", keys["moderator"])
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "status"
    assert call(client, "GET", f"/api/v1/appeals/{ap.id + 1}", keys["moderator"]).status_code == 404


# --- private evidence ------------------------------------------------------------


def test_private_evidence_never_reaches_a_reporter_key(client, keys, session, mod_a, make_member):
    member = make_member()
    action = ban(session, mod_a, member)
    ap = appeal(session, member, action)
    flag_id = call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body()).get_json()["flag_id"]
    paths = ["/api/v1/actions", f"/api/v1/actions/{action.id}", "/api/v1/appeals", f"/api/v1/appeals/{ap.id}",
             f"/api/v1/flags/{flag_id}", f"/api/v1/actions?member={member.platform_user_id}"]
    for path in paths:
        text = call(client, "GET", path, keys["reporter"]).get_data(as_text=True)
        assert PRIVATE not in text and "private" not in text, path
    # The same request with a staff key does include it: the check above can fail.
    staff_view = call(client, "GET", f"/api/v1/actions/{action.id}", keys["moderator"]).get_json()
    assert PRIVATE in [e["content"] for e in staff_view["evidence"] if e["visibility"] == "private"]


# --- validation ------------------------------------------------------------------


@pytest.mark.parametrize("path, key, body, field, reason", [
    ("/api/v1/flags", "reporter", flag_body(content=...), "content", "Field required"),
    ("/api/v1/flags", "reporter", flag_body(content="x" * 4001), "content", "at most 4000 characters"),
    ("/api/v1/flags", "reporter", flag_body(content="a\x00b"), "content", "NUL"),
    ("/api/v1/flags", "reporter", flag_body(message_id=12345), "message_id", "valid string"),
    ("/api/v1/flags", "reporter", flag_body(sent_at="2026-01-05T10:00:00"), "sent_at", "timezone"),
    ("/api/v1/flags", "reporter", flag_body(guild="1"), "guild", "Extra inputs are not permitted"),
    ("/api/v1/flags", "reporter", flag_body(author_id="not-a-snowflake"), "author_id", "snowflake"),
    ("/api/v1/actions", "moderator", action_body(kind="exile"), "kind", "'ban'"),
    ("/api/v1/actions", "moderator", action_body(duration="forever"), "duration", "invalid duration"),
    ("/api/v1/actions", "moderator", action_body(duration="0h"), "duration", "invalid duration"),
    ("/api/v1/actions", "moderator", action_body(duration=3600), "duration", "is a string"),
    ("/api/v1/actions", "moderator", action_body(duration="99999999999d"), "duration", "too long"),
    ("/api/v1/actions", "moderator", action_body(rules=[]), "rules", "at least 1 item"),
    ("/api/v1/actions", "moderator", action_body(evidence=[{"kind": "file", "content": "x"}]), "evidence.0.kind",
     "'text' or 'link'"),
    ("/api/v1/actions", "moderator", action_body(member={"platform_user_id": "1"}), "member.display_name",
     "Field required"),
])
def test_bad_bodies_get_422_naming_field_and_reason(client, keys, engine, path, key, body, field, reason):
    response = call(client, "POST", path, keys[key], body)
    assert response.status_code == 422, response.get_json()
    payload = response.get_json()
    assert any(e["field"] == field and reason in e["reason"] for e in payload["errors"]), payload
    assert field in payload["error"] or payload["field"] == field
    assert fresh(engine, Flag) == [] and fresh(engine, Action) == []


def test_lone_surrogate_is_refused_not_a_500(client, keys):
    raw = json.dumps(flag_body()).replace('"you are an idiot"', '"bad \\ud800 text"')
    response = client.post("/api/v1/flags", data=raw, content_type="application/json",
                           headers={"Authorization": f"Bearer {keys['reporter']}"})
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "content"


def test_body_must_be_a_json_object(client, keys):
    auth = {"Authorization": f"Bearer {keys['reporter']}"}
    form = client.post("/api/v1/flags", data={"content": "x"}, headers=auth)
    assert form.status_code == 415 and "application/json" in form.get_json()["error"]
    broken = client.post("/api/v1/flags", data="{not json", content_type="application/json", headers=auth)
    assert broken.status_code == 400 and "not valid JSON" in broken.get_json()["error"]
    array = client.post("/api/v1/flags", data="[1, 2]", content_type="application/json", headers=auth)
    assert array.status_code == 400 and "must be an object" in array.get_json()["error"]
    deep = client.post("/api/v1/flags", data="[" * 100_000 + "]" * 100_000, content_type="application/json",
                       headers=auth)
    assert deep.status_code == 400
    huge = client.post("/api/v1/flags", json=flag_body(reason="x" * 300_000), headers=auth)
    assert huge.status_code == 413 and huge.get_json()["error"]


def test_rate_limited_per_key(engine, web_settings, keys, clock):
    from web import create_app

    app = create_app(web_settings, engine=engine, TESTING=True, RATELIMIT_ENABLED=True, API_RATE_LIMIT="3 per minute")
    client = app.test_client()
    codes = [call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body(reporter=str(n))).status_code
             for n in range(4)]
    assert codes == [202, 202, 202, 429]
    limited = call(client, "GET", "/api/v1/flags/1", keys["reporter"])
    assert limited.status_code == 429 and limited.get_json()["error"] and "Retry-After" in limited.headers
    assert call(client, "POST", "/api/v1/flags", keys["other"], flag_body()).status_code == 202
    # Guessing keys is limited too (by address, as there is no key to count against).
    bad = [call(client, "GET", "/api/v1/actions", "guessed-key-guessed-key-1").status_code for _ in range(4)]
    assert bad == [401, 401, 401, 429]


# --- the OpenAPI document --------------------------------------------------------


def _refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def test_openapi_document_is_valid_and_generated_from_the_models(app, client):
    from web import api, api_schemas

    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    validate_openapi(doc)  # raises on an invalid OpenAPI 3.1 document
    schemas = doc["components"]["schemas"]
    for model, mode in api.schema_models():
        expected, defs = api.schema_of(model, mode)
        assert schemas[model.__name__] == expected, model.__name__
        for name, sub in defs.items():
            assert schemas[name] == sub, name
    for ref in set(_refs(doc)):
        assert ref.startswith("#/components/schemas/") and ref.split("/")[-1] in schemas, ref
    # Every API route is documented with its method, and nothing else is.
    routes = {(re.sub(r"<(?:[^<>:]+:)?([^<>:]+)>", r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == documented and len(routes) == 8
    post_flag = doc["paths"]["/api/v1/flags"]["post"]
    assert post_flag["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FlagReportIn"}
    assert post_flag["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FlagReceipt"}
    assert schemas["FlagReportIn"]["properties"]["content"]["maxLength"] == 4000
    assert set(schemas["ActionCreate"]["required"]) == {"member", "kind", "rules", "public_reason"}
    assert {p["name"] for p in doc["paths"]["/api/v1/actions"]["get"]["parameters"]} == {"member", "limit", "offset"}
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert set(api_schemas.ErrorOut.model_fields) == {"error", "field", "errors"}


# --- random bodies never yield a 500 ----------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_text = st.text(max_size=80) | st.from_regex(r"\A[0-9]{1,25}\Z") | st.just("") | st.text(min_size=4000, max_size=4100)
flag_fields = st.fixed_dictionaries({}, optional={
    name: _text | json_values for name in
    ("message_id", "channel_id", "channel_name", "author_id", "author_name", "content", "reporter", "reason",
     "language")} | {"sent_at": st.datetimes(timezones=st.timezones()).map(str) | json_values})
action_fields = st.fixed_dictionaries({}, optional={
    "member": st.fixed_dictionaries({}, optional={"platform_user_id": _text, "display_name": _text}) | json_values,
    "kind": st.sampled_from(["note", "warning", "timeout", "ban", "unban"]) | _text,
    "rules": st.lists(st.sampled_from(["respectful", "spam"]) | _text, max_size=3) | json_values,
    "public_reason": _text, "facts": _text, "private_note": _text,
    "duration": st.from_regex(r"\A[0-9]{1,15}[smhdw]\Z") | st.just("permanent") | json_values,
    "evidence": st.lists(st.fixed_dictionaries({}, optional={
        "kind": st.sampled_from(["text", "link", "file"]), "visibility": st.sampled_from(["public", "private", "x"]),
        "content": _text}), max_size=3) | json_values,
})
HYPO = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


def _never_500(client, path: str, key: str, payload) -> None:
    response = client.post(path, data=json.dumps(payload), content_type="application/json",
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code < 500, (payload, response.get_data(as_text=True))
    assert response.status_code in (201, 202, 400, 404, 409, 413, 422), response.status_code
    if response.status_code >= 400:
        assert response.get_json()["error"]


@HYPO
@given(payload=json_values | flag_fields)
@example(payload=flag_body(sent_at="9999-12-31T23:59:59-14:00"))
@example(payload=flag_body(author_name="\x00"))
@example(payload=flag_body(language="\x00"))
def test_random_json_to_flags_never_500(client, keys, payload):
    _never_500(client, "/api/v1/flags", keys["reporter"], payload)


@HYPO
@given(payload=json_values | action_fields)
@example(payload=action_body(duration="999999999999999w"))
@example(payload=action_body(rules=["\x00"]))
def test_random_json_to_actions_never_500(client, keys, payload):
    _never_500(client, "/api/v1/actions", keys["moderator"], payload)


# --- the service rules behind the keys ----------------------------------------------


def test_issuing_keys_is_checked_and_audited(session, community, mod_a, leader, make_staff, engine):
    admin = make_staff("admin", "root")
    key, plain = create_api_key(session, admin, community.id, "bot.one", "reporter")
    assert key.prefix == plain[:8] and len(plain) >= 40 and plain not in key.key_hash
    assert api_keys.authenticate_api_key(session, plain).id == key.id
    refusals = [
        (dict(name="has space", role="reporter"), ValidationFailed, "key name"),
        (dict(name="x" * 25, role="reporter"), ValidationFailed, "key name"),
        (dict(name="bot", role="admin"), ValidationFailed, "unknown key role"),
        (dict(name="bot", role="moderator"), ValidationFailed, "acts as a staff user"),
        (dict(name="bot", role="moderator", acts_as="leader"), ValidationFailed, "is leadership"),
        (dict(name="bot", role="moderator", acts_as="nobody"), NotFound, "no staff user"),
        (dict(name="bot", role="reporter", acts_as="mod_a"), ValidationFailed, "acts as itself"),
        (dict(name="bot.one", role="reporter"), Conflict, "already called"),
    ]
    for kwargs, error, message in refusals:
        with pytest.raises(error, match=message):
            create_api_key(session, admin, community.id, **kwargs)
    with pytest.raises(PermissionDenied):
        create_api_key(session, mod_a, community.id, "mine", "moderator", acts_as="mod_a")
    with pytest.raises(PermissionDenied):
        list_api_keys(session, mod_a, community.id)
    bound, _ = create_api_key(session, CLI, community.id, "modbot", "moderator", acts_as="mod_a")
    listed = {k.name: k for k in list_api_keys(session, admin, community.id)}
    assert listed["bot.one"].issued_by == "root" and listed["bot.one"].acts_as is None
    assert listed["modbot"].acts_as == "mod_a" and listed["modbot"].active
    assert not hasattr(listed["modbot"], "key_hash")
    with pytest.raises(PermissionDenied):
        revoke_api_key(session, mod_a, key.id)
    with pytest.raises(NotFound):
        revoke_api_key(session, CLI, 2**40)
    revoke_api_key(session, admin, key.id)
    assert api_keys.authenticate_api_key(session, plain) is None
    with pytest.raises(Conflict, match="already revoked"):
        revoke_api_key(session, admin, key.id)
    create_api_key(session, admin, community.id, "bot.one", "reporter")  # the name is free again
    events = fresh(engine, AuditEvent, AuditEvent.verb.in_(["apikey.created", "apikey.revoked"]))
    assert [e.verb for e in events] == ["apikey.created", "apikey.created", "apikey.revoked", "apikey.created"]
    assert events[0].actor_name == "root" and events[1].data["acts_as_id"] == mod_a.id
    stored = fresh(engine, ApiKey)
    assert all(plain not in json.dumps(e.data) and e.data.get("prefix") for e in events)
    assert all(k.key_hash not in json.dumps([e.data for e in events]) for k in stored)


def test_cli_issues_lists_and_revokes_keys(db_url, engine, web_settings, clock):
    from web import create_app

    assert modsys(db_url, "create-user", "dana", "--role", "moderator").returncode == 0
    created = modsys(db_url, "apikey", "create", "modbot", "--role", "moderator", "--staff", "dana")
    assert created.returncode == 0, created.stderr
    plain = re.search(r"key: (\S+)", created.stdout).group(1)
    refused = modsys(db_url, "apikey", "create", "other", "--role", "moderator")
    assert refused.returncode == 1 and "acts as a staff user" in refused.stderr
    listing = modsys(db_url, "apikey", "list")
    assert "modbot" in listing.stdout and "as dana" in listing.stdout and plain[:8] in listing.stdout
    assert plain not in listing.stdout
    client = create_app(web_settings, engine=engine, TESTING=True, RATELIMIT_ENABLED=False).test_client()
    assert call(client, "GET", "/api/v1/actions", plain).status_code == 200
    key_id = re.search(r"#(\d+)", created.stdout).group(1)
    assert modsys(db_url, "apikey", "revoke", key_id).returncode == 0
    assert call(client, "GET", "/api/v1/actions", plain).status_code == 401
    again = modsys(db_url, "apikey", "revoke", key_id)
    assert again.returncode == 1 and "already revoked" in again.stderr
