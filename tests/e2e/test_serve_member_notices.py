"""`modsys serve` as the README runs it (no SECRET_KEY in the environment): the
key it generates into instance/ is the one delivery signs member links with, so
members get their notices; and what could not be sent is retriable."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from modsys.config import DEFAULT_POLICY
from tests.support.wait import wait_until

MEMBER_HOOK = "55"


def _env(db_url: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": db_url, "MODSYS_POLICY": str(DEFAULT_POLICY), "no_proxy": "127.0.0.1",
           "MODSYS_LOG_FORMAT": "text"}
    for name in ("MODSYS_ENV", "SECRET_KEY", "MODSYS_BASE_URL"):
        env.pop(name, None)
    return env


def _modsys(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modsys.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_serve_signs_member_links_with_its_generated_key(db_url, tmp_path, fake_discord):
    env = _env(db_url)
    assert _modsys(tmp_path, env, "init").returncode == 0
    hook = _modsys(tmp_path, env, "webhook", "set", "member", fake_discord.url(MEMBER_HOOK, "tok"))
    assert hook.returncode == 0, hook.stderr
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "modsys.cli", "serve", "--host", "127.0.0.1", "--port", "0"],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        # The demo files cases on first start; the in-process scheduler delivers their notices.
        notices = wait_until(lambda: fake_discord.payloads_for(MEMBER_HOOK), 60, "a member notice",
                             on_timeout=lambda: log.read_text(errors="replace")[-3000:]
                             + _modsys(tmp_path, env, "outbox", "list").stdout)
    finally:
        proc.terminate()
        proc.wait(15)
    assert (tmp_path / "instance" / "secret_key").exists()
    text = str(notices[0])
    assert re.search(r"/appeal/[A-Za-z0-9._-]{20,}", text), text
    listing = _modsys(tmp_path, env, "outbox", "list").stdout
    assert "SECRET_KEY" not in listing, listing
