"""Sign in with Discord: the OAuth2 authorization-code grant with `state` and PKCE.

From discord-api-docs, developers/topics/oauth2.mdx: the authorize URL takes
response_type=code, client_id, scope, state and redirect_uri; `state` must bind
the request to the user's session; the token URL only accepts
application/x-www-form-urlencoded, with the client id and secret as HTTP Basic
auth; scope `identify` allows `GET /users/@me`. PKCE (`code_challenge`,
`code_challenge_method=S256`, RFC 7636) is accepted by the authorize endpoint
(developers/developer-tools/embedded-app-sdk.mdx, "Authorize"); the verifier
goes with the code to the token URL.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import requests

from modsys.adapters.discord import http_session
from modsys.domain.errors import DomainError
from modsys.infra.config import Settings

SCOPE = "identify"
# The token exchange runs inside the OAuth callback request: the person is
# waiting for exactly this answer, so it can't go through the outbox. It is
# bounded instead: connect and read timeouts, two calls at most.
TIMEOUT_S = (3.05, 7)


class OAuthFailed(DomainError):
    http_status = 502


@dataclass(frozen=True)
class Start:
    url: str  # where to send the browser
    state: str  # keep in the session; must come back unchanged
    verifier: str  # keep in the session; proves the code is ours at the token URL


@dataclass(frozen=True)
class DiscordIdentity:
    id: str
    name: str


def start(settings: Settings, redirect_uri: str) -> Start:
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43-128
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"response_type": "code", "client_id": settings.discord_client_id, "scope": SCOPE,
                       "state": state, "redirect_uri": redirect_uri, "prompt": "none",
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    return Start(f"{settings.discord_oauth_url}?{query}", state, verifier)


def identify(settings: Settings, code: str, verifier: str, redirect_uri: str) -> DiscordIdentity:
    """Exchange the code for a token, then read who signed in. The access token is
    used once and forgotten: modsys keeps only the Discord user id."""
    api = settings.discord_api_url.rstrip("/")
    try:
        with http_session.session() as http:
            token = http.post(
                f"{api}/oauth2/token", timeout=TIMEOUT_S,
                auth=(settings.discord_client_id or "", settings.discord_client_secret or ""),
                data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                      "code_verifier": verifier})
            if token.status_code != 200:
                raise OAuthFailed(f"Discord refused the sign-in (HTTP {token.status_code}); start again.")
            access = token.json().get("access_token")
            me = http.get(f"{api}/users/@me", timeout=TIMEOUT_S, headers={"Authorization": f"Bearer {access}"})
            if me.status_code != 200:
                raise OAuthFailed(f"Discord did not say who you are (HTTP {me.status_code}); start again.")
            user = me.json()
    except (requests.RequestException, ValueError, AttributeError):
        raise OAuthFailed("Discord could not be reached to finish the sign-in; try again in a minute.") from None
    if not isinstance(user, dict) or not str(user.get("id", "")).isdigit():
        raise OAuthFailed("Discord sent an answer modsys does not understand; start again.")
    return DiscordIdentity(str(user["id"]), str(user.get("global_name") or user.get("username") or user["id"])[:100])
