"""Operations endpoints: liveness, readiness, Prometheus metrics; plus per-request
timing and one access-log line per request.

    /healthz   the process answers (no database): for restarts
    /readyz    database, policy and toxicity model checks, as JSON: for routing
    /metrics   Prometheus text format: request latency per endpoint, and gauges
               read from the database at scrape time (queues, SLAs, outbox)

Under gunicorn each worker is a process with its own counters; with
PROMETHEUS_MULTIPROC_DIR set, prometheus_client keeps them in files there and a
scrape (served by any one worker) adds them all up. The database gauges need no
such care: every scrape reads them fresh from the database.

These endpoints carry operational counts, not personal data, but keep them off
the public internet anyway (see docs/production.md).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from datetime import timedelta
from functools import lru_cache
from typing import Any, Iterator

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify, request
from prometheus_client import (
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.process_collector import PROCESS_COLLECTOR
from sqlmodel import Session

from modsys import audit
from modsys.domain import clock, events
from modsys.domain.models import AppealStatus, Channel, OutboxStatus
from modsys.reads import ops_stats
from web.context import state

bp = Blueprint("ops", __name__)
access_log = logging.getLogger("modsys.access")
log = logging.getLogger(__name__)

_START = "modsys.request_start"
OPS_ENDPOINTS = ("ops.healthz", "ops.readyz", "ops.metrics")  # probes: timed, not access-logged
DB_CHECK_TIMEOUT_MS = 2000
SCORING_WINDOW = timedelta(hours=1)
# toxicityscore.created_at has no index; the window is found through the
# indexed flag.created_at instead, bounded to flags of the last day (a flag
# waiting longer than that shows in modsys_flags_unscored_oldest_age_seconds).
SCORING_FLAG_LOOKBACK = timedelta(hours=24)
QUANTILES = (0.5, 0.9, 0.99, 1.0)

disable_created_metrics()  # no `_created` series: they double the output and nobody graphs them

# Request metrics live in their own registry so each scrape can combine them
# with fresh database gauges (and so repeated create_app calls don't re-register).
_REQUEST_REGISTRY = CollectorRegistry(auto_describe=True)
REQUEST_LATENCY = Histogram(
    "modsys_http_request_duration_seconds",
    "Time to produce a response, by Flask endpoint (not path: paths carry tokens and ids).",
    ("endpoint", "method", "status"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=_REQUEST_REGISTRY,
)


def _multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# --- per-request timing and access log ----------------------------------------


class _StampStart:
    """WSGI wrapper that notes when a request arrived, before any before_request
    hook (the rate limiter's 429s and early redirects are timed too)."""

    def __init__(self, wsgi_app: Any):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Any) -> Any:
        environ[_START] = time.perf_counter()
        return self.wsgi_app(environ, start_response)


@bp.record_once
def _install(setup_state: Any) -> None:
    setup_state.app.wsgi_app = _StampStart(setup_state.app.wsgi_app)


@bp.after_app_request
def _observe(response: Response) -> Response:
    start = request.environ.get(_START)
    if start is None:
        return response
    elapsed = time.perf_counter() - start
    endpoint = request.endpoint or "<unmatched>"  # bounded label set: 404s share one
    REQUEST_LATENCY.labels(endpoint, request.method, str(response.status_code)).observe(elapsed)
    if endpoint not in OPS_ENDPOINTS:
        rule = request.url_rule.rule if request.url_rule else "<unmatched>"
        # The route pattern, never the path or query: appeal links carry their token in the path.
        access_log.info("%s %s %s %.1fms", request.method, rule, response.status_code, elapsed * 1000,
                        extra={"method": request.method, "endpoint": endpoint, "rule": rule,
                               "status": response.status_code, "duration_ms": round(elapsed * 1000, 2)})
    return response


@bp.teardown_app_request
def _forget_request_id(_exc: BaseException | None) -> None:
    # Worker threads are reused: don't let the last request's id stick to later logs.
    audit.request_id.set(None)


