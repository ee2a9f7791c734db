"""Run `modsys` as an operator would: a real subprocess on a given database."""

from __future__ import annotations

import os
import subprocess
import sys

from modsys.config import DEFAULT_POLICY


def modsys(db_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url, "MODSYS_POLICY": str(DEFAULT_POLICY)}
    env.pop("MODSYS_ENV", None)
    return subprocess.run([sys.executable, "-m", "modsys.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)
