"""Sign in with Discord against a fake OAuth2 provider over real HTTP: members
see their own cases (and only those) and reach the same portal page as the
signed link; staff link their Discord account; state is bound to the session."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlmodel import select

from modsys.domain.models import AuditEvent, StaffUser
from modsys.services.actions import NewAction, file_action
from tests.conftest import csrf_token, fresh, login
from tests.support.discord_oauth import FakeDiscordOAuth

ROWAN_ID = "345678901234567890"
BASE = "http://modsys.test"


@pytest.fixture
def provider():
    with FakeDiscordOAuth() as fake:
        yield fake


@pytest.fixture
def client(app, provider):
    state = app.extensions["modsys"]
    state.settings = dataclasses.replace(
        state.settings, base_url=BASE, discord_client_id=provider.client_id,
        discord_client_secret=provider.client_secret, discord_oauth_url=provider.authorize_url,
        discord_api_url=provider.api_url)
    return app.test_client()


def through_discord(client, start: str, **kw):
    """Follow the browser's path: modsys -> Discord's authorize page -> back to the callback."""
    first = client.get(start, **kw) if not kw.get("data") else client.post(start, **kw)
    assert first.status_code == 302, first.get_data(as_text=True)
    at_discord = requests.get(first.headers["Location"], allow_redirects=False, timeout=5)
    assert at_discord.status_code == 302, at_discord.text
    back = urlsplit(at_discord.headers["Location"])
    assert f"{back.scheme}://{back.netloc}" == BASE
    return client.get(f"{back.path}?{back.query}"), parse_qs(urlsplit(first.headers["Location"]).query)


@pytest.fixture
def cases(session, make_member, mod_a):
    rowan = make_member("Rowan")
    rowan.platform_user_id = ROWAN_ID
    session.add(rowan)
    session.commit()
    other = make_member("Sam")
    mine = file_action(session, mod_a, NewAction(member_id=rowan.id, kind="ban", rules=["respectful"],
                                                 public_reason="Insulting another member in #general.",
                                                 duration=timedelta(days=7)))
    theirs = file_action(session, mod_a, NewAction(member_id=other.id, kind="warning", rules=["spam"],
                                                   public_reason="SAMS-CASE: advertising in #general."))
    return mine, theirs


def test_a_member_signs_in_and_sees_only_their_own_cases(client, provider, cases):
    mine, theirs = cases
    provider.sign_in_as(ROWAN_ID, "Rowan")
    landed, asked = through_discord(client, "/login/discord")
    assert asked["scope"] == ["identify"] and asked["code_challenge_method"] == ["S256"]
    assert asked["redirect_uri"] == [f"{BASE}/login/discord/callback"]
    assert landed.status_code == 302 and landed.headers["Location"].endswith("/my-cases")
    page = client.get("/my-cases")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert f"Case #{mine.id}: 1 week ban" in html and "SAMS-CASE" not in html and f"Case #{theirs.id}" not in html
    link = html.split('href="/appeal/', 1)[1].split('"', 1)[0]
    portal = client.get(f"/appeal/{link}")
    assert portal.status_code == 200 and "Why you were sanctioned" in portal.get_data(as_text=True)
    # The token exchange used PKCE and the registered redirect, and no secret went in the form.
    token_form = provider.token_requests[-1]
    assert token_form["code_verifier"] and "client_secret" not in token_form


def test_someone_else_signing_in_sees_none_of_rowans_cases(client, provider, cases):
    provider.sign_in_as("555555555555555555", "Stranger")
    through_discord(client, "/login/discord")
    html = client.get("/my-cases").get_data(as_text=True)
    assert "You have no cases in this community." in html and "Case #" not in html


def test_a_callback_with_a_foreign_or_reused_state_is_refused(client, provider, cases, app):
    provider.sign_in_as(ROWAN_ID, "Rowan")
    first = client.get("/login/discord")
    at_discord = requests.get(first.headers["Location"], allow_redirects=False, timeout=5)
    back = urlsplit(at_discord.headers["Location"])
    attacker = app.test_client()  # a callback URL planted in another browser (login CSRF)
    refused = attacker.get(f"{back.path}?{back.query}")
    assert refused.status_code == 400 and "not started in this browser" in refused.get_data(as_text=True)
    assert attacker.get("/my-cases").status_code == 302  # not signed in
    assert client.get(f"{back.path}?{back.query}").status_code == 302  # the rightful browser completes it
    again = client.get(f"{back.path}?{back.query}")
    assert again.status_code == 400  # the state was used up
    cancelled = client.get("/login/discord/callback?error=access_denied&state=x")
    assert cancelled.status_code == 400 and "cancelled" in cancelled.get_data(as_text=True)


def test_my_cases_needs_a_sign_in_and_sign_in_needs_configuration(app, client):
    assert client.get("/my-cases").headers["Location"].endswith("/login/discord")
    assert app.test_client().get("/login/discord?community=nope").status_code == 404
    bare = app.extensions["modsys"]
    bare.settings = dataclasses.replace(bare.settings, discord_client_id=None)
    off = client.get("/login/discord")
    assert off.status_code == 404 and "MODSYS_DISCORD_CLIENT_ID" in off.get_data(as_text=True)


def test_staff_link_their_discord_account_and_may_sign_in_with_it_when_enabled(app, client, provider, session, mod_a):
    assert login(client, "mod_a").status_code == 302
    provider.sign_in_as("333333333333333333", "ModA")
    landed, _ = through_discord(client, "/discord/account/link", data={"csrf_token": csrf_token(client, "/discord/account")})
    assert landed.headers["Location"].endswith("/discord/account")
    assert "333333333333333333" in client.get("/discord/account").get_data(as_text=True)
    fresh(session)
    assert session.get(StaffUser, mod_a.id).discord_user_id == "333333333333333333"
    assert session.exec(select(AuditEvent).where(AuditEvent.verb == "staff.discord_linked")).one().actor_name == "mod_a"

    other = app.test_client()
    assert other.get("/login/discord/staff").status_code == 404  # off by default
    state = app.extensions["modsys"]
    state.settings = dataclasses.replace(state.settings, discord_staff_login=True)
    landed, _ = through_discord(other, "/login/discord/staff")
    assert landed.headers["Location"].endswith("/") and other.get("/flags").status_code == 200
    provider.sign_in_as("999999999999999999", "Nobody")
    refused, _ = through_discord(app.test_client(), "/login/discord/staff")
    assert refused.status_code == 403 and "No staff account is linked" in refused.get_data(as_text=True)


def test_linking_needs_csrf_and_a_discord_account_links_to_one_staff_account(client, provider, session, mod_a, mod_b, app):
    login(client, "mod_a")
    assert client.post("/discord/account/link").status_code == 400  # no CSRF token
    provider.sign_in_as("333333333333333333", "ModA")
    through_discord(client, "/discord/account/link", data={"csrf_token": csrf_token(client, "/discord/account")})
    b = app.test_client()
    login(b, "mod_b")
    clash, _ = through_discord(b, "/discord/account/link", data={"csrf_token": csrf_token(b, "/discord/account")})
    assert clash.status_code == 409 and "already linked" in clash.get_data(as_text=True)
    fresh(session)
    assert session.get(StaffUser, mod_b.id).discord_user_id is None
