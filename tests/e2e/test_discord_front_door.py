"""The Discord front door end to end: `modsys discord register-commands` as a
real process against a fake Discord, and, in real Chromium, a sanctioned member
who lost their link signing in with Discord, finding the case and appealing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Iterator

import pytest
from sqlmodel import select

from modsys.community import default_community
from modsys.domain.actors import CLI, Actor
from modsys.domain.models import Appeal, StaffUser
from modsys.infra.db import new_session
from modsys.services.actions import NewAction, file_action
from modsys.services.members import get_or_create_member
from modsys.services.staff import create_staff
from tests.conftest import PASSWORD
from tests.e2e.test_browser import browser, expect_text, person  # noqa: F401  (the Chromium fixture)
from tests.support.cli import modsys
from tests.support.discord_oauth import FakeDiscordOAuth
from tests.support.live import served

ROWAN_ID = "345678901234567890"
APPEAL_TEXT = "I lost the link from the DM. I was quoting someone else's message to report it, not insulting anyone."


@pytest.fixture
def provider() -> Iterator[FakeDiscordOAuth]:
    with FakeDiscordOAuth() as fake:
        yield fake


def test_register_commands_bulk_overwrites_the_guilds_commands(db_url, session, community, provider, monkeypatch):
    monkeypatch.setenv("MODSYS_DISCORD_API_URL", provider.api_url)
    monkeypatch.setenv("MODSYS_DISCORD_APPLICATION_ID", "424242")
    monkeypatch.setenv("MODSYS_DISCORD_CLIENT_ID", provider.client_id)
    monkeypatch.setenv("MODSYS_DISCORD_CLIENT_SECRET", provider.client_secret)
    missing = modsys(db_url, "discord", "register-commands")
    assert missing.returncode == 1 and "has no Discord guild id" in missing.stderr
    # The default community's guild from MODSYS_DISCORD_GUILD_ID, as enforcement and interactions read it.
    monkeypatch.setenv("MODSYS_DISCORD_GUILD_ID", "880000000000000007")
    from_env = modsys(db_url, "discord", "register-commands")
    assert from_env.returncode == 0 and "registered 12 commands in guild 880000000000000007" in from_env.stdout
    monkeypatch.delenv("MODSYS_DISCORD_GUILD_ID")
    community.discord_guild_id = "880000000000000001"
    session.add(community)
    session.commit()
    done = modsys(db_url, "discord", "register-commands", "--community", "default")
    assert done.returncode == 0, done.stderr
    assert "registered 12 commands in guild 880000000000000001" in done.stdout
    assert re.search(r"Report to moderators\s+message menu\s+everyone", done.stdout)
    assert re.search(r"/ban\s+slash\s+staff", done.stdout)
    assert re.search(r"/kick\s+slash\s+staff", done.stdout)  # every kind the registry enforces
    for quick in ("note", "unban", "untimeout", "reason"):
        assert re.search(rf"/{quick}\s+slash\s+staff", done.stdout), quick
    put = provider.registered[-1]
    assert put["path"] == "/api/v10/applications/424242/guilds/880000000000000001/commands"
    assert [c["name"] for c in put["body"]][:2] == ["Report to moderators", "warn"]
    assert provider.client_secret not in done.stdout + done.stderr
    monkeypatch.setenv("MODSYS_DISCORD_CLIENT_SECRET", "wrong")
    refused = modsys(db_url, "discord", "register-commands")
    assert refused.returncode == 1 and "refused the client credentials (HTTP 401)" in refused.stderr


@pytest.fixture
def server(engine, web_settings, provider, community) -> Iterator[str]:  # the app serves an existing community
    from web import create_app

    app = create_app(web_settings, engine=engine, RATELIMIT_ENABLED=True)
    with served(app, discord_client_id=provider.client_id, discord_client_secret=provider.client_secret,
                discord_oauth_url=provider.authorize_url, discord_api_url=provider.api_url) as url:
        yield url


@pytest.mark.browser
def test_a_member_who_lost_the_link_signs_in_with_discord_and_appeals(browser, server, provider, engine):  # noqa: F811
    with new_session(engine) as s:
        community = default_community(s)
        mod = create_staff(s, CLI, community.id, "mod_a", "moderator", PASSWORD)
        rowan = get_or_create_member(s, community.id, ROWAN_ID, "Rowan")
        s.commit()
        action = file_action(s, Actor.staff(mod), NewAction(
            member_id=rowan.id, kind="ban", rules=["respectful"], duration=timedelta(days=7),
            public_reason="Insulting another member in #general."))
        action_id = action.id
    provider.sign_in_as(ROWAN_ID, "Rowan")

    member = person(browser, server)
    member.goto("/login")
    member.wait_for_load_state("networkidle")  # the first page's favicon 404 is not ours to judge
    errors: list[str] = []  # script and CSP errors from here on
    member.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    member.on("pageerror", lambda e: errors.append(str(e)))
    member.get_by_role("link", name="sign in with Discord").click()  # through the fake Discord and back
    member.wait_for_url(re.compile(r"/my-cases$"))
    expect_text(member, "Signed in with Discord as Rowan")
    member.get_by_role("link", name=re.compile(rf"Case #{action_id}: 1 week ban")).click()
    member.wait_for_url(re.compile(r"/appeal/"))
    expect_text(member, "Why you were sanctioned")
    member.fill("textarea[name=statement]", APPEAL_TEXT)
    member.get_by_role("button", name="Send my appeal").click()
    member.wait_for_url(re.compile(r"/appeals/\d+$"))
    expect_text(member, "was received")
    member.goto("/my-cases")
    expect_text(member, "submitted")
    assert errors == []
    with new_session(engine) as s:
        appeal = s.exec(select(Appeal)).one()
        assert appeal.action_id == action_id and appeal.statement == APPEAL_TEXT


@pytest.mark.browser
def test_a_moderator_links_their_discord_account_from_their_profile(browser, server, provider, engine):  # noqa: F811
    with new_session(engine) as s:
        mod_id = create_staff(s, CLI, default_community(s).id, "mod_a", "moderator", PASSWORD).id
    provider.sign_in_as("333333333333333333", "ModA")
    mod = person(browser, server, "mod_a")
    mod.get_by_role("link", name="Discord").click()
    expect_text(mod, "Not linked.")
    mod.get_by_role("button", name="Link my Discord account").click()  # POST, then off to (fake) Discord and back
    mod.wait_for_url(re.compile(r"/discord/account$"))
    expect_text(mod, "Linked to Discord user 333333333333333333")
    with new_session(engine) as s:
        assert s.get(StaffUser, mod_id).discord_user_id == "333333333333333333"
