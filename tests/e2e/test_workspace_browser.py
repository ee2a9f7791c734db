"""The workspace in real Chromium, on SQLite and PostgreSQL: a moderator finds
a case from the header's search box and unblurs a sensitive image; two
moderators in two browser contexts meet over a claimed flag (the second is
warned before the form); leadership filters the audit log. Screenshots of
every new page go to test-artifacts/workspace/<backend>/."""

from __future__ import annotations

import base64
import io
import re
from datetime import UTC, datetime

import pytest
from PIL import Image
from sqlmodel import select

from modsys.community import default_community
from modsys.domain.actors import Actor
from modsys.domain.models import StaffUser, WorkClaim
from modsys.infra import totp
from modsys.infra.db import new_session
from modsys.services.evidence import EvidenceInput
from modsys.services.members import get_or_create_member
from tests.conftest import PASSWORD
from tests.e2e.test_browser import Shots, browser, expect_text, person, server  # noqa: F401  (fixtures)
from tests.factories import appeal, ban
from tests.support.workspace import flag

REASON = "Doxxed another member by posting their home address in #general."


def _image() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 500), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def world(engine, server):  # noqa: F811  (the server fixture made the staff)
    with new_session(engine) as s:
        community = default_community(s)
        mod_a = Actor.staff(s.exec(select(StaffUser).where(StaffUser.username == "mod_a")).one())
        member = get_or_create_member(s, community.id, "456789012345678901", "Quentin Quarrel")
        s.commit()
        action = ban(s, mod_a, member, public_reason=REASON, evidence=[
            EvidenceInput("file", "private", data=_image(), filename="address.png", sensitive=True)])
        ap = appeal(s, member, action, "It was a public listing, not a private address; please look again.")
        f = flag(s, community.id, "9001", "here is where she lives: ...",
                 reporters=(("5001", "doxxing"), ("5002", "personal info"), ("5003", "doxxing")))
        return {"action": action.id, "appeal": ap.id, "flag": f.id, "member": member.id}


def watch(page, errors: list[str]):
    """Record script errors, CSP violations and failed loads (the browser's own
    favicon probe aside: modsys has no icon)."""
    def console(message) -> None:
        url = message.location.get("url", "")
        if message.type == "error" and not url.endswith("/favicon.ico"):
            errors.append(f"{message.text} ({url})")

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


