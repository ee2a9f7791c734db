"""The staff side over HTTP: who sees what, CSRF, sessions, errors."""

from __future__ import annotations

import pytest
from sqlmodel import select

from modsys.domain.actors import CLI
from modsys.services.staff import set_active
from tests.conftest import csrf_token, fresh, login
from tests.factories import appeal, ban

STAFF_PAGES = ["/", "/flags", "/actions/new"]


@pytest.fixture
def people(mod_a, mod_b, leader, make_staff, make_member, session):
    admin = make_staff("admin", "root")
    member = make_member("Offender")
    action = ban(session, mod_a, member)
    ap = appeal(session, member, action)
    return {"mod_a": mod_a, "mod_b": mod_b, "leader": leader, "admin": admin, "member": member, "action": action, "appeal": ap}


def test_anonymous_is_sent_to_login(app, people):
    client = app.test_client()
    for path in STAFF_PAGES + ["/leadership", "/admin", f"/members/{people['member'].id}", f"/appeals/{people['appeal'].id}"]:
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    assert client.get("/statements").status_code == 200


def test_each_role_sees_its_pages(app, people):
    expectations = {
        "mod_a": {"/": 200, "/flags": 200, "/leadership": 403, "/admin": 403},
        "leader": {"/": 200, "/leadership": 200, "/admin": 403},
        "root": {"/admin": 200, "/leadership": 403, "/actions/new": 403},
    }
    for username, pages in expectations.items():
        client = app.test_client()
        assert login(client, username).status_code == 302
        for path, status in pages.items():
            assert client.get(path).status_code == status, (username, path)


def test_wrong_password_is_refused_and_not_logged(app, people, caplog):
    client = app.test_client()
    response = login(client, "mod_a", "the-wrong-password-123")
    assert response.status_code == 401 and "Wrong username or password" in response.get_data(as_text=True)
    assert "the-wrong-password-123" not in caplog.text
    assert client.get("/").status_code == 302


def test_login_is_rate_limited(engine, web_settings, people, clock):
    from web import create_app

    client = create_app(web_settings, engine=engine, TESTING=True).test_client()
    codes = [login(client, "mod_a", "nope-nope-nope").status_code for _ in range(12)]
    assert codes[:10] == [401] * 10 and codes[-1] == 429


def test_csrf_is_required_on_every_form(app, people):
    client = app.test_client()
    login(client, "mod_b")
    ap = people["appeal"]
    response = client.post(f"/appeals/{ap.id}/review", data={})
    assert response.status_code == 400 and "form expired" in response.get_data(as_text=True)
    assert client.post("/logout").status_code == 400


def test_session_cookie_flags_and_security_headers(app, people):
    client = app.test_client()
    response = login(client, "mod_a")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/")
    csp = page.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_logout_invalidates_the_old_cookie(app, people):
    client = app.test_client()
    login(client, "mod_a")
    stolen = client.get_cookie("modsys_session").value
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    thief = app.test_client()
    thief.set_cookie("modsys_session", stolen)
    assert thief.get("/").status_code == 302


def test_deactivated_staff_are_logged_out_on_next_request(app, people, session):
    client = app.test_client()
    login(client, "mod_b")
    assert client.get("/").status_code == 200
    set_active(session, CLI, people["mod_b"].id, False)
    assert client.get("/").status_code == 302


def test_filer_sees_why_they_cannot_review(app, people):
    client = app.test_client()
    login(client, "mod_a")
    ap = people["appeal"]
    page = client.get(f"/appeals/{ap.id}").get_data(as_text=True)
    assert "you can't review or decide this appeal" in page and 'id="start-review"' not in page
    refused = client.post(f"/appeals/{ap.id}/review", data={"csrf_token": csrf_token(client, f"/appeals/{ap.id}")})
    assert refused.status_code == 403 and "you filed case" in refused.get_data(as_text=True)


