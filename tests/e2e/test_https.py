"""Production over HTTPS, in real Chromium (issue 10, items 1, 6, 14, 15).

gunicorn serves TLS itself (`--certfile/--keyfile`, a self-signed certificate
this test makes with the openssl CLI) in production mode; Chromium (ignoring
only that the certificate is self-signed) logs a moderator in, files a ban,
and the member submits an appeal with a file named in Cyrillic, which the
moderator then downloads. Before the fix every one of those form POSTs was a
400: pages sent `Referrer-Policy: no-referrer`, so Chromium sent no Referer,
and Flask-WTF's strict check refuses an HTTPS POST without one. gunicorn's
own access log is on, and must hold no appeal-link token.

SQLite (allowed explicitly) and one worker: the database is not what is tested
here; the PostgreSQL production path is tests/e2e/test_production_journey.py.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import subprocess
import sys
from urllib.parse import quote, urlsplit

import pytest
import requests

from modsys.infra.config import DEFAULT_POLICY, KNOWN_ENV_VARS
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, PNG
from tests.e2e.test_production_journey import ROOT, Proc, free_port
from tests.support.wait import wait_until

PASSWORD = "mod-" + secrets.token_hex(8)
FILENAME = "доказательство.png"
APPEAL_TEXT = "I was quoting the message someone sent me, to report it. Please read the whole conversation."


def self_signed(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.mark.browser
def test_production_over_https_in_chromium(tmp_path):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install -y chromium`"
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"https://127.0.0.1:{port}"
    db = tmp_path / "modsys.infra.db"
    cert, key = self_signed(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in KNOWN_ENV_VARS and not k.startswith("MODSYS_")}
    env |= {"MODSYS_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48), "DATABASE_URL": f"sqlite:///{db}",
            "MODSYS_ALLOW_SQLITE": "1", "MODSYS_BASE_URL": base, "MODSYS_POLICY": str(DEFAULT_POLICY),
            "MODSYS_LOG_FORMAT": "text", "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}

    def cli(*args: str, stdin: str | None = None) -> str:
        r = subprocess.run([sys.executable, "-m", "modsys.cli", *args], env=env, cwd=tmp_path, input=stdin,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"modsys {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
        return r.stdout

    cli("init")
    cli("create-user", "mod_alice", "--role", "moderator", "--password-stdin", stdin=PASSWORD + "\n")
    web = Proc("web", [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                       "--certfile", str(cert), "--keyfile", str(key), "--access-logfile", "-"],
               {**env, "MODSYS_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"}, tmp_path, cwd=tmp_path)
    try:
        def up() -> bool:
            assert web.alive(), web.tail()
            try:
                return requests.get(f"{base}/healthz", timeout=5, verify=str(cert)).status_code == 200
            except requests.RequestException:  # not listening yet, or too busy to answer in time
                return False

        wait_until(up, 60, "gunicorn to serve HTTPS", every=0.2, on_timeout=web.tail)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                journey(browser, base, db)
            finally:
                browser.close()
    finally:
        web.stop()
    log = web.text()
    assert "/appeal/[redacted]" in log, log[-2000:]  # gunicorn's access lines, scrubbed
    assert not re.search(r"/appeal/(?!\[redacted\])[A-Za-z0-9_-]{20,}", log), "an appeal-link token was logged"
    assert " 500 " not in log and "Traceback" not in log


def journey(browser, base: str, db) -> None:
    def person():
        context = browser.new_context(base_url=base, ignore_https_errors=True)  # self-signed, nothing else
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    # A moderator logs in: the form POST that every HTTPS deployment refused.
    mod = person()
    first = mod.goto("/login")
    mod.fill("input[name=username]", "mod_alice")
    mod.fill("input[name=password]", PASSWORD)
    with mod.expect_response(lambda r: r.request.method == "POST") as posted:
        mod.get_by_role("button", name="Log in").click()
    assert posted.value.status == 302, mod.content()[:1000]  # was 400: "The referrer header is missing."
    mod.wait_for_url(lambda url: "/login" not in url)
    assert first.headers["strict-transport-security"] == "max-age=31536000"
    assert first.headers["referrer-policy"] == "same-origin"

    # ... files a ban.
    mod.goto("/actions/new")
    mod.fill("input[name=platform_user_id]", "345678901234567890")
    mod.fill("input[name=display_name]", "Rowan")
    mod.select_option("select[name=rule]", ["respectful"])
    mod.select_option("select[name=kind]", "ban")
    mod.fill("input[name=duration]", "7d")
    mod.fill("textarea[name=public_reason]", "Insulting another member in #general.")
    mod.fill("textarea[name=facts]", "On the evening of the report you called another member an idiot.")
    mod.get_by_role("button", name="File action").click()
    mod.wait_for_url(re.compile(r"/actions/\d+$"))
    link = mod.input_value("#appeal-link")
    assert link.startswith(f"{base}/appeal/")

    # The member appeals from the link, attaching a file with a non-Latin name.
    member = person()
    member.goto(link)
    member.fill("textarea[name=statement]", APPEAL_TEXT)
    member.set_input_files("input[name=attachments]", {"name": FILENAME, "mimeType": "image/png", "buffer": PNG})
    member.get_by_role("button", name="Send my appeal").click()
    member.wait_for_url(re.compile(r"/appeals/\d+$"))
    member.get_by_text("was received").first.wait_for()
    assert urlsplit(member.url).path.startswith(urlsplit(link).path)

    # The moderator downloads it: gunicorn used to answer 500 for this header.
    with sqlite3.connect(db) as conn:
        (evidence_id,) = conn.execute("SELECT id FROM evidence WHERE filename = ?", (FILENAME,)).fetchone()
    download = mod.context.request.get(f"/evidence/{evidence_id}/file")
    assert download.status == 200 and download.body() == PNG
    disposition = download.headers["content-disposition"]
    assert f"filename*=UTF-8''{quote(FILENAME)}" in disposition, disposition
