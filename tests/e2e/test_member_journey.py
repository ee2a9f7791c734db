"""The member's whole journey (tests/e2e/member_journey.py) on both ways modsys
runs, the bot configured against the fake Discord:

- the production topology: gunicorn (2 workers), `modsys scheduler`, `modsys
  worker`, on PostgreSQL, each a process configured by environment variables;
  the leadership decision is an overturn, so the ban must be lifted;
- the embedded `modsys serve` with no SECRET_KEY (it generates one): the DMs'
  links must be signed with that key; the decision modifies the ban.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from modsys.infra.config import DEFAULT_POLICY, KNOWN_ENV_VARS
from modsys.infra.portal_links import decode_token
from tests.e2e import member_journey as mj
from tests.e2e.test_production_journey import (  # noqa: F401  (fixtures)
    ROOT,
    Proc,
    free_port,
    fresh_pg_url,
    model_dir,
)
from tests.support.discord_interactions import Signer
from tests.support.discord_server import FakeDiscord
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow


def _base_env(fake: FakeDiscord, signer: Signer, db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KNOWN_ENV_VARS and not k.startswith("MODSYS_")}
    env.pop("SECRET_KEY", None)
    return env | {"DATABASE_URL": db_url, "MODSYS_POLICY": str(DEFAULT_POLICY), "no_proxy": "127.0.0.1",
                  "NO_PROXY": "127.0.0.1", "MODSYS_LOG_FORMAT": "text", "MODSYS_DISCORD_BOT_TOKEN": fake.bot_token,
                  "MODSYS_DISCORD_API_URL": fake.api_url, "MODSYS_DISCORD_PUBLIC_KEY": signer.public_hex}


def _setup(env: dict[str, str], cwd: Path, passwords: dict[str, str], fake: FakeDiscord) -> None:
    def cli(*args: str, stdin: str | None = None) -> str:
        r = subprocess.run([sys.executable, "-m", "modsys.cli", *args], env=env, cwd=cwd, input=stdin,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"modsys {' '.join(args)}: {r.stdout}\n{r.stderr}"
        return r.stdout

    cli("db", "upgrade")
    cli("init")
    for user, role in mj.STAFF.items():
        cli("create-user", user, "--role", role, "--password-stdin", stdin=passwords[user] + "\n")
    cli("community", "set-guild", "default", mj.GUILD)
    guild = fake.add_guild(mj.GUILD)
    guild.add_member(mj.MEMBER["id"], name="Gus")


def test_member_journey_on_the_production_topology(fresh_pg_url, model_dir, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    logs = tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    passwords = {u: secrets.token_hex(8) for u in mj.STAFF}
    signer = Signer()
    procs: list[Proc] = []
    with FakeDiscord() as fake:
        env = _base_env(fake, signer, fresh_pg_url) | {
            "MODSYS_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48), "MODSYS_BASE_URL": base,
            "MODSYS_MODEL_DIR": str(model_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "MODSYS_TORCH_THREADS": "1", "MODSYS_AUDIT_KEY": secrets.token_urlsafe(48),
            "MODSYS_AUDIT_CHECKPOINTS": str(tmp_path / "checkpoints.log")}
        _setup(env, ROOT, passwords, fake)
        try:
            web_env = {**{k: v for k, v in env.items() if k != "MODSYS_AUDIT_KEY"}, "MODSYS_BIND": f"127.0.0.1:{port}",
                       "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
                       "MODSYS_RATELIMIT_STORAGE": "redis://127.0.0.1:6379"}
            procs.append(Proc("web", [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "web.wsgi:app"],
                              web_env, logs))
            procs.append(Proc("worker", [sys.executable, "-m", "modsys.cli", "worker"], env, logs))
            procs.append(Proc("scheduler", [sys.executable, "-m", "modsys.cli", "scheduler"], env, logs))

            def dump() -> str:
                return "\n".join(p.tail() for p in procs)

            def ready() -> bool:
                assert all(p.alive() for p in procs), dump()
                try:
                    import requests

                    return requests.get(f"{base}/readyz", timeout=5).status_code == 200
                except Exception:
                    return False

            wait_until(ready, 60, "gunicorn to be ready", every=0.3, on_timeout=dump)
            mj.walk(mj.Journey(base, fake, signer, passwords, dump), "overturned")
            for p in procs:
                assert p.stop() == 0, p.tail()
        finally:
            for p in procs:
                if p.alive():
                    p.kill()


def test_member_journey_on_the_embedded_serve_without_secret_key(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    passwords = {u: secrets.token_hex(8) for u in mj.STAFF}
    signer = Signer()
    with FakeDiscord() as fake:
        env = _base_env(fake, signer, db_url)
        _setup(env, tmp_path, passwords, fake)
        log = tmp_path / "serve.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "modsys.cli", "serve", "--host", "127.0.0.1", "--port", "0"],
                                    cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)

        def dump() -> str:
            return log.read_text(errors="replace")[-4000:]

        try:
            served = wait_until(lambda: re.search(r"modsys is serving on (http://\S+)/", log.read_text()), 60,
                                "modsys serve to listen", every=0.2, on_timeout=dump)
            mj.walk(mj.Journey(served.group(1), fake, signer, passwords, dump), "modified")
        finally:
            proc.terminate()
            proc.wait(20)
        # Every DM's link is signed with the key serve generated: one key for the whole process.
        key = (tmp_path / "instance" / "secret_key").read_text().strip()
        for message in fake.dms[mj.MEMBER["id"]]:
            token = mj.LINK.search(message["content"]).group(1).rsplit("/", 1)[1]
            decode_token(key, token)
