"""A fake Discord for the front door: OAuth2 (authorize, token, `users/@me`)
and command registration (client-credentials token, then the bulk overwrite),
as a real HTTP server on 127.0.0.1.

    with FakeDiscordOAuth(client_id="42", client_secret="s3cret") as fake:
        fake.sign_in_as("345678901234567890", "Rowan")
        settings = ... MODSYS_DISCORD_OAUTH_URL=fake.authorize_url, MODSYS_DISCORD_API_URL=fake.api_url

Like Discord (developers/topics/oauth2.mdx) it only accepts a form-encoded
token request with the client credentials as HTTP Basic auth, a code used once,
the same redirect_uri, and, as PKCE demands (RFC 7636), a `code_verifier`
whose SHA-256 matches the `code_challenge` sent to authorize. `authorize`
answers as if the user clicked "Authorize": a 302 to the redirect_uri with
`code` and `state`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


class FakeDiscordOAuth:
    def __init__(self, client_id: str = "424242", client_secret: str = "fake-client-secret",
                 capture: Any = None) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.capture = capture  # a tests.support.discord_server.Capture: every request and answer
        self.user: dict[str, Any] = {"id": "345678901234567890", "username": "rowan", "global_name": "Rowan"}
        self.codes: dict[str, dict[str, str]] = {}  # code -> {challenge, redirect_uri, user_id}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, Any]] = []
        self.registered: list[dict[str, Any]] = []  # bulk overwrites received: {path, body, auth}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self) -> "FakeDiscordOAuth":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def authorize_url(self) -> str:
        return f"{self.base}/oauth2/authorize"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/v10"

    def sign_in_as(self, user_id: str, name: str) -> None:
        self.user = {"id": user_id, "username": name.lower(), "global_name": name}

    # -- the server ------------------------------------------------------------
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                if fake.capture is not None:
                    sent = getattr(self, "_sent", b"")
                    try:
                        parsed: Any = json.loads(sent) if sent else None
                    except ValueError:
                        parsed = {k: v[0] for k, v in parse_qs(sent.decode()).items()}
                    fake.capture.record("oauth", self.command, urlsplit(self.path).path, dict(self.headers.items()),
                                        parsed, status, body)
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                self._sent = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                return self._sent

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/oauth2/authorize":
                    return self._authorize(q)
                if url.path == "/api/v10/users/@me":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    grant = fake.tokens.get(token)
                    if grant is None or "user" not in grant:
                        return self._send(401, {"message": "401: Unauthorized", "code": 0})
                    return self._send(200, grant["user"])
                self._send(404, {"message": "404: Not Found", "code": 0})

            def _authorize(self, q: dict[str, str]) -> None:
                problems = [name for name in ("client_id", "redirect_uri", "state", "code_challenge")
                            if not q.get(name)]
                if (problems or q.get("client_id") != fake.client_id or q.get("response_type") != "code"
                        or q.get("scope") != "identify" or q.get("code_challenge_method") != "S256"):
                    return self._send(400, {"error": "invalid_request", "missing": problems})
                code = secrets.token_urlsafe(16)
                fake.codes[code] = {"challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"],
                                    "user": dict(fake.user)}
                target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
                self._send(302, None, {"Location": target})

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/api/v10/oauth2/token":
                    return self._send(404, {"message": "404: Not Found", "code": 0})
                body = self._body().decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                fake.token_requests.append(form)
                if self.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
                    return self._send(400, {"error": "invalid_request"})
                expected = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    return self._send(401, {"error": "invalid_client"})
                if form.get("grant_type") == "client_credentials":  # the app's own token (commands)
                    if form.get("scope") != "applications.commands.update":
                        return self._send(400, {"error": "invalid_scope"})
                    token = secrets.token_urlsafe(24)
                    fake.tokens[token] = {"scope": form["scope"]}
                    return self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 604800,
                                            "scope": form["scope"]})
                grant = fake.codes.pop(form.get("code", ""), None)  # a code works once
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if (grant is None or form.get("grant_type") != "authorization_code"
                        or form.get("redirect_uri") != grant["redirect_uri"] or challenge != grant["challenge"]):
                    return self._send(400, {"error": "invalid_grant"})
                token = secrets.token_urlsafe(24)
                fake.tokens[token] = {"user": grant["user"]}
                self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 604800,
                                 "refresh_token": secrets.token_urlsafe(24), "scope": "identify"})

            def do_PUT(self) -> None:
                # Bulk Overwrite Guild Application Commands (application-commands.mdx).
                path = urlsplit(self.path).path
                parts = path.split("/")
                if len(parts) != 8 or parts[3] != "applications" or parts[5] != "guilds" or parts[7] != "commands":
                    return self._send(404, {"message": "404: Not Found", "code": 0})
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if (fake.tokens.get(token) or {}).get("scope") != "applications.commands.update":
                    return self._send(401, {"message": "401: Unauthorized", "code": 0})
                body = json.loads(self._body() or b"null")
                fake.registered.append({"path": path, "body": body})
                self._send(200, [{**c, "id": str(1_200_000_000_000_000_000 + i), "application_id": parts[4],
                                  "guild_id": parts[6]} for i, c in enumerate(body)])

        return Handler