# --- liveness and readiness ---------------------------------------------------


@bp.get("/healthz")
def healthz():
    """The process is up and serving; touches nothing else."""
    return jsonify(status="ok")


def _error_text(e: BaseException) -> str:
    from modsys.infra.logging_setup import Redactor

    detail = str(getattr(e, "orig", None) or e).strip().splitlines()
    return Redactor.from_environ()(f"{type(e).__name__}: {detail[0] if detail else ''}")[:300]


@lru_cache(maxsize=1)
def _known_revisions() -> tuple[str | None, frozenset[str]]:
    # Parsing the scripts once per process is enough: they ship with the code.
    from alembic.script import ScriptDirectory

    from modsys.infra.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    return scripts.get_current_head(), frozenset(s.revision for s in scripts.walk_revisions())


def _check_database(engine: sa.Engine) -> dict[str, Any]:
    from modsys.infra.migrate import current_revision

    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {DB_CHECK_TIMEOUT_MS}")
            conn.exec_driver_sql("SELECT 1").scalar_one()
            revision = current_revision(conn)
    except Exception as e:  # any failure means "not ready"; say which
        log.warning("readiness: database check failed", exc_info=True)
        return {"ok": False, "error": _error_text(e)}
    result: dict[str, Any] = {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                              "schema_revision": revision}
    head, known = _known_revisions()
    if revision is None:
        result["note"] = "schema not under migrations (built by create_all: embedded mode or tests)"
    elif revision != head and revision in known:
        # The code expects columns the database doesn't have yet.
        result.update(ok=False, error=f"schema is at {revision}, this code needs {head}: run `modsys db upgrade`")
    elif revision not in known:
        result["note"] = f"schema revision {revision} is newer than this code (head {head}): a deploy in progress?"
    return result


STORAGE_FAILURE_HOLD = 60  # seconds /readyz stays red after a write was refused for want of storage
_WRITE_PROBE = "UPDATE audithead SET seq = seq WHERE id = 1"  # a write that changes nothing, rolled back


def _check_storage(st: Any) -> dict[str, Any]:
    """Can the database store anything? A write that changes nothing, rolled
    back, finds a read-only database; a full disk shows only when a real write
    grows a file, so a recent refusal of one (web.security) keeps this red too."""
    from web.security import storage_problem

    try:
        with st.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                conn.exec_driver_sql("PRAGMA busy_timeout = 200")  # a busy writer proves writes work
            else:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {DB_CHECK_TIMEOUT_MS}")
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {DB_CHECK_TIMEOUT_MS}")
            try:
                conn.exec_driver_sql(_WRITE_PROBE)
            finally:
                conn.rollback()
                if sqlite:
                    conn.exec_driver_sql("PRAGMA busy_timeout = 30000")  # modsys.infra.db's, for the pool
                    conn.rollback()
    except Exception as e:
        problem = storage_problem(e)
        if problem is None and "locked" not in str(e).lower() and "lock timeout" not in str(e).lower():
            log.warning("readiness: write probe failed", exc_info=True)
            return {"ok": False, "error": _error_text(e)}
        if problem is not None:
            return {"ok": False, "error": f"the database can't store anything: {problem}"}
    if st.storage_failure is not None:
        at, problem = st.storage_failure
        ago = time.monotonic() - at
        if ago < STORAGE_FAILURE_HOLD:
            return {"ok": False, "error": f"a write was refused {ago:.0f} s ago: {problem}"}
    return {"ok": True}


