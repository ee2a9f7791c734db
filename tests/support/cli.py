"""Run `modsys` as an operator would: a real subprocess on a given database."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from modsys.infra.config import DEFAULT_POLICY


def checkpoint_log(db_url: str) -> Path:
    """The audit checkpoint log of this test's database: never the working tree's
    instance/, which would mix checkpoints of every database the suite makes."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    name = hashlib.sha256(f"{db_url}|{test}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "modsys-test-checkpoints" / f"{name}.log"


def modsys(db_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url, "MODSYS_POLICY": str(DEFAULT_POLICY),
           "MODSYS_AUDIT_CHECKPOINTS": str(checkpoint_log(db_url))}
    env.pop("MODSYS_ENV", None)
    return subprocess.run([sys.executable, "-m", "modsys.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)
