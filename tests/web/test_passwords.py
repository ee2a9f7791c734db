"""Passwords over HTTP: staff change their own (current one required, other
sessions end), admins reset one (shown once in the response, never in the
session cookie or a flash). Both audited."""

from __future__ import annotations

import re

from sqlmodel import select

from modsys.domain.models import AuditEvent
from tests.conftest import PASSWORD, csrf_token, fresh, login

NEW = "a-new-long-password-42"


def _change(client, current, new, confirm=None):
    return client.post("/account/password", data={"csrf_token": csrf_token(client, "/account/password"),
                                                   "current_password": current, "password": new,
                                                   "confirm": new if confirm is None else confirm})


def _verbs(session) -> list[str]:
    fresh(session)
    return list(session.exec(select(AuditEvent.verb)))


def test_staff_change_their_own_password_and_other_sessions_end(app, session, mod_a):
    here, elsewhere = app.test_client(), app.test_client()
    login(here, mod_a.name)
    login(elsewhere, mod_a.name)
    assert _change(here, "wrong-current-password", NEW).status_code == 422
    assert _change(here, PASSWORD, NEW, confirm=NEW + "x").status_code == 422
    assert _change(here, PASSWORD, "short").status_code == 422
    assert "staff.password_changed" not in _verbs(session)
    assert elsewhere.get("/").status_code == 200  # nothing changed so far

    r = _change(here, PASSWORD, NEW)
    assert r.status_code == 302
    assert here.get("/").status_code == 200  # this session continues
    assert elsewhere.get("/").status_code == 302  # the other one is logged out
    assert login(app.test_client(), mod_a.name, PASSWORD).status_code == 401
    assert login(app.test_client(), mod_a.name, NEW).status_code == 302
    assert _verbs(session).count("staff.password_changed") == 1


def test_admin_resets_a_password_shown_once_never_in_the_cookie(app, session, mod_a, make_staff):
    admin = make_staff("admin", "root")
    target_session = app.test_client()
    login(target_session, mod_a.name)
    client = app.test_client()
    login(client, admin.name)
    r = client.post(f"/admin/staff/{mod_a.id}/password", data={"csrf_token": csrf_token(client, "/admin")})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    password = re.search(r'id="one-time-password">([^<]+)<', r.get_data(as_text=True)).group(1)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    serializer = app.session_interface.get_signing_serializer(app)
    assert password not in str(serializer.loads(cookie.value))  # not stored in the session (no flash either)
    assert password not in client.get("/admin").get_data(as_text=True)  # shown once
    assert target_session.get("/").status_code == 302  # their sessions ended
    assert login(app.test_client(), mod_a.name, password).status_code == 302
    assert "staff.password_reset" in _verbs(session)


def test_only_admins_reset_passwords(app, session, mod_a, mod_b):
    client = app.test_client()
    login(client, mod_b.name)
    r = client.post(f"/admin/staff/{mod_a.id}/password", data={"csrf_token": csrf_token(client, "/")})
    assert r.status_code == 403
    assert login(app.test_client(), mod_a.name, PASSWORD).status_code == 302  # unchanged
