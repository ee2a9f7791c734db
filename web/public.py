"""Pages anyone may read: official statements, the transparency numbers and the
optional public moderation log.

Transparency URLs: `/c/<slug>/transparency` for any community, and `/transparency`
for the default one (a deployment that serves one community needs no slug)."""

import threading
import time

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
)

from modsys.community import default_community, policy_for
from modsys.domain.policy import PublicLog
from modsys.reads import query_args
from modsys.reads.export.csvsafe import write_csv
from modsys.reads.export.transparency import (
    DEFINITIONS,
    TransparencyReport,
    public_log,
    transparency_report,
)
from modsys.reads.queries import statements as list_statements
from web.charts import bar_chart, format_value, plotted, series_label
from web.context import db

bp = Blueprint("public", __name__)
FRESH_S = 300  # the numbers move by the month; five minutes is fresh enough
CACHE = f"public, max-age={FRESH_S}"
_lock = threading.Lock()


def _report(community_id: int) -> TransparencyReport:
    """The report, computed at most once per community every FRESH_S seconds per
    process: at 1M actions it reads every action of a year (bench/queries.py)."""
    cache = current_app.extensions.setdefault("modsys.transparency", {})
    with _lock:  # one computation at a time: a burst of visitors waits for the first
        hit = cache.get(community_id)
        if hit is None or time.monotonic() - hit[0] > FRESH_S:
            hit = (time.monotonic(), transparency_report(db(), community_id))
            cache[community_id] = hit
    return hit[1]


@bp.route("/statements")
def statements():
    """`?community=SLUG` picks the community; without it, the default (or only) one."""
    community = default_community(db(), query_args.text(request.args, "community", 64) or None)
    return render_template("statements.html", statements=list_statements(db(), community.id),
                           public_community=community)


def _community(slug: str | None):
    return default_community(db(), slug)


def _log_enabled(community) -> bool:
    return policy_for(db(), community.id).transparency.public_log == PublicLog.anonymised


@bp.route("/transparency", defaults={"slug": None})
@bp.route("/c/<slug>/transparency")
def transparency(slug: str | None):
    community = _community(slug)
    report = _report(community.id)
    charts = {s.id: bar_chart(s, report.months) for s in report.sections}
    response = Response(render_template(
        "transparency.html", report=report, charts=charts, definitions=DEFINITIONS, plotted=plotted,
        series_label=series_label, fmt=format_value, slug=slug, log_enabled=_log_enabled(community)))
    response.headers["Cache-Control"] = CACHE
    return response


@bp.route("/transparency.csv", defaults={"slug": None})
@bp.route("/c/<slug>/transparency.csv")
def transparency_csv(slug: str | None):
    report = _report(_community(slug).id)
    body = write_csv(["month", "metric", "key", "value"],
                     ((m, metric, key, "" if v is None else v) for m, metric, key, v in report.rows()))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="transparency-{report.slug}.csv"', "Cache-Control": CACHE})


@bp.route("/transparency.json", defaults={"slug": None})
@bp.route("/c/<slug>/transparency.json")
def transparency_json(slug: str | None):
    response = jsonify(_report(_community(slug).id).as_json())
    response.headers["Cache-Control"] = CACHE
    return response


@bp.route("/transparency/log", defaults={"slug": None})
@bp.route("/c/<slug>/transparency/log")
def moderation_log(slug: str | None):
    community = _community(slug)
    if not _log_enabled(community):
        abort(404, "This community does not publish a moderation log (policy: transparency.public_log).")
    return render_template("transparency_log.html", community=community, entries=public_log(db(), community.id),
                           slug=slug)
