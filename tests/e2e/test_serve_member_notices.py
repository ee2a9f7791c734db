"""`modsys serve` as the README runs it (no SECRET_KEY in the environment), with a
bot: the key it generates into instance/ is the one every part of the process
signs member links with, Discord delivery included, so the demo cases' DMs carry
working appeal links; and a notice is never sent without its link."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from modsys.infra.config import DEFAULT_POLICY
from modsys.infra.portal_links import decode_token
from tests.support.wait import wait_until

LINK = re.compile(r"https?://127\.0\.0\.1:\d+/appeal/([A-Za-z0-9._-]{20,})")


def _env(db_url: str, fake) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": db_url, "MODSYS_POLICY": str(DEFAULT_POLICY), "no_proxy": "127.0.0.1",
           "MODSYS_LOG_FORMAT": "text", "MODSYS_DISCORD_BOT_TOKEN": fake.bot_token,
           "MODSYS_DISCORD_API_URL": fake.api_url}
    for name in ("MODSYS_ENV", "SECRET_KEY", "MODSYS_BASE_URL"):
        env.pop(name, None)
    return env


def _modsys(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modsys.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_serve_signs_member_links_with_its_generated_key(db_url, tmp_path, fake_discord):
    env = _env(db_url, fake_discord)
    assert _modsys(tmp_path, env, "init").returncode == 0
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "modsys.cli", "serve", "--host", "127.0.0.1", "--port", "0"],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        # The demo files cases on first start; the in-process scheduler DMs their members.
        dms = wait_until(fake_discord.dm_log, 60, "a member's DM",
                         on_timeout=lambda: log.read_text(errors="replace")[-3000:]
                         + _modsys(tmp_path, env, "outbox", "list").stdout)
    finally:
        proc.terminate()
        proc.wait(15)
    key = (tmp_path / "instance" / "secret_key").read_text().strip()
    for _, message in fake_discord.dm_log():
        token = LINK.search(message["content"])
        assert token, message["content"]  # never a DM without its link
        decode_token(key, token.group(1))  # signed with the key serve generated
    assert dms
    listing = _modsys(tmp_path, env, "outbox", "list").stdout
    assert "SECRET_KEY" not in listing, listing
