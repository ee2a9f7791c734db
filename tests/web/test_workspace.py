"""The workspace over HTTP: search, lists, claims across two sessions, the audit
browser, thumbnails, reporters and two-factor login; what each role sees, and
other communities' rows answering 404."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import select

from modsys.audit.checkpoint import sign
from modsys.community import ensure_community
from modsys.domain.actors import Actor
from modsys.domain.models import StaffUser
from modsys.services import claims, two_factor
from modsys.services.evidence import EvidenceInput, add_evidence
from modsys.services.members import get_or_create_member
from tests.conftest import csrf_token, fresh, login
from tests.factories import appeal, ban
from tests.support.workspace import current_code, flag, other_community, wrong_code


def _png(size=(900, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "orange").save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def world(session, community, mod_a, mod_b, leader, make_staff, make_member):
    admin = make_staff("admin", "root")
    member = make_member("Quentin Quarrel")
    action = ban(session, mod_a, member, public_reason="Doxxed another member in the general channel.")
    image = add_evidence(session, mod_a, action.id, EvidenceInput("file", "private", data=_png(), filename="dox.png",
                                                                  sensitive=True))
    ap = appeal(session, member, action, "I never posted anyone's address, it was a public profile link.")
    f = flag(session, community.id, reporters=(("5001", "harassment"), ("5002", "doxxing"), ("5003", "")))
    other = other_community(session)
    theirs = ban(session, other.mod, other.member, public_reason="Doxxed someone in another community.")
    their_image = add_evidence(session, other.mod, theirs.id, EvidenceInput("file", "private", data=_png(),
                                                                            filename="x.png"))
    return {"admin": admin, "member": member, "action": action, "image": image, "appeal": ap, "flag": f,
            "other": other, "theirs": theirs, "their_image": their_image,
            "their_flag": flag(session, other.community.id, "77")}


def _client(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def test_search_finds_members_cases_and_appeals_grouped(app, world):
    client = _client(app, "mod_b")
    page = client.get("/search?q=doxxed").get_data(as_text=True)
    assert 'id="results-cases"' in page and f"Case #{world['action'].id}" in page
    assert "another community" not in page  # the other community's case never shows
    page = client.get(f"/search?q=%23{world['action'].id}").get_data(as_text=True)
    assert f'href="/actions/{world["action"].id}"' in page
    page = client.get(f"/search?q={world['member'].platform_user_id}").get_data(as_text=True)
    assert 'id="results-members"' in page and "Quentin Quarrel" in page
    page = client.get("/search?q=address").get_data(as_text=True)
    assert f"Appeal #{world['appeal'].id}" in page
    elsewhere = client.get(f"/search?q={world['other'].member.platform_user_id}").get_data(as_text=True)
    assert "Nothing in this community matches" in elsewhere
    assert client.get(f"/members/{world['other'].member.id}").status_code == 404
    too_long = client.get("/search?q=" + "x" * 201)
    assert too_long.status_code == 422 and "limited to 200 characters" in too_long.get_data(as_text=True)
    for words in ("an idiot", "doxxing"):  # the reported message, a later reporter's reason
        found = client.get(f"/search?q={words}").get_data(as_text=True)
        assert 'id="results-flags"' in found and f'href="/flags/{world["flag"].id}"' in found, words
    header = client.get("/").get_data(as_text=True)
    assert 'role="search"' in header and 'action="/search"' in header


def test_lists_validate_filters_with_400s(app, world):
    client = _client(app, "leader")
    assert client.get("/cases?kind=ban&rule=respectful&sort=oldest").status_code == 200
    bad = client.get("/cases?kind=nuke")
    assert bad.status_code == 400 and "kind must be one of" in bad.get_data(as_text=True)
    assert client.get("/cases?from=yesterday").status_code == 400
    assert client.get("/appeals?claimed=ghost").status_code == 400
    page = client.get("/appeals?status=submitted").get_data(as_text=True)
    assert f'data-appeal-id="{world["appeal"].id}"' in page
    member = client.get(f"/members/{world['member'].id}?actions_page=0")
    assert member.status_code == 400 and "actions_page" in member.get_data(as_text=True)


def test_claims_across_two_sessions_warn_before_the_form(app, world, session):
    a, b = _client(app, "mod_a"), _client(app, "mod_b")
    fid = world["flag"].id
    taken = a.post(f"/flags/{fid}/claim", data={"csrf_token": csrf_token(a, f"/flags/{fid}")})
    assert taken.status_code == 302
    page = b.get(f"/flags/{fid}").get_data(as_text=True)
    assert "held by mod_a" in page and "File anyway (held by mod_a)" in page
    form = b.get(f"/actions/new?flag={fid}").get_data(as_text=True)
    assert "claim-warning" in form and "held by <strong>mod_a</strong>" in form
    refused = b.post(f"/flags/{fid}/claim", data={"csrf_token": csrf_token(b, f"/flags/{fid}")})
    assert refused.status_code == 409 and "held by mod_a" in refused.get_data(as_text=True)
    assert f"Flag #{fid}" in a.get("/queue").get_data(as_text=True)
    assert "You hold no flags" in b.get("/queue").get_data(as_text=True)
    assert "held by mod_a" in b.get("/flags").get_data(as_text=True)
    a.post(f"/flags/{fid}/release", data={"csrf_token": csrf_token(a, f"/flags/{fid}")})
    assert "Nobody holds this flag" in b.get(f"/flags/{fid}").get_data(as_text=True)
    foreign = b.post(f"/flags/{world['their_flag'].id}/claim", data={"csrf_token": csrf_token(b, f"/flags/{fid}")})
    assert foreign.status_code == 404
    admin = _client(app, "root")
    assert admin.post(f"/flags/{fid}/claim", data={"csrf_token": csrf_token(admin, "/cases")}).status_code == 403
    fresh(session)
    assert session.exec(select(claims.WorkClaim)).all() == []


def test_appeal_claim_release_and_review_over_http(app, world, session, mod_b):
    b = _client(app, "mod_b")
    aid, page = world["appeal"].id, f"/appeals/{world['appeal'].id}"
    post = lambda path: b.post(path, data={"csrf_token": csrf_token(b, page)})  # noqa: E731
    taken = post(f"{page}/claim")
    assert taken.status_code == 302 and taken.headers["Location"].endswith(page)
    assert "held by mod_b" in b.get(page).get_data(as_text=True)
    assert post(f"{page}/release").status_code == 302
    assert "Nobody holds this appeal" in b.get(page).get_data(as_text=True)
    assert post(f"{page}/review").status_code == 302  # starting the review claims it
    shown = b.get(page).get_data(as_text=True)
    assert "held by mod_b" in shown and 'id="decide"' in shown
    assert post(f"{page}/release").status_code == 302  # "Release" lets go of the claim, not the review
    fresh(session)
    ap = session.get(type(world["appeal"]), aid)
    assert (ap.status, ap.reviewer_id) == ("in_review", mod_b.id)
    assert 'id="decide"' in b.get(page).get_data(as_text=True)
    post(f"{page}/claim")
    assert post(f"{page}/hand-back").status_code == 302  # handing the review back lets go of both
    fresh(session)
    assert session.get(type(world["appeal"]), aid).status == "submitted"
    assert session.exec(select(claims.WorkClaim)).all() == []
    assert post(f"{page}/nonsense").status_code == 404


def test_audit_browser_for_leadership_and_admins_only(app, world, tmp_path):
    state = app.extensions["modsys"]
    log = tmp_path / "checkpoints.log"
    state.settings = replace(state.settings, audit_checkpoints=log)  # none written yet
    assert _client(app, "mod_a").get("/audit").status_code == 403
    client = _client(app, "leader")
    page = client.get("/audit").get_data(as_text=True)
    assert "no checkpoint recorded" in page and "never run yet" in page
    assert f'href="/actions/{world["action"].id}"' in page  # events link to their objects
    assert "other_mod" not in page  # another community's events stay there
    filtered = client.get(f"/audit?actor=mod_a&verb=action.&subject=action:{world['action'].id}").get_data(as_text=True)
    assert "action.filed" in filtered and "flag.reported" not in filtered
    assert client.get("/audit?subject=action:x").status_code == 400
    log.write_text(sign("k" * 32, 41, "e" * 64, datetime(2026, 11, 30, 3, 30, tzinfo=UTC)).line + "\n")
    page = _client(app, "root").get("/audit").get_data(as_text=True)
    assert "event #41" in page and "e" * 64 in page


def test_thumbnails_follow_the_file_rules(app, world):
    client = _client(app, "mod_b")
    image = world["image"]
    response = client.get(f"/evidence/{image.id}/thumbnail")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"].startswith("private")
    with Image.open(io.BytesIO(response.data)) as thumb:
        assert max(thumb.size) == 320
    page = client.get(f"/actions/{world['action'].id}").get_data(as_text=True)
    assert 'class="thumb sensitive"' in page and "click to show" in page
    assert client.get(f"/evidence/{world['their_image'].id}/thumbnail").status_code == 404
    assert app.test_client().get(f"/evidence/{image.id}/thumbnail").status_code == 302  # anonymous: login
    token = csrf_token(client, f"/actions/{world['action'].id}")
    client.post(f"/evidence/{image.id}/sensitive", data={"csrf_token": token, "sensitive": "0"})
    assert 'class="thumb sensitive"' not in client.get(f"/actions/{world['action'].id}").get_data(as_text=True)


def test_flag_page_lists_reporters_by_name_with_their_first_reason(app, world, session, community):
    get_or_create_member(session, community.id, "345678901234567890", "Riley Reporter")  # a reporter known here
    session.commit()
    f = flag(session, community.id, "444", reporters=(("5001", "harassment"), ("345678901234567890", "doxxing"),
                                                      ("5003", "")))
    page = _client(app, "mod_a").get(f"/flags/{f.id}").get_data(as_text=True)
    reporters = page[page.index('id="reporters"'):]
    assert reporters.index("5001") < reporters.index("Riley Reporter") < reporters.index("5003")
    assert "harassment" in reporters and "doxxing" in reporters
    assert "345678901234567890" not in reporters and "API key “chatbot”" in reporters
    assert not re.search(r"(api|member|staff)\d+", reporters)  # never the internal actor key


def test_two_factor_login_step(app, world, session, clock):
    client = _client(app, "leader")
    start = client.post("/account/two-factor/start", data={"csrf_token": csrf_token(client, "/account/two-factor")})
    enrol = start.get_data(as_text=True)
    assert start.headers["Cache-Control"] == "no-store" and 'id="totp-secret"' in enrol
    assert '<svg width=' in enrol and "<script" not in enrol.split("<main>")[1]  # the QR code, inline
    leader = session.exec(select(StaffUser).where(StaffUser.username == "leader")).one()
    done = client.post("/account/two-factor/confirm", data={"csrf_token": csrf_token(client, "/account/two-factor"),
                                                            "code": current_code(session, leader.id)})
    assert done.status_code == 200 and done.get_data(as_text=True).count("<li><code>") == 10
    clock.advance(seconds=30)
    fresh_client = app.test_client()
    step = login(fresh_client, "leader")
    assert step.status_code == 302 and step.location.endswith("/login/code")
    assert fresh_client.get("/").status_code == 302  # not signed in yet
    token = csrf_token(fresh_client, "/login/code")
    assert fresh_client.post("/login/code", data={"csrf_token": token,
                                                  "code": wrong_code(session, leader.id)}).status_code == 401
    ok = fresh_client.post("/login/code", data={"csrf_token": token, "code": current_code(session, leader.id)})
    assert ok.status_code == 302 and fresh_client.get("/leadership").status_code == 200
    late = app.test_client()
    login(late, "leader")
    token = csrf_token(late, "/login/code")
    clock.advance(minutes=6)  # the password step has lapsed: start again
    expired = late.post("/login/code", data={"csrf_token": token, "code": current_code(session, leader.id)})
    assert expired.status_code == 302 and expired.location.endswith("/login") and late.get("/").status_code == 302


def test_policy_can_require_two_factor(engine, web_settings, world, session, clock, tmp_path):
    from web import create_app

    strict = tmp_path / "strict.yaml"
    strict.write_text(Path(web_settings.policy_path).read_text().replace(
        "require_two_factor: []", "require_two_factor: [admin, leadership]"))
    ensure_community(session, strict)  # the community now reads this policy file
    app = create_app(replace(web_settings, policy_path=strict), engine=engine, TESTING=True, RATELIMIT_ENABLED=False)
    leader = _client(app, "leader")
    blocked = leader.get("/leadership")
    assert blocked.status_code == 302 and blocked.location.endswith("/account/two-factor")
    assert "requires two-factor for leaderships" in leader.get("/account/two-factor").get_data(as_text=True)
    assert _client(app, "mod_a").get("/").status_code == 200  # moderators: optional


def test_the_code_step_shares_the_login_rate_limit(engine, web_settings, world, session, clock):
    from web import create_app

    user = session.exec(select(StaffUser).where(StaffUser.username == "leader")).one()
    two_factor.start_enrolment(session, Actor.staff(user))
    two_factor.confirm_enrolment(session, Actor.staff(user), current_code(session, user.id))
    client = create_app(web_settings, engine=engine, TESTING=True).test_client()
    codes = [login(client, "leader").status_code for _ in range(5)]  # five right passwords
    token = csrf_token(client, "/login/code")
    wrong = wrong_code(session, user.id)
    codes += [client.post("/login/code", data={"csrf_token": token, "code": wrong}).status_code for _ in range(6)]
    assert codes[:5] == [302] * 5 and codes[5:10] == [401] * 5 and codes[10] == 429