def _check_policies(session: Session) -> tuple[dict[str, Any], set[str]]:
    from modsys.community import policy_for
    from modsys.domain.errors import PolicyError
    from modsys.domain.policy import policy_problem

    communities = ops_stats.communities(session)
    if not communities:
        return {"ok": False, "error": "no community: run `modsys init`"}, set()
    loaded, models, problems = {}, set(), []
    for community in communities:
        try:
            policy = policy_for(session, community.id)
        except Exception as e:  # PolicyError, or the file vanished
            problems.append(f"{community.slug}: {_error_text(e)}")
            continue
        loaded[community.slug] = {"version": policy.version[:12], "label": policy.label}
        if stale := policy_problem(community.policy_path):
            loaded[community.slug]["file_problem"] = _error_text(PolicyError(stale))
        models.add(policy.toxicity.model)
    result: dict[str, Any] = {"ok": not problems, "communities": loaded}
    if any("file_problem" in c for c in loaded.values()):
        result["degraded"] = True  # a broken edit on disk: the last good version serves; still ready
    if problems:
        result["error"] = "; ".join(problems)
    return result, models


def _check_models(model_dir: Any, models: set[str], required: bool) -> dict[str, Any]:
    """Installed and not known to be broken. The web process never loads a
    model (scoring is the worker's job; loading torch into every web worker
    would cost hundreds of MB each), so this reads the manifest only and
    reports a failure this process met while loading, if it ever tried."""
    from modsys.runtime.scoring import model_problem

    status: dict[str, Any] = {}
    for model in sorted(models):
        reason = model_problem(model_dir, model)
        status[model] = {"installed": reason is None, **({"reason": reason} if reason else {})}
    usable = all(m["installed"] for m in status.values())
    # Without a model, flags queue for humans unscored: degraded, still serving,
    # unless the operator said the model is required.
    return {"ok": usable or not required, "degraded": not usable, "required": required,
            "model_dir": str(model_dir), "models": status}


@bp.get("/readyz")
def readyz():
    st = state()
    checks: dict[str, Any] = {"database": _check_database(st.engine)}
    if checks["database"]["ok"]:
        checks["storage"] = _check_storage(st)
    models: set[str] = set()
    if checks["database"]["ok"]:
        with Session(st.engine) as session:
            try:
                checks["policy"], models = _check_policies(session)
            except Exception as e:
                checks["policy"] = {"ok": False, "error": _error_text(e)}
    else:
        checks["policy"] = {"ok": False, "error": "skipped: database unreachable"}
    if models:
        checks["model"] = _check_models(st.settings.model_dir, models, st.settings.require_model)
    else:
        checks["model"] = {"ok": not st.settings.require_model, "degraded": True,
                           "error": "skipped: no policy loaded to name the model"}
    ready = all(c["ok"] for c in checks.values())
    status = ("degraded" if any(c.get("degraded") for c in checks.values()) else "ready") if ready else "not_ready"
    return jsonify(status=status, checks=checks), 200 if ready else 503


