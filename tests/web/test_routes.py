"""Every staff route, for every role, on a demo community: who may see what,
nothing ever answers 500, and no POST works without its CSRF token."""

from __future__ import annotations

import pytest
from sqlmodel import select

from modsys.domain.models import Action, Appeal, Evidence, Flag, Member
from modsys.runtime import demo
from tests.conftest import login

ROLES = {None: None, "alice": "moderator", "lead": "leadership", "admin": "admin"}
# Which roles may open each staff page (the rest are sent to login or refused).
PAGES = {
    "dashboard.home": {"moderator", "leadership", "admin"},  # admin is redirected to /admin
    "dashboard.flags": {"moderator", "leadership", "admin"},
    "dashboard.flag": {"moderator", "leadership", "admin"},
    "dashboard.member": {"moderator", "leadership", "admin"},
    "dashboard.action": {"moderator", "leadership", "admin"},
    "dashboard.appeal": {"moderator", "leadership", "admin"},
    "dashboard.new_action": {"moderator", "leadership"},
    "dashboard.evidence_file": {"moderator", "leadership", "admin"},
    "leadership.desk": {"leadership"},
    "leadership.appeal": {"leadership"},
    "admin.index": {"admin"},
    "workspace.search": {"moderator", "leadership", "admin"},
    "workspace.cases": {"moderator", "leadership", "admin"},
    "workspace.appeals": {"moderator", "leadership", "admin"},
    "workspace.my_queue": {"moderator", "leadership"},
    "workspace.audit_log": {"leadership", "admin"},
    "workspace.evidence_thumbnail": {"moderator", "leadership", "admin"},
    "workspace.two_factor": {"moderator", "leadership", "admin"},
}


@pytest.fixture
def demo_app(app, session, community):
    demo.fill(session, community)
    return app


def _ids(session) -> dict[str, int]:
    first = lambda model: session.exec(select(model.id).order_by(model.id)).first()  # noqa: E731
    return {"flag_id": first(Flag), "member_id": first(Member), "action_id": first(Action),
            "appeal_id": first(Appeal),
            "evidence_id": session.exec(select(Evidence.id).where(Evidence.kind == "file")).first(), "user_id": 1, "key_id": 1, "verb": "review",
            "drift_id": 1, "how": "import",
            "subject": "flag", "subject_id": first(Flag), "move": "claim"}



def _url(app, endpoint: str, ids: dict[str, int]) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **{k: ids[k] for k in rule.arguments})


@pytest.mark.parametrize("username", list(ROLES))
def test_every_staff_page_for_every_role(demo_app, session, username):
    ids = _ids(session)
    client = demo_app.test_client()
    if username:
        assert login(client, username, f"demo-{username}-password").status_code == 302
    role = ROLES[username]
    for endpoint, allowed in PAGES.items():
        response = client.get(_url(demo_app, endpoint, ids))
        if role is None:
            assert response.status_code == 302 and "/login" in response.location, endpoint
        elif role in allowed:
            assert response.status_code in (200, 302), (endpoint, role, response.status_code)
        else:
            assert response.status_code == 403, (endpoint, role, response.status_code)


@pytest.mark.parametrize("username", list(ROLES))
def test_no_post_route_works_without_csrf(demo_app, session, username):
    ids = _ids(session)
    client = demo_app.test_client()
    if username:
        login(client, username, f"demo-{username}-password")
    before = session.exec(select(Appeal.status).order_by(Appeal.id)).all()
    posts = [r for r in demo_app.url_map.iter_rules() if "POST" in r.methods and r.endpoint.split(".")[0]
             in ("dashboard", "leadership", "admin", "auth", "portal", "workspace")]
    for rule in posts:
        if rule.endpoint.startswith("portal."):
            continue  # the portal's CSRF is covered in test_portal.py with real tokens
        response = client.post(_url(demo_app, rule.endpoint, {**ids, "verb": "decide"}), data={"outcome": "upheld"})
        assert response.status_code in (400, 302) and response.status_code != 500, rule.rule
        if response.status_code == 302:  # only when not logged in: sent to login first
            assert username is None and "/login" in response.location, rule.rule
    session.expire_all()
    assert session.exec(select(Appeal.status).order_by(Appeal.id)).all() == before
