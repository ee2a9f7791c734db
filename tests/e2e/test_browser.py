"""The whole appeal journey in real Chromium (Playwright), against a real HTTP
server, on SQLite and PostgreSQL.

Moderator A bans a member with public and private evidence; the member opens
the appeal link, sees only the public evidence and appeals; A is refused as
reviewer; moderator B escalates; leadership overturns with reasons and an
official statement; the member reads the decision; the case file shows the ban
lifted. A screenshot of every step goes to test-artifacts/browser/<backend>/.

Chromium missing is a failure, never a skip: install Debian's (`apt-get install
chromium`); `playwright install` is not used.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest
from sqlmodel import select

from modsys.community import ensure_community
from modsys.domain.actors import CLI
from modsys.domain.models import Action, Appeal, AppealStatus, Evidence
from modsys.infra.config import REPO_ROOT
from modsys.infra.db import new_session
from modsys.services.staff import create_staff
from tests.conftest import PASSWORD
from tests.support.live import served

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PUBLIC_EVIDENCE = "Screenshot transcript: 'you are an idiot' (public, the member may read it)"
PRIVATE_EVIDENCE = "Reported by member 5150, who asked not to be named. STAFF-ONLY-7731"
PRIVATE_NOTE = "Second report this month. PRIVATE-NOTE-4410"
PRIVATE_FILE = "staff-only-report.png"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
APPEAL_TEXT = "I was quoting the message someone sent me, to report it. Please read the whole conversation."
DECISION_REASONS = "The message was a quote the member reported to staff, not an insult by the member."


@pytest.fixture
def server(engine, web_settings) -> Iterator[str]:
    """The app on 127.0.0.1:<free port>, served by werkzeug in a background thread."""
    from web import create_app

    app = create_app(web_settings, engine=engine, RATELIMIT_ENABLED=True)
    with new_session(engine) as s:
        community = ensure_community(s, web_settings.policy_path)
        for name, role in (("mod_a", "moderator"), ("mod_b", "moderator"), ("leader", "leadership")):
            create_staff(s, CLI, community.id, name, role, PASSWORD)
    with served(app) as url:
        yield url


@pytest.fixture
def browser():
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install -y chromium`"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Shots:
    def __init__(self, backend: str, journey: str = "browser"):
        self.dir = REPO_ROOT / "test-artifacts" / journey / backend
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.n = 0

    def __call__(self, page, step: str) -> None:
        self.n += 1
        page.screenshot(path=str(self.dir / f"{self.n:02d}-{step}.png"), full_page=True)


def person(browser, base: str, username: str | None = None, errors: list | None = None):
    """A fresh browser context (own cookies); logged in when a username is given."""
    context = browser.new_context(base_url=base, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("dialog", lambda d: d.accept())  # data-confirm prompts
    if errors is not None:  # CSP violations and script errors show up here
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
    if username:
        page.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login" not in url)
    return page


def expect_text(page, text: str) -> None:
    page.get_by_text(text, exact=False).first.wait_for()


@pytest.mark.browser
def test_the_whole_appeal_journey(browser, server, backend, engine):
    shot = Shots(backend)

    # 1. Moderator A files a 7-day ban through "File action", with public and private evidence.
    mod_a = person(browser, server, "mod_a")
    mod_a.goto("/actions/new")
    mod_a.fill("input[name=platform_user_id]", "345678901234567890")
    mod_a.fill("input[name=display_name]", "Rowan")
    mod_a.select_option("select[name=rule]", ["respectful"])  # prefills from the ladder; then override
    mod_a.select_option("select[name=kind]", "ban")
    mod_a.fill("input[name=duration]", "7d")
    mod_a.fill("textarea[name=public_reason]", "Insulting another member in #general.")
    mod_a.fill("textarea[name=facts]", "On the evening of the report you called another member an idiot.")
    mod_a.fill("textarea[name=private_note]", PRIVATE_NOTE)
    mod_a.select_option("select[name=ev_kind_0]", "text")
    mod_a.select_option("select[name=ev_vis_0]", "public")
    mod_a.fill("input[name=ev_content_0]", PUBLIC_EVIDENCE)
    mod_a.select_option("select[name=ev_kind_1]", "text")
    mod_a.select_option("select[name=ev_vis_1]", "private")
    mod_a.fill("input[name=ev_content_1]", PRIVATE_EVIDENCE)
    mod_a.set_input_files("input[name=ev_file_0]", {"name": PRIVATE_FILE, "mimeType": "image/png", "buffer": PNG})
    mod_a.select_option("select[name=ev_file_vis_0]", "private")
    shot(mod_a, "mod-a-files-ban")
    mod_a.get_by_role("button", name="File action").click()
    mod_a.wait_for_url(re.compile(r"/actions/\d+$"))
    action_id = int(mod_a.url.rsplit("/", 1)[1])
    expect_text(mod_a, f"Case #{action_id} filed")
    link = mod_a.input_value("#appeal-link")
    assert "/appeal/" in link and link.startswith(server)
    with new_session(engine) as s:
        action = s.get(Action, action_id)
        assert action.kind == "ban" and action.status == "active"
        visibilities = sorted(e.visibility for e in s.exec(select(Evidence).where(Evidence.action_id == action_id)))
        assert visibilities == ["private", "private", "public"]
        member_id = action.member_id
    shot(mod_a, "action-page-with-appeal-link")

    # 2. The member opens the link: statement of reasons and public evidence only.
    portal_errors: list[str] = []
    member = person(browser, server, errors=portal_errors)
    member.goto(link)
    expect_text(member, "Why you were sanctioned")
    expect_text(member, "1 week ban")
    expect_text(member, PUBLIC_EVIDENCE)
    html = member.content()
    for secret in (PRIVATE_EVIDENCE, "STAFF-ONLY-7731", PRIVATE_NOTE, "PRIVATE-NOTE-4410", PRIVATE_FILE):
        assert secret not in html, f"the member saw private content: {secret!r}"
    shot(member, "member-reads-reasons-and-public-evidence")
    member.fill("textarea[name=statement]", APPEAL_TEXT)
    member.get_by_role("button", name="Send my appeal").click()
    member.wait_for_url(re.compile(r"/appeals/\d+$"))
    appeal_id = int(member.url.rsplit("/", 1)[1])
    expect_text(member, "was received")
    expect_text(member, "Target for a decision")
    shot(member, "member-appeal-received")

    # 3. Moderator A filed the case: the page says why they can't review, and the server refuses.
    mod_a.goto(f"/appeals/{appeal_id}")
    assert "can't review or decide this appeal" in mod_a.inner_text("#conflict")
    assert mod_a.locator("#start-review").count() == 0
    shot(mod_a, "mod-a-sees-conflict")
    # Sending the review form anyway (as a crafted request would) gets a reasoned refusal.
    mod_a.evaluate("""(url) => {
        const form = document.createElement('form');
        form.method = 'post'; form.action = url;
        const csrf = document.querySelector('input[name=csrf_token]').cloneNode();
        form.appendChild(csrf); document.body.appendChild(form); form.submit();
    }""", f"/appeals/{appeal_id}/review")
    mod_a.wait_for_load_state()
    expect_text(mod_a, f"you filed case #{action_id}, so you can't review or decide its appeal")
    shot(mod_a, "mod-a-refused-as-reviewer")
    with new_session(engine) as s:
        assert s.get(Appeal, appeal_id).status == AppealStatus.submitted

    # 4. Moderator B escalates to leadership.
    mod_b = person(browser, server, "mod_b")
    mod_b.goto(f"/appeals/{appeal_id}")
    assert mod_b.locator("#conflict").count() == 0
    mod_b.fill("#escalate input[name=reason]", "Context suggests a quote; leadership should make the call.")
    mod_b.fill("#escalate textarea[name=recommendation]", "Overturn: the member was reporting the insult.")
    mod_b.get_by_role("button", name="Escalate").click()
    expect_text(mod_b, "Escalated to leadership")
    shot(mod_b, "mod-b-escalated")

    # 5. Leadership overturns on the desk, with reasons and an official statement.
    leader = person(browser, server, "leader")
    leader.goto("/leadership")
    leader.get_by_role("link", name=f"#{appeal_id}", exact=True).click()
    leader.wait_for_url(re.compile(rf"/leadership/appeals/{appeal_id}$"))
    shot(leader, "leadership-desk-appeal")
    leader.check("#final-decision input[name=outcome][value=overturned]")
    leader.fill("#final-decision textarea[name=reasons]", DECISION_REASONS)
    leader.fill("input[name=statement_title]", "Quoting to report is not an insult")
    leader.fill("textarea[name=statement_body]", "Members who quote abuse to report it are not breaking the rules.")
    leader.get_by_role("button", name="Record final decision").click()
    expect_text(leader, "Final decision recorded")
    shot(leader, "leadership-overturned")

    # 6. The member reads the decision, its reasons and what further redress exists.
    member.reload()
    expect_text(member, "Decision: the sanction is lifted")
    expect_text(member, DECISION_REASONS)
    expect_text(member, "by leadership")
    expect_text(member, "out-of-court dispute settlement body")
    expect_text(member, "Quoting to report is not an insult")
    assert member.locator("textarea[name=body]").count() == 0  # the thread is closed
    assert PRIVATE_EVIDENCE not in member.content() and "Overturn: the member" not in member.content()
    shot(member, "member-reads-decision")
    member.goto(link)
    expect_text(member, "lifted on appeal")
    member.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing wider than the screen
    assert member.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(member, "member-case-on-a-phone")
    assert portal_errors == [], f"script or CSP errors on the member's pages: {portal_errors}"

    # 7. The case file shows the ban lifted.
    mod_b.goto(f"/members/{member_id}")
    row = mod_b.locator(f"tr[data-action-id='{action_id}']")
    assert "overturned" in row.inner_text()
    shot(mod_b, "case-file-ban-lifted")
    with new_session(engine) as s:
        assert s.get(Action, action_id).status == "overturned"
        assert s.get(Appeal, appeal_id).outcome == "overturned"
