"""The CLI as an operator runs it: a real subprocess against the real database."""

from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa

from modsys.infra.config import DEFAULT_POLICY
from tests.support.cli import modsys


def test_demo_then_verify_then_tamper(db_url, engine):
    out = modsys(db_url, "demo")
    assert out.returncode == 0, out.stderr
    assert "lead" in out.stdout and "leadership" in out.stdout
    verify = modsys(db_url, "audit", "verify")
    assert verify.returncode == 0 and "audit chain ok" in verify.stdout, verify.stderr
    with engine.begin() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM appeal")).scalar_one()
        states = {r[0] for r in conn.execute(sa.text("SELECT DISTINCT status FROM appeal"))}
        kinds = {r[0] for r in conn.execute(sa.text("SELECT DISTINCT kind FROM action"))}
        assert count >= 5 and states == {"submitted", "in_review", "escalated", "decided", "withdrawn"}
        assert kinds == {"note", "warning", "timeout", "ban", "unban"}
        if engine.dialect.name == "postgresql":
            # A table owner's tamper, undone in the same transaction: the schema is shared with later tests.
            conn.exec_driver_sql("ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only")
            conn.exec_driver_sql("UPDATE auditevent SET data = '{\"forged\": true}' WHERE seq = 7")
            conn.exec_driver_sql("ALTER TABLE auditevent ENABLE ALWAYS TRIGGER auditevent_append_only")
        else:
            conn.exec_driver_sql("DROP TRIGGER auditevent_no_update")
            conn.exec_driver_sql("UPDATE auditevent SET data = '{\"forged\": true}' WHERE seq = 7")
    broken = modsys(db_url, "audit", "verify")
    assert broken.returncode == 1 and "#7" in broken.stderr, broken.stderr
    again = modsys(db_url, "demo")
    assert again.returncode == 1 and "empty database" in again.stderr


def test_create_user_and_refusals(db_url, engine):
    out = modsys(db_url, "create-user", "dana", "--role", "moderator")
    assert out.returncode == 0 and "password: " in out.stdout
    dupe = modsys(db_url, "create-user", "dana", "--role", "moderator")
    assert dupe.returncode == 1 and "taken" in dupe.stderr
    weak = modsys(db_url, "create-user", "eve", "--role", "admin", "--password-stdin", stdin="short\n")
    assert weak.returncode == 1 and "at least 12" in weak.stderr
    bad_role = modsys(db_url, "create-user", "eve", "--role", "king")
    assert bad_role.returncode == 2
    secret = "a-long-enough-password"
    ok = modsys(db_url, "create-user", "eve", "--role", "admin", "--password-stdin", stdin=secret + "\n")
    assert ok.returncode == 0 and secret not in ok.stdout + ok.stderr


def test_policy_check(tmp_path):
    good = modsys("sqlite://", "policy", "check", str(DEFAULT_POLICY))
    assert good.returncode == 0 and "ok, version" in good.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_POLICY.read_text().replace("review_sla: 72h", "review_sla: soon"))
    out = modsys("sqlite://", "policy", "check", str(bad))
    assert out.returncode == 1 and "bad.yaml: appeals.review_sla: invalid duration" in out.stderr


def test_demo_refused_in_production(db_url):
    env_url = db_url
    env = {**os.environ, "DATABASE_URL": env_url, "MODSYS_ENV": "production"}
    out = subprocess.run([sys.executable, "-m", "modsys.cli", "demo"], env=env, capture_output=True, text=True)
    assert out.returncode == 1 and "production" in out.stderr
