"""The member portal on a phone: real Chromium at 390 CSS px wide (an iPhone 12
to 15 held upright), on SQLite and PostgreSQL. Every portal page a member
reaches fits without horizontal scrolling, with the content that stretches
pages in practice: long words and unbroken links in reasons, evidence and the
thread, an image, the appeal form, and a broken link's problem page.
Screenshots go to test-artifacts/portal-phone/<backend>/."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlmodel import select

from modsys.community import default_community
from modsys.domain.actors import Actor
from modsys.domain.models import StaffUser
from modsys.infra.db import new_session
from modsys.infra.portal_links import make_token
from modsys.services.appeals import add_message
from modsys.services.evidence import EvidenceInput
from modsys.services.members import get_or_create_member
from tests.e2e.test_browser import CHROMIUM_ARGS, Shots, browser, server  # noqa: F401  (fixtures)
from tests.factories import appeal, ban

WIDTH = 390
LINK = "https://discord.com/channels/880000000000000001/880000000000000002/1300000000000000000?context=" + "x" * 80
WORD = "Supercalifragilisticexpialidocious" * 3  # one "word" wider than the screen


def _image() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1600, 900), (40, 90, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def links(engine, server, web_settings):  # noqa: F811  (the server fixture made the staff)
    with new_session(engine) as s:
        community = default_community(s)
        mod_a = Actor.staff(s.exec(select(StaffUser).where(StaffUser.username == "mod_a")).one())
        mod_b = Actor.staff(s.exec(select(StaffUser).where(StaffUser.username == "mod_b")).one())
        member = get_or_create_member(s, community.id, "456789012345678901", "Quentin " + WORD[:60])
        s.commit()
        action = ban(s, mod_a, member, public_reason=f"Posted {LINK} again and again: {WORD}.", evidence=[
            EvidenceInput("text", "public", f"Message 1300000000000000000 in #general:\n{WORD} {LINK}"),
            EvidenceInput("link", "public", LINK),
            EvidenceInput("file", "public", data=_image(), filename=f"{WORD}.png")])
        ap = appeal(s, member, action, f"I only shared {LINK} once, and {WORD} is a quote from a film, honestly.")
        add_message(s, mod_b, ap.id, f"Could you tell us where {LINK} came from? {WORD}")
        token = make_token(web_settings.secret_key, action.id, member.id, action.appeal_deadline)
        # A second case the member can still appeal: the page with the appeal form.
        open_case = ban(s, mod_a, member, public_reason=f"Spam: {WORD}", days=1)
        open_token = make_token(web_settings.secret_key, open_case.id, member.id, open_case.appeal_deadline)
    return {"case": f"/appeal/{token}", "thread": f"/appeal/{token}/appeals/{ap.id}",
            "form": f"/appeal/{open_token}", "problem": "/appeal/not-a-valid-link"}


@pytest.mark.browser
def test_every_portal_page_fits_a_390px_phone(browser, server, links, backend):  # noqa: F811
    shot = Shots(backend, "portal-phone")
    context = browser.new_context(base_url=server, viewport={"width": WIDTH, "height": 844}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    too_wide = {}
    for name, path in links.items():
        page.goto(path)
        page.wait_for_load_state("load")
        shot(page, name)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > WIDTH:
            too_wide[name] = (width, page.evaluate(_WIDEST))
    context.close()
    assert too_wide == {}, f"pages wider than {WIDTH} px (page: scrollWidth, widest elements): {too_wide}"


# The elements that stick out, to say what to fix when this fails.
_WIDEST = f"""() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > {WIDTH} + 0.5)
  .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '')
                      + ' ' + Math.round(e.getBoundingClientRect().right))"""
