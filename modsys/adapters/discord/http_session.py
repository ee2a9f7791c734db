"""The one place where HTTP sessions to Discord are made, so every request
(bot REST, webhooks, OAuth2, command registration) carries the User-Agent
Discord asks for: "Clients using the HTTP API must provide a valid User Agent
which specifies information about the client library and version in the
following format: `User-Agent: DiscordBot ($url, $versionNumber)`"
(discord-api-docs, developers/reference.mdx, "User Agent")."""

from __future__ import annotations

import requests

from modsys import __version__

PROJECT_URL = "https://github.com/modsys/modsys"
USER_AGENT = f"DiscordBot ({PROJECT_URL}, {__version__})"


def session() -> requests.Session:
    """A requests session whose every request says who we are."""
    http = requests.Session()
    http.headers["User-Agent"] = USER_AGENT
    return http
