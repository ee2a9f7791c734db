"""Every request to Discord says who it is: "User-Agent: DiscordBot ($url,
$versionNumber)" (discord-api-docs, developers/reference.mdx, "User Agent").
The bot's REST client and webhook posts are checked in their own tests; here
the OAuth2 sign-in and the command registration, which used bare `requests`."""

from __future__ import annotations

import requests

from modsys import __version__
from modsys.adapters.discord import commands, oauth
from modsys.domain.policy import load_policy
from modsys.infra.config import DEFAULT_POLICY, load_settings
from tests.support.discord_oauth import FakeDiscordOAuth
from tests.support.discord_server import Capture

AGENT = f"DiscordBot (https://github.com/modsys/modsys, {__version__})"


def test_oauth_and_command_registration_send_the_user_agent(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    capture = Capture()
    with FakeDiscordOAuth(capture=capture) as fake:
        settings = load_settings({"MODSYS_DISCORD_API_URL": fake.api_url, "MODSYS_DISCORD_OAUTH_URL": fake.authorize_url,
                                  "MODSYS_DISCORD_CLIENT_ID": fake.client_id,
                                  "MODSYS_DISCORD_CLIENT_SECRET": fake.client_secret,
                                  "MODSYS_DISCORD_APPLICATION_ID": "424242"})
        start = oauth.start(settings, "https://modsys.example/login/discord/callback")
        back = requests.get(start.url, allow_redirects=False, timeout=5)  # the browser's part, not modsys's
        code = back.headers["Location"].split("code=")[1].split("&")[0]
        assert oauth.identify(settings, code, start.verifier, "https://modsys.example/login/discord/callback").id
        commands.register(settings, "500000000000000001", commands.definitions(load_policy(DEFAULT_POLICY)))
    ours = [e for e in capture.exchanges if e.path != "/oauth2/authorize"]
    assert [(e.method, e.path.rsplit("/", 1)[-1]) for e in ours] == [
        ("POST", "token"), ("GET", "@me"), ("POST", "token"), ("PUT", "commands")]
    assert {e.headers.get("User-Agent") for e in ours} == {AGENT}