# --- metrics ------------------------------------------------------------------


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted, non-empty list."""
    index = max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))
    return ordered[index]


class DatabaseCollector:
    """Gauges computed at scrape time with indexed COUNT queries. A database
    failure yields modsys_database_up 0 instead of a failed scrape."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def describe(self) -> list:
        return []  # nothing fixed to describe; don't run queries at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("modsys_database_up", "1 if the metrics queries succeeded.")
        started = time.perf_counter()
        try:
            with Session(self.engine) as session:
                families = list(self._families(session))
        except Exception:
            log.warning("metrics: database queries failed", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families
        took = GaugeMetricFamily("modsys_metrics_query_seconds", "Time the database gauges took to compute.")
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _families(self, session: Session) -> Iterator[GaugeMetricFamily]:
        now = clock.now()
        slugs = {c.id: c.slug for c in ops_stats.communities(session)}

        def per_community(name: str, doc: str, values: dict[int, int]) -> GaugeMetricFamily:
            # Every community gets a value, zeros included, so alerts see 0 rather than no data.
            family = GaugeMetricFamily(name, doc, labels=("community",))
            for community_id, slug in sorted(slugs.items()):
                family.add_metric([slug], values.get(community_id, 0))
            return family

        yield per_community("modsys_flags_open", "Flags waiting for a moderator.", ops_stats.open_flags(session))
        yield per_community("modsys_flags_unscored", "Flags waiting for the toxicity model (score_state pending).",
                            ops_stats.unscored_flags(session))
        family = GaugeMetricFamily("modsys_flags_unscored_oldest_age_seconds",
                                   "Age of the oldest flag still waiting for a score (0: none).")
        family.add_metric([], _age(ops_stats.oldest_unscored(session), now))
        yield family

        by_state = ops_stats.appeals_by_state(session)
        family = GaugeMetricFamily("modsys_appeals", "Appeals by state.", labels=("community", "state"))
        for community_id, slug in sorted(slugs.items()):
            for appeal_state in AppealStatus:
                family.add_metric([slug, appeal_state.value], by_state.get((community_id, appeal_state.value), 0))
        yield family

        review, leadership = ops_stats.overdue_appeals(session, now)
        family = GaugeMetricFamily("modsys_appeals_overdue", "Open appeals past their SLA, by stage.",
                                   labels=("community", "stage"))
        for community_id, slug in sorted(slugs.items()):
            family.add_metric([slug, "review"], review.get(community_id, 0))
            family.add_metric([slug, "leadership"], leadership.get(community_id, 0))
        yield family

        for status, name, doc in ((OutboxStatus.pending, "modsys_outbox_pending", "Notifications not yet delivered."),
                                  (OutboxStatus.dead, "modsys_outbox_dead", "Notifications given up on (dead letters)."),
                                  (OutboxStatus.skipped, "modsys_outbox_skipped",
                                   "Notifications that couldn't be made (no webhook, no key); retry after fixing.")):
            values: Counter[str] = Counter()  # the member's DMs: one label, not one per case
            for channel, count in ops_stats.outbox_by_channel(session, status).items():
                values[events.MEMBER if events.is_member_channel(channel) else channel] += count
            family = GaugeMetricFamily(name, doc, labels=("channel",))
            for channel in sorted({*Channel, events.MEMBER, *values}):
                family.add_metric([str(channel)], values.get(channel, 0))
            yield family
        family = GaugeMetricFamily("modsys_outbox_oldest_pending_age_seconds",
                                   "Age of the oldest undelivered notification (0: none).")
        family.add_metric([], _age(ops_stats.oldest_pending_outbox(session), now))
        yield family

        yield from self._scoring_latency(session, now)

    def _scoring_latency(self, session: Session, now: Any) -> Iterator[GaugeMetricFamily]:
        rows = ops_stats.scoring_times(session, now, SCORING_WINDOW, SCORING_FLAG_LOOKBACK)
        latencies = sorted(max(0.0, (scored - flagged).total_seconds()) for flagged, scored in rows)
        # Gauges, not a histogram: a sliding window's counts go down as well as
        # up, which rate() would misread as counter resets.
        family = GaugeMetricFamily("modsys_scoring_latency_seconds",
                                   "Flag created -> toxicity score stored, over scores of the last hour.",
                                   labels=("quantile",))
        for q in QUANTILES:
            if latencies:
                family.add_metric([str(q)], _quantile(latencies, q))
        yield family
        samples = GaugeMetricFamily("modsys_scoring_latency_samples", "Scores stored in the last hour.")
        samples.add_metric([], len(latencies))
        yield samples


def _age(when: Any, now: Any) -> float:
    return max(0.0, (now - when).total_seconds()) if when is not None else 0.0


@bp.get("/metrics")
def metrics():
    registry = CollectorRegistry(auto_describe=False)
    if _multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # every worker's request histograms, summed
    else:
        registry.register(REQUEST_LATENCY)
        registry.register(PROCESS_COLLECTOR)
    registry.register(DatabaseCollector(state().engine))
    return Response(generate_latest(registry), mimetype=None, content_type=CONTENT_TYPE_PLAIN_0_0_4)
