"""Building the app has no side effects: Alembic alone creates the schema, and
`modsys serve` alone keeps a development secret on disk."""

from __future__ import annotations

import os
import subprocess
import sys


def test_importing_the_app_and_listing_routes_writes_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODSYS_", "DATABASE_URL", "SECRET_KEY"))}
    env["PYTHONPATH"] = str(os.getcwd())
    routes = subprocess.run([sys.executable, "-m", "flask", "--app", "web", "routes"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert routes.returncode == 0, routes.stderr
    assert "/appeal/<token>" in routes.stdout
    imported = subprocess.run([sys.executable, "-c", "import web, web.wsgi"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no modsys.infra.db, no instance/