def test_file_action_form_with_preview_and_file(app, people, session):
    client = app.test_client()
    login(client, "mod_b")
    member = people["member"]
    token = csrf_token(client, f"/actions/new?member={member.id}")
    form = {"csrf_token": token, "member": member.id, "kind": "timeout", "rule": "spam", "duration": "1h",
            "public_reason": "Posting the same link in five channels.", "ev_kind_0": "text", "ev_vis_0": "private",
            "ev_content_0": "Staff-only context", "ev_kind_1": "text", "ev_vis_1": "public", "ev_content_1": "The links."}
    preview = client.post("/actions/new", data={**form, "preview": "1"})
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "what the member will read" in text and "1 hour timeout" in text
    from io import BytesIO

    from sqlmodel import select

    from modsys.domain.models import Action, Evidence

    assert len(session.exec(select(Action)).all()) == 1  # the preview wrote nothing
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    filed = client.post("/actions/new", data={**form, "ev_file_0": (BytesIO(png), "shot.png"), "ev_file_vis_0": "public"},
                        content_type="multipart/form-data")
    assert filed.status_code == 302
    action_id = int(filed.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/actions/{action_id}").get_data(as_text=True)
    assert "/appeal/" in page and "Staff-only context" in page
    session.rollback()  # end this test session's read snapshot; the app wrote since
    ev = session.exec(select(Evidence).where(Evidence.action_id == action_id, Evidence.kind == "file")).one()
    download = client.get(f"/evidence/{ev.id}/file")
    assert download.headers["Content-Disposition"].startswith("attachment") and download.mimetype == "image/png"
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_bad_form_input_gets_a_clear_4xx_and_changes_nothing(app, people, session):
    client = app.test_client()
    login(client, "mod_b")
    member = people["member"]
    token = csrf_token(client, f"/actions/new?member={member.id}")
    bad = client.post("/actions/new", data={"csrf_token": token, "member": member.id, "kind": "timeout",
                                            "rule": "spam", "duration": "forever", "public_reason": "Spam links."})
    assert bad.status_code == 422 and "invalid duration" in bad.get_data(as_text=True)
    exe = client.post("/actions/new", data={"csrf_token": token, "member": member.id, "kind": "warning", "rule": "spam",
                                            "public_reason": "Posting spam links.",
                                            "ev_file_0": (__import__("io").BytesIO(b"MZ\x90\x00\x03\x00"), "x.exe")},
                      content_type="multipart/form-data")
    assert exe.status_code == 422 and "file type not allowed" in exe.get_data(as_text=True)
    from sqlmodel import select

    from modsys.domain.models import Action

    session.rollback()
    assert len(session.exec(select(Action)).all()) == 1


def test_escalate_and_leadership_overturn_with_statement(app, people, session):
    ap = people["appeal"]
    mod = app.test_client()
    login(mod, "mod_b")
    r = mod.post(f"/appeals/{ap.id}/escalate", data={"csrf_token": csrf_token(mod, f"/appeals/{ap.id}"),
                                                   "reason": "A public figure is involved.", "recommendation": "Overturn."})
    assert r.status_code == 302
    lead = app.test_client()
    login(lead, "leader")
    desk = lead.get("/leadership").get_data(as_text=True)
    assert f"#{ap.id}" in desk
    r = lead.post(f"/leadership/appeals/{ap.id}/decide", data={
        "csrf_token": csrf_token(lead, f"/leadership/appeals/{ap.id}"), "outcome": "overturned",
        "reasons": "The quoted message was a report, not an insult.", "statement_title": "On a recent ban",
        "statement_body": "We overturned a ban after reviewing the full context."})
    assert r.status_code == 302
    assert "On a recent ban" in app.test_client().get("/statements").get_data(as_text=True)
    case = lead.get(f"/members/{people['member'].id}").get_data(as_text=True)
    assert "overturned" in case


def test_errors_never_leak_a_stack_trace(app, people):
    client = app.test_client()
    login(client, "mod_a")
    page = client.get("/appeals/999999")
    assert page.status_code == 404 and "Traceback" not in page.get_data(as_text=True)
    assert client.get("/flags?status=weird").status_code == 400


def test_huge_ids_and_durations_are_clear_errors(app, people):
    client = app.test_client()
    login(client, "mod_b")
    assert client.get("/appeals/99999999999999999999").status_code == 404
    member = people["member"]
    bad = client.post("/actions/new", data={"csrf_token": csrf_token(client, f"/actions/new?member={member.id}"),
                                            "member": member.id, "kind": "ban", "rule": "spam",
                                            "duration": "99999999999999d", "public_reason": "Spam links everywhere."})
    assert bad.status_code == 422 and "too long" in bad.get_data(as_text=True)


def test_admin_manages_api_keys_and_sees_dead_letters_and_calibration(app, people, session):
    from modsys import outbox
    from modsys.domain.models import ApiKey, OutboxMessage

    client = app.test_client()
    login(client, "root")
    page = client.get("/admin").get_data(as_text=True)
    assert 'id="calibration"' in page and "No keys yet" in page and "None: every notification" in page
    created = client.post("/admin/apikeys", data={"csrf_token": csrf_token(client, "/admin"), "name": "chatbot",
                                                  "role": "reporter"}, follow_redirects=True)
    assert "shown only once" in created.get_data(as_text=True)
    key = session.exec(select(ApiKey)).one()
    client.post(f"/admin/apikeys/{key.id}/revoke", data={"csrf_token": csrf_token(client, "/admin")})
    fresh(session)
    assert session.get(ApiKey, key.id).revoked_at is not None
    message = outbox.enqueue(session, people["member"].community_id, "modlog", "test", {"title": "x"})
    message.status = "dead"
    session.commit()
    assert f"<td>{message.id}</td>" in client.get("/admin").get_data(as_text=True)
    client.post("/admin/outbox/retry", data={"csrf_token": csrf_token(client, "/admin"), "id": message.id})
    fresh(session)
    assert session.get(OutboxMessage, message.id).status == "pending"
    moderator = app.test_client()
    login(moderator, "mod_a")
    assert moderator.post("/admin/outbox/retry", data={"csrf_token": csrf_token(moderator, "/")}).status_code == 403
