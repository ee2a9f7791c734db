"""`modsys serve` as a person runs it (`scripts/serve --port N`): a real process
in an empty directory. Appeal links follow the address actually served (issue
10, item 3), its access log never holds an appeal link's token (item 14), and
in production mode it refuses cleanly without creating a database (item 15)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from urllib.parse import urlsplit

import requests

from modsys.infra.config import DEFAULT_POLICY, KNOWN_ENV_VARS
from tests.e2e.test_production_journey import Proc, free_port
from tests.support.wait import wait_until

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KNOWN_ENV_VARS and not k.startswith("MODSYS_")}
    return {**env, "MODSYS_POLICY": str(DEFAULT_POLICY), "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1", **extra}


def test_links_follow_the_served_port_and_the_log_never_holds_a_token(tmp_path):
    port = free_port()
    server = Proc("serve", [sys.executable, "-m", "modsys.cli", "serve", "--port", str(port)],
                  _env(DATABASE_URL=f"sqlite:///{tmp_path / 'modsys.infra.db'}"), tmp_path, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            assert server.alive(), server.tail()
            try:
                return requests.get(f"{base}/healthz", timeout=2).status_code == 200
            except requests.RequestException:  # not listening yet, or too busy to answer in time
                return False

        wait_until(up, 60, "modsys serve to answer", every=0.2, on_timeout=server.tail)
        username, password = re.search(r"^\s+(\S+)\s+moderator\s+(\S+)$", server.text(), re.M).groups()
        staff = requests.Session()
        token = CSRF.search(staff.get(f"{base}/login", timeout=10).text).group(1)
        assert staff.post(f"{base}/login", data={"username": username, "password": password, "csrf_token": token},
                          timeout=10, allow_redirects=False).status_code == 302
        links = []
        for case in range(1, 30):
            page = staff.get(f"{base}/actions/{case}", timeout=10)
            if match := re.search(r'value="([^"]+)" id="appeal-link"', page.text):
                links.append(match.group(1))
        assert links, "no demo case shows an appeal link"
        for link in links:
            assert link.startswith(f"{base}/appeal/"), link  # the served port, not 5000
        secret_token = urlsplit(links[0]).path.rsplit("/", 1)[1]
        assert requests.get(links[0], timeout=10).status_code == 200  # the member opens it
        assert requests.get(f"{links[0]}x", timeout=10).status_code == 404
    finally:
        server.stop()
    log = server.text()
    assert "/appeal/[redacted]" in log and secret_token not in log


def test_production_mode_refuses_cleanly_before_creating_a_database(tmp_path):
    db = tmp_path / "modsys.infra.db"
    out = subprocess.run([sys.executable, "-m", "modsys.cli", "serve", "--port", str(free_port())], cwd=tmp_path,
                         env=_env(MODSYS_ENV="production", DATABASE_URL=f"sqlite:///{db}"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "refusing to start with MODSYS_ENV=production" in out.stderr
    assert "SECRET_KEY is not set" in out.stderr and "docs/production.md" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert not db.exists() and not (tmp_path / "instance").exists()
