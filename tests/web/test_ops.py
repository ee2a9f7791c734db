"""Production path: config refusals, /healthz, /readyz, /metrics, JSON logs, and
the gunicorn entry with several workers sharing request metrics."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from modsys.domain.models import (
    Flag,
    FlagStatus,
    OutboxMessage,
    ScoreState,
    ToxicityScore,
)
from modsys.infra import config as config_mod
from modsys.infra import migrate
from modsys.infra.config import ConfigError, check_production, load_settings
from modsys.infra.logging_setup import REDACTED, configure_logging
from tests import factories
from tests.conftest import DEFAULT_POLICY
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
GOOD_KEY = "kJ3n9Qz7Lw2Xv8Rt5Yp1Hs6Dg4Fb0Nc_Me-Ua"  # 38 random-looking characters
PRODUCTION = {"MODSYS_ENV": "production", "SECRET_KEY": GOOD_KEY, "MODSYS_BASE_URL": "https://mod.example.org",
              "DATABASE_URL": "postgresql://modsys@db/modsys"}


# --- production config checks ---------------------------------------------------


def _problems(**changes: str | None) -> str:
    env = {k: v for k, v in {**PRODUCTION, **changes}.items() if v is not None}
    try:
        check_production(load_settings(env))
    except ConfigError as e:
        return str(e)
    return ""


def test_a_sound_production_configuration_starts():
    assert _problems() == ""


@pytest.mark.parametrize("key, reason", [
    (None, "SECRET_KEY is not set"),
    ("", "SECRET_KEY is not set"),
    ("short-but-random-9f3k", "use at least 32"),
    ("test-secret-key-not-for-production", "placeholder"),  # the test suite's own key
    ("change-me-change-me-change-me-change-me", "placeholder"),
    ("please-replace-with-your-own-secret-key-0123456789", "placeholder"),
    ("a" * 48, "too few distinct characters"),
    ("0123456789abcdef0123456789abcdef0123456789abcdef", "follows a pattern"),  # 16 distinct, typed
    ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", "follows a pattern"),
    ("Xk3$Qz9!Lw7#" * 4, "follows a pattern"),  # a repeated unit
])
def test_production_refuses_missing_weak_or_placeholder_secret_keys(key, reason):
    message = _problems(SECRET_KEY=key)
    assert reason in message
    if key:
        assert key not in message  # the refusal never quotes the secret


def test_production_refuses_debug_sqlite_and_a_default_base_url_all_at_once():
    message = _problems(FLASK_DEBUG="1", DATABASE_URL="sqlite:///modsys.infra.db", MODSYS_BASE_URL=None)
    assert "FLASK_DEBUG" in message and "SQLite" in message and "MODSYS_BASE_URL" in message


def test_sqlite_in_production_only_when_explicitly_allowed():
    assert "SQLite" in _problems(DATABASE_URL="sqlite:////var/lib/modsys/modsys.infra.db")
    assert "SQLite" in _problems(DATABASE_URL="sqlite:////var/lib/modsys/modsys.infra.db", MODSYS_ALLOW_SQLITE="maybe")
    assert _problems(DATABASE_URL="sqlite:////var/lib/modsys/modsys.infra.db", MODSYS_ALLOW_SQLITE="1") == ""


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "off", "anything", "0", "false", "no", "FALSE", ""])
def test_debug_flag_is_read_exactly_as_flask_reads_it(value, monkeypatch):
    from flask.helpers import get_debug_flag

    monkeypatch.setenv("FLASK_DEBUG", value)
    assert load_settings({"FLASK_DEBUG": value}).debug is get_debug_flag()


def test_development_mode_is_never_refused():
    check_production(load_settings({"SECRET_KEY": "", "FLASK_DEBUG": "1"}))  # the embedded default


def test_create_app_refuses_before_touching_the_database(tmp_path, monkeypatch):
    from web import create_app

    monkeypatch.chdir(tmp_path)  # create_app writes instance/secret_key under the cwd when it proceeds
    db = tmp_path / "prod.db"
    settings = load_settings({"MODSYS_ENV": "production", "DATABASE_URL": f"sqlite:///{db}",
                              "MODSYS_POLICY": str(DEFAULT_POLICY)})
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app(settings)
    assert not db.exists() and not (tmp_path / "instance").exists()


def test_bad_log_format_is_refused():
    with pytest.raises(ConfigError, match="MODSYS_LOG_FORMAT"):
        load_settings({"MODSYS_LOG_FORMAT": "xml"})
    assert load_settings({"MODSYS_ENV": "production"}).log_format == "json"
    assert load_settings({}).log_format == "text"


# --- health and readiness ----------------------------------------------------------


def test_healthz_answers_without_the_database_and_readyz_names_the_failure(app):
    client = app.test_client()
    # Point the app at a database that refuses connections.
    app.extensions["modsys"].engine = sa.create_engine("postgresql+psycopg://modsys@127.0.0.1:1/nope")
    assert client.get("/healthz").get_json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 503
    body = r.get_json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"]["ok"] is False and "OperationalError" in body["checks"]["database"]["error"]
    assert body["checks"]["policy"]["ok"] is False
    metrics = _scrape(client)
    assert metrics[("modsys_database_up", ())] == 0
    assert not any(name == "modsys_flags_open" for name, _ in metrics)


def test_readyz_is_ready_but_degraded_without_model_weights(app, tmp_path):
    body = _readyz(app, tmp_path / "no-models")
    assert body["status"] == "degraded"
    checks = body["checks"]
    assert checks["database"]["ok"] is True and checks["database"]["schema_revision"] == migrate.head_revision()
    assert checks["policy"] == {"ok": True, "communities": {"default": {
        "version": checks["policy"]["communities"]["default"]["version"], "label": "2026-11"}}}
    model = checks["model"]
    assert model["ok"] is True and model["degraded"] is True and model["required"] is False
    assert model["models"]["original"]["installed"] is False
    assert "modsys model fetch" in model["models"]["original"]["reason"]


def test_readyz_fails_without_weights_when_the_model_is_required(app, tmp_path):
    body = _readyz(app, tmp_path / "no-models", require_model=True, status=503)
    assert body["status"] == "not_ready"
    assert body["checks"]["model"]["ok"] is False and body["checks"]["database"]["ok"] is True


def test_readyz_is_ready_with_an_installed_model_and_reports_a_broken_one(app, tmp_path):
    from modsys.toxicity import clear_scorer_cache, get_scorer, install_model
    from tests.support.tiny_model import build_tiny_checkpoint

    models = tmp_path / "models"
    install_model(*build_tiny_checkpoint(tmp_path / "tiny"), models)
    body = _readyz(app, models, require_model=True)
    assert body["status"] == "ready"
    assert body["checks"]["model"]["models"] == {"original": {"installed": True}}
    # A checkpoint altered after install: loading refuses it, and readiness says so.
    checkpoint = models / "original" / "checkpoint.ckpt"
    checkpoint.write_bytes(checkpoint.read_bytes() + b"tampered")
    try:
        assert get_scorer(models, "original") is None
        body = _readyz(app, models, require_model=True, status=503)
        assert "sha256" in body["checks"]["model"]["models"]["original"]["reason"]
    finally:
        clear_scorer_cache()


def test_readyz_fails_when_the_schema_is_behind_the_code(app, engine, monkeypatch):
    from web import ops

    with engine.begin() as conn:
        head = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    try:
        monkeypatch.setattr(ops, "_known_revisions", lambda: ("0002", frozenset({"0001", "0002"})))
        r = app.test_client().get("/readyz")
        assert r.status_code == 503
        assert "run `modsys db upgrade`" in r.get_json()["checks"]["database"]["error"]
        monkeypatch.setattr(ops, "_known_revisions", lambda: ("0001", frozenset({"0001"})))
        r = app.test_client().get("/readyz")
        assert r.get_json()["checks"]["database"] | {"latency_ms": 0} == {
            "ok": True, "schema_revision": "0001", "latency_ms": 0}
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{head}'")


def _readyz(app, model_dir: Path, *, require_model: bool = False, status: int = 200) -> dict:
    from dataclasses import replace

    st = app.extensions["modsys"]
    st.settings = replace(st.settings, model_dir=model_dir, require_model=require_model)
    r = app.test_client().get("/readyz")
    assert r.status_code == status, r.get_json()
    return r.get_json()


# --- metrics ----------------------------------------------------------------------


def _scrape(client) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.content_type.startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.get_data(as_text=True)) for s in family.samples}


def _flag(session, community, member, n: int, *, created, status=FlagStatus.open, score_state=ScoreState.pending):
    flag = Flag(community_id=community.id, platform_message_id=f"m{n}", channel_id="c1", author_id=member.id,
                content=f"message {n}", status=status, score_state=score_state, created_at=created)
    session.add(flag)
    session.flush()
    return flag


def _score(session, flag, at):
    session.add(ToxicityScore(flag_id=flag.id, model_name="original", model_sha256="0" * 64, package_version="0",
                              labels={"toxicity": 0.5}, max_label="toxicity", max_score=0.5, created_at=at))


def test_metrics_report_queues_slas_outbox_and_scoring_latency(app, session, community, clock, mod_a, make_member):
    client = app.test_client()
    banned = make_member()
    appeal = factories.appeal(session, banned, factories.ban(session, mod_a, banned))
    session.exec(sa.delete(OutboxMessage))  # the ban's own notifications: this test sets up the outbox itself
    session.commit()
    before = _scrape(client)
    now = clock.now()
    member = make_member()
    # Flags: two waiting for a score (the oldest 2h old), three scored at known latencies.
    _flag(session, community, member, 1, created=now - timedelta(hours=2))
    _flag(session, community, member, 2, created=now - timedelta(minutes=5))
    for n, created, latency in ((3, now - timedelta(minutes=30), 60), (4, now - timedelta(minutes=10), 10),
                                (5, now - timedelta(hours=3), 5)):  # n=5 was scored 3h ago: outside the window
        flag = _flag(session, community, member, n, created=created, status=FlagStatus.dismissed,
                     score_state=ScoreState.scored)
        _score(session, flag, created + timedelta(seconds=latency))
    # Outbox: two pending modlog notices (the oldest 15 minutes old), one dead letter.
    for minutes, status in ((15, "pending"), (1, "pending"), (30, "dead")):
        session.add(OutboxMessage(community_id=community.id, channel="modlog", event="test", payload={},
                                  status=status, next_attempt_at=now, created_at=now - timedelta(minutes=minutes)))
    session.commit()

    m = _scrape(client)
    c = (("community", "default"),)
    assert m[("modsys_database_up", ())] == 1
    assert m[("modsys_flags_open", c)] == before[("modsys_flags_open", c)] + 2
    assert m[("modsys_flags_unscored", c)] == before[("modsys_flags_unscored", c)] + 2
    assert m[("modsys_flags_unscored_oldest_age_seconds", ())] == 7200
    assert m[("modsys_scoring_latency_samples", ())] == 2
    assert m[("modsys_scoring_latency_seconds", (("quantile", "0.5"),))] == 10
    assert m[("modsys_scoring_latency_seconds", (("quantile", "1.0"),))] == 60
    assert m[("modsys_appeals", (*c, ("state", "submitted")))] == 1
    assert m[("modsys_appeals", (*c, ("state", "decided")))] == 0
    assert m[("modsys_appeals_overdue", (*c, ("stage", "review")))] == 0
    modlog = (("channel", "modlog"),)
    assert m[("modsys_outbox_pending", modlog)] == 2
    assert m[("modsys_outbox_dead", modlog)] == 1
    assert m[("modsys_outbox_pending", (("channel", "appeals"),))] == 0
    assert m[("modsys_outbox_oldest_pending_age_seconds", ())] == 15 * 60

    clock.set(appeal.review_due_at + timedelta(seconds=1))  # past the review SLA
    m = _scrape(client)
    assert m[("modsys_appeals_overdue", (*c, ("stage", "review")))] == 1
    assert m[("modsys_appeals_overdue", (*c, ("stage", "leadership")))] == 0


def test_request_latency_is_recorded_per_endpoint_never_per_path(app):
    client = app.test_client()
    key = ("modsys_http_request_duration_seconds_count", (("endpoint", "ops.healthz"), ("method", "GET"), ("status", "200")))
    unmatched = ("modsys_http_request_duration_seconds_count",
                 (("endpoint", "<unmatched>"), ("method", "GET"), ("status", "404")))
    before = _scrape(client)
    for _ in range(3):
        client.get("/healthz")
    client.get("/no/such/page/4242")
    after = _scrape(client)
    assert after[key] - before.get(key, 0) == 3
    assert after[unmatched] - before.get(unmatched, 0) == 1
    assert not any("4242" in str(labels) for _, labels in after)


# --- logs -----------------------------------------------------------------------------


@pytest.fixture
def json_log():
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(json=True, level="INFO", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


def test_one_json_access_line_per_request_with_the_request_id_and_no_token(app, json_log):
    client = app.test_client()
    r = client.get("/appeal/this-is-a-secret-appeal-token", headers={"X-Request-Id": "req-123"})
    client.get("/healthz")  # probes are not access-logged
    lines = json_log()
    access = [line for line in lines if line["logger"] == "modsys.access"]
    assert len(access) == 1, lines
    line = access[0]
    assert r.headers["X-Request-Id"] == line["request_id"] == "req-123"
    assert set(line) >= {"time", "level", "logger", "message", "request_id"}
    assert line["rule"] == "/appeal/<token>" and line["status"] == r.status_code and line["method"] == "GET"
    assert "this-is-a-secret-appeal-token" not in json.dumps(lines)


def test_request_id_does_not_leak_into_later_logs(app, json_log):
    app.test_client().get("/healthz", headers={"X-Request-Id": "req-xyz"})
    logging.getLogger("modsys.test").info("after the request")
    assert json_log()[-1]["request_id"] is None


def test_logs_never_carry_secrets(monkeypatch):
    secret = "Zx8-live-secret-key-value-9Qw2Ls7Kd3Mf6Hj1"
    monkeypatch.setenv("SECRET_KEY", secret)
    stream = io.StringIO()
    handler = configure_logging(json=True, level="INFO", stream=stream)  # reads the secrets from the environment
    log = logging.getLogger("modsys.test")
    try:
        log.info("key is %s", secret)
        log.info("delivering to https://discord.com/api/webhooks/123456/AbCdEf-token_xyz")
        log.info("db postgresql://modsys:db-password-1@db/modsys")
        log.info("header Authorization: Bearer abc.def.ghi")
        try:
            raise RuntimeError(f"failed with password=hunter22 and {secret}")
        except RuntimeError:
            log.exception("boom")
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    for leaked in (secret, "AbCdEf-token_xyz", "db-password-1", "abc.def.ghi", "hunter22"):
        assert leaked not in text
    assert text.count(REDACTED) >= 6
    assert all(json.loads(line) for line in text.splitlines())


def test_text_format_carries_the_request_id_too(app):
    stream = io.StringIO()
    handler = configure_logging(json=False, level="INFO", stream=stream)
    try:
        app.test_client().get("/login", headers={"X-Request-Id": "req-text"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert re.search(r"INFO modsys\.access \[req-text\] GET /login 200", stream.getvalue())


# --- gunicorn: the production entry, several workers --------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, base: str):
        self.base = base
        self.healthz_served = 0  # every /healthz that got a 200, waiting included: the metrics count them all

    def get(self, path: str) -> tuple[int, dict, bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as r:
                result = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            result = e.code, dict(e.headers), e.read()
        self.healthz_served += path == "/healthz" and result[0] == 200
        return result

    def up(self) -> bool:
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False


@pytest.mark.slow
def test_gunicorn_workers_share_request_metrics_and_log_json(db_url, community, tmp_path):
    port = _free_port()
    log_path = tmp_path / "gunicorn.log"
    env = {**os.environ, "DATABASE_URL": db_url, "MODSYS_POLICY": str(DEFAULT_POLICY), "SECRET_KEY": GOOD_KEY,
           "MODSYS_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
           "MODSYS_LOG_FORMAT": "json", "MODSYS_MODEL_DIR": str(tmp_path / "models")}
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py")],
                                cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    server = _Server(f"http://127.0.0.1:{port}")
    log = log_path.read_text
    try:
        wait_until(lambda: log().count("Booting worker") >= 2 and server.up(), 30, "gunicorn to serve", every=0.1,
                   on_timeout=log)
        for _ in range(5):
            assert server.get("/healthz")[0] == 200
        # Replace every worker: what they counted must survive them in the shared directory.
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: log().count("Worker exiting") >= 2 and log().count("Booting worker") >= 4, 30,
                   "the workers to be replaced", every=0.1, on_timeout=log)
        wait_until(server.up, 30, "the new workers", every=0.1, on_timeout=log)
        for _ in range(5):
            assert server.get("/healthz")[0] == 200
        status, headers, _ = server.get("/login")
        assert status == 200
        text = server.get("/metrics")[2].decode()
        count = {tuple(sorted(s.labels.items())): s.value
                 for f in text_string_to_metric_families(text) for s in f.samples
                 if s.name == "modsys_http_request_duration_seconds_count"}
        healthz = (("endpoint", "ops.healthz"), ("method", "GET"), ("status", "200"))
        # Served by four processes, two of them gone: every request is counted.
        assert count[healthz] == server.healthz_served >= 12, text
        assert "modsys_database_up 1.0" in text
        ready = json.loads(server.get("/readyz")[2])
        assert ready["status"] == "degraded" and ready["checks"]["database"]["ok"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    lines = [json.loads(line) for line in log().splitlines()]  # every line is a JSON object
    access = [line for line in lines if line["logger"] == "modsys.access"]
    assert [(a["rule"], a["request_id"]) for a in access] == [("/login", headers["X-Request-Id"])]
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
    assert GOOD_KEY not in log()


def test_gunicorn_refuses_unsafe_production_settings_before_forking(tmp_path):
    env = {**os.environ, "MODSYS_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
           "MODSYS_BIND": f"127.0.0.1:{_free_port()}", "MODSYS_LOG_FORMAT": "json"}
    env.pop("SECRET_KEY", None)
    out = subprocess.run([sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    refusal = [json.loads(line) for line in out.stderr.splitlines() if "refusing" in line]
    assert refusal and refusal[0]["level"] == "CRITICAL" and "SECRET_KEY is not set" in refusal[0]["message"]
    assert "Booting worker" not in out.stderr and not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("extra, reason", [
    ({"WEB_CONCURRENCY": "2", "MODSYS_RATELIMIT_STORAGE": "memory://"}, "memory:// with 2 workers"),
    ({"WEB_CONCURRENCY": "1", "MODSYS_TRUSTED_PROXIES": "1", "MODSYS_BIND": ""}, "MODSYS_TRUSTED_PROXIES is set"),
])
def test_gunicorn_refuses_per_worker_rate_limits_and_spoofable_proxies_in_production(tmp_path, extra, reason):
    port = _free_port()
    env = {**os.environ, **PRODUCTION, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "MODSYS_ALLOW_SQLITE": "1",
           "MODSYS_BIND": f"127.0.0.1:{port}", "PORT": str(port), "MODSYS_LOG_FORMAT": "json", **extra}
    out = subprocess.run([sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and reason in out.stderr, out.stderr[-2000:]
    assert "Booting worker" not in out.stderr and not (tmp_path / "x.db").exists()


def test_appeal_link_tokens_are_redacted_from_every_log_line():
    from modsys.infra.logging_setup import Redactor

    token = "eyJhIjoxLCJtIjoxLCJlIjoxODExMjIyNTI2fQ.1aPGCV0Hz4LAgAsGBrR_HoAEFmQ"
    line = f'127.0.0.1 - - [30/Nov/2026 09:00:00] "GET /appeal/{token}/appeals/3 HTTP/1.1" 200 -'
    assert Redactor()(line) == '127.0.0.1 - - [30/Nov/2026 09:00:00] "GET /appeal/[redacted]/appeals/3 HTTP/1.1" 200 -'
    assert token not in Redactor()(f"Referer: https://mod.example/appeal/{token}")


def test_known_env_vars_cover_what_gunicorn_conf_reads():
    text = (REPO / "gunicorn.conf.py").read_text()
    read = set(re.findall(r"environ(?:\.get)?\(\s*[\"']([A-Z_]+)[\"']", text))
    assert read and read <= set(config_mod.KNOWN_ENV_VARS), read - set(config_mod.KNOWN_ENV_VARS)