@pytest.mark.browser
def test_search_claims_and_audit_in_chromium(browser, server, backend, engine, world):  # noqa: F811
    shot = Shots(backend, "workspace")
    errors: list[str] = []

    # 1. Search from the header, open the case, unblur the sensitive image.
    mod_a = watch(person(browser, server, "mod_a"), errors)
    mod_a.fill("header input[name=q]", "doxxed")
    mod_a.press("header input[name=q]", "Enter")
    mod_a.wait_for_url(re.compile(r"/search\?q=doxxed"))
    expect_text(mod_a, f"Case #{world['action']}")
    shot(mod_a, "search-results")
    mod_a.get_by_role("link", name=f"Case #{world['action']}", exact=True).click()
    mod_a.wait_for_url(re.compile(rf"/actions/{world['action']}$"))
    image = mod_a.locator("label.thumb.sensitive img")
    image.wait_for()
    mod_a.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=image.element_handle())
    assert "blur" in image.evaluate("img => getComputedStyle(img).filter")
    shot(mod_a, "case-sensitive-image-blurred")
    mod_a.locator("label.thumb.sensitive").click()
    assert image.evaluate("img => getComputedStyle(img).filter") == "none"
    shot(mod_a, "case-sensitive-image-shown")
    mod_a.fill("header input[name=q]", "456789012345678901")
    mod_a.press("header input[name=q]", "Enter")
    mod_a.get_by_role("link", name="Quentin Quarrel").click()
    expect_text(mod_a, "Case file: Quentin Quarrel")
    shot(mod_a, "member-page-from-search")

    # 2. Moderator A claims the flag; moderator B, in another browser context, is warned before the form.
    mod_a.goto(f"/flags/{world['flag']}")
    expect_text(mod_a, "personal info")  # the reporters, with their reasons
    mod_a.get_by_role("button", name="Claim this flag").click()
    expect_text(mod_a, f"You hold flag #{world['flag']}")
    shot(mod_a, "flag-claimed-with-reporters")
    mod_b = watch(person(browser, server, "mod_b"), errors)
    mod_b.goto("/flags")
    assert "held by mod_a" in mod_b.inner_text(f"tr[data-flag-id='{world['flag']}']")
    shot(mod_b, "flag-queue-shows-holder")
    mod_b.goto(f"/flags/{world['flag']}")
    expect_text(mod_b, "mod_a holds this flag and may be filing on it")
    assert mod_b.get_by_role("button", name="Claim this flag").count() == 0
    shot(mod_b, "flag-held-by-someone-else")
    mod_b.get_by_role("link", name="File anyway (held by mod_a)").click()
    mod_b.wait_for_url(re.compile(r"/actions/new\?flag="))
    assert "held by mod_a" in mod_b.inner_text(".claim-warning")
    shot(mod_b, "form-warns-before-filing")
    mod_a.goto("/queue")
    expect_text(mod_a, f"Flag #{world['flag']}")
    shot(mod_a, "my-queue")
    with new_session(engine) as s:
        held = s.exec(select(WorkClaim)).one()
        assert (held.subject_type, held.subject_id) == ("flag", world["flag"])

    # 3. The lists.
    mod_b.goto("/cases")
    mod_b.select_option("select[name=kind]", "ban")
    mod_b.get_by_role("button", name="Filter").click()
    mod_b.wait_for_url(re.compile(r"kind=ban"))
    assert mod_b.locator(f"tr[data-action-id='{world['action']}']").count() == 1
    shot(mod_b, "case-list-filtered")
    mod_b.goto("/appeals?status=submitted")
    assert mod_b.locator(f"tr[data-appeal-id='{world['appeal']}']").count() == 1
    shot(mod_b, "appeal-list")

    # 4. Leadership filters the audit log and follows an event to its object.
    leader = watch(person(browser, server, "leader"), errors)
    leader.goto("/audit")
    expect_text(leader, "no checkpoint recorded")
    leader.fill("#audit-filters input[name=actor]", "mod_a")
    leader.fill("#audit-filters input[name=verb]", "claim.")
    leader.get_by_role("button", name="Filter").click()
    leader.wait_for_url(re.compile(r"verb=claim"))
    rows = leader.locator("table.audit-events tr[data-seq]")
    assert rows.count() == 1 and "claim.taken" in rows.first.inner_text()
    shot(leader, "audit-log-filtered")
    rows.first.get_by_role("link", name=f"flag #{world['flag']}").click()
    leader.wait_for_url(re.compile(rf"/flags/{world['flag']}$"))
    expect_text(leader, "held by mod_a")

    # 5. Leadership turns two-factor on (QR code and secret shown once), then signs in with a code.
    leader.goto("/account/two-factor")
    leader.get_by_role("button", name="Set up two-factor").click()
    secret = leader.inner_text("#totp-secret")
    assert leader.locator(".qr svg").count() == 1
    shot(leader, "two-factor-enrolment")
    key = base64.b32decode(secret)
    leader.fill("input[name=code]", totp.hotp(key, totp.step_at(datetime.now(UTC))))
    leader.get_by_role("button", name="Turn two-factor on").click()
    assert leader.locator("ul.recovery-codes li").count() == 10
    shot(leader, "two-factor-recovery-codes")
    again = watch(browser.new_context(base_url=server).new_page(), errors)
    again.goto("/login")
    again.fill("input[name=username]", "leader")
    again.fill("input[name=password]", PASSWORD)
    again.get_by_role("button", name="Log in").click()
    again.wait_for_url(re.compile(r"/login/code$"))
    shot(again, "login-code-step")
    again.fill("input[name=code]", totp.hotp(key, totp.step_at(datetime.now(UTC)) + 1))  # the next step: unused
    again.get_by_role("button", name="Continue").click()
    again.wait_for_url(re.compile(r"/$"))
    expect_text(again, "leader (leadership)")
    assert errors == [], f"script or CSP errors on the workspace pages: {errors}"
