"""/transparency in real Chromium: charts render under the real CSP with no error,
the tables carry the numbers, and the public log when the policy publishes it.
Screenshots: test-artifacts/browser/<backend>/transparency*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from modsys.community import ensure_community
from modsys.infra.config import DEFAULT_POLICY, REPO_ROOT
from tests.e2e.test_browser import browser, person  # noqa: F401  (fixtures)
from tests.support.live import served
from tests.support.transparency import build_history


@pytest.fixture
def public_server(engine, web_settings) -> Iterator[str]:
    from web import create_app

    with served(create_app(web_settings, engine=engine)) as url:
        yield url


@pytest.mark.browser
def test_transparency_in_chromium(browser, public_server, backend, engine, session, community,  # noqa: F811
                                  mod_a, mod_b, leader, make_member, clock, tmp_path: Path):
    build_history(session, engine, community, mod_a, mod_b, leader, make_member, clock)
    policy = tmp_path / "published.yaml"
    policy.write_text(DEFAULT_POLICY.read_text().replace('public_log: "off"', "public_log: anonymised"))
    ensure_community(session, policy, slug="default")
    shots = REPO_ROOT / "test-artifacts" / "browser" / backend
    shots.mkdir(parents=True, exist_ok=True)

    errors: list[str] = []
    page = person(browser, public_server, errors=errors)
    page.goto("/transparency")
    assert page.locator("figure.chart > svg").count() == 7
    # The bars are drawn (a CSP-blocked style would leave them unfilled: black).
    bar = page.locator("rect.bar.s0").first
    assert bar.evaluate("e => getComputedStyle(e).fill") == "rgb(52, 81, 178)"
    cell = page.locator('td[data-cell="median_hours_to_final_decision||2026-01"]')
    assert cell.inner_text() == "721.0"
    page.screenshot(path=str(shots / "transparency.png"), full_page=True)
    page.get_by_role("link", name="public moderation log").click()
    page.get_by_text("overturned on appeal").first.wait_for()
    page.screenshot(path=str(shots / "transparency-log.png"), full_page=True)
    # No CSP refusal (Chromium reports each as a console error starting "Refused to ...").
    # The only other error seen is Chromium's own favicon request answering 404.
    assert [e for e in errors if "Refused" in e or "Content Security Policy" in e] == []
