"""/actions/new in real Chromium: "Preview statement of reasons" keeps the file
rows' visibility and says by name which chosen files must be chosen again (a
browser never refills a file input), so "File action" doesn't silently drop them."""

from __future__ import annotations

from sqlmodel import select

from modsys.domain.models import Evidence
from modsys.infra.db import new_session
from tests.e2e.test_browser import PNG, browser, person, server  # noqa: F401  (fixtures)


def test_preview_keeps_visibility_and_names_the_files_to_choose_again(browser, server, engine):  # noqa: F811
    page = person(browser, server, "mod_a")
    page.goto("/actions/new")
    page.fill("input[name=platform_user_id]", "123456789012345678")
    page.fill("input[name=display_name]", "Previewed Member")
    page.select_option("select[name=rule]", "respectful")
    page.select_option("select[name=kind]", "warning")
    page.fill("textarea[name=public_reason]", "Insulting another member in #general.")
    upload = {"name": "proof.png", "mimeType": "image/png", "buffer": PNG}
    page.set_input_files("input[name=ev_file_0]", upload)
    page.select_option("select[name=ev_file_vis_0]", "public")
    page.get_by_role("button", name="Preview statement of reasons").click()
    page.locator("#preview").wait_for()

    assert page.locator("select[name=ev_file_vis_0]").input_value() == "public"
    alert = page.locator("#choose-again-0")
    assert "proof.png" in alert.inner_text() and "again" in alert.inner_text()
    assert page.locator("#choose-again-1").count() == 0

    page.set_input_files("input[name=ev_file_0]", upload)
    page.get_by_role("button", name="File action").click()
    page.wait_for_url(lambda url: "/actions/new" not in url)
    with new_session(engine) as s:
        files = s.exec(select(Evidence).where(Evidence.filename == "proof.png")).all()
    assert [(f.visibility, f.blob) for f in files] == [("public", PNG)]
