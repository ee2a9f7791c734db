"""Public transparency numbers of one community: per calendar month (UTC) of the
last 12, set-based SQL that runs the same on SQLite and PostgreSQL.

Counts only, and no personal data: no member, reporter or moderator appears.
Definitions (also shown on the page, in `DEFINITIONS`):
- actions: sanctions in force or once in force (not notes, not those still awaiting a
  second signature, not the lighter replacement an appeal puts in place: that one is
  counted under appeals, "modified"), by the month they were filed;
- by rule: an action citing two rules counts once under each;
- first decision: a moderator's decision on a flag (actioned or dismissed), from the
  report; final decision: the decision on an appeal, from its submission;
- review SLA missed: an appeal nobody reviewed in time, escalated by the scheduler;
  leadership SLA missed: an escalated appeal leadership had not decided by its due time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Iterable

import sqlalchemy as sa
from sqlmodel import Session, select

from modsys.domain import clock
from modsys.domain.models import (
    Action,
    ActionStatus,
    Appeal,
    AppealOutcome,
    Community,
    Flag,
    FlagStatus,
    StatementOfReasons,
)
from modsys.domain.policy import SanctionKind

MONTHS = 12

DEFINITIONS = {
    "actions": "Sanctions filed (warnings, timeouts, kicks, bans, unbans); notes and sanctions still awaiting "
               "a second signature are not counted.",
    "actions_by_rule": "Sanctions by the rule they cite; a sanction citing two rules counts under each.",
    "automated_detection": "Share of the month's sanctions whose case involved automated detection "
                           "(the toxicity model flagged the message). A person decided every one.",
    "flags": "Reports of messages received, and the reports moderators acted on or dismissed that month.",
    "appeals": "Appeals filed, and appeals decided by outcome. Overturn rate: overturned / decided.",
    "time_to_decision": "Median hours from a report to the moderators' decision on it (first decision), "
                        "and from an appeal to its decision (final decision).",
    "escalations": "Appeals escalated to leadership; review SLA missed: appeals nobody reviewed in time "
                   "(escalated automatically); leadership SLA missed: escalated appeals not decided in time.",
}


@dataclass
class Series:
    metric: str  # e.g. "actions_by_kind"
    key: str  # e.g. "ban"; "" when the metric has one series
    unit: str  # "count", "share" (0..1) or "hours"
    values: dict[str, float | int | None]


@dataclass
class Section:
    id: str
    title: str
    series: list[Series]
    chart: str = "bars"  # "bars" (grouped counts) or "share"/"hours" (one scale 0..max)


@dataclass
class TransparencyReport:
    community: str
    slug: str
    months: list[str]
    generated_at: datetime
    sections: list[Section] = field(default_factory=list)

    def all_series(self) -> Iterable[Series]:
        for section in self.sections:
            yield from section.series

    def rows(self) -> list[tuple[str, str, str, Any]]:
        """(month, metric, key, value) for every number: the CSV, long format."""
        return [(m, s.metric, s.key, s.values.get(m)) for s in self.all_series() for m in self.months]

    def as_json(self) -> dict[str, Any]:
        return {
            "community": self.community, "slug": self.slug, "months": self.months,
            "generated_at": self.generated_at.isoformat(), "definitions": DEFINITIONS,
            "metrics": [{"metric": s.metric, "key": s.key, "unit": s.unit, "values": s.values}
                        for s in self.all_series()],
        }


# --- dialect helpers ------------------------------------------------------------------


def _month(dialect: str, col: Any) -> Any:
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", col), "YYYY-MM")
    return sa.func.strftime("%Y-%m", col)  # SQLite keeps UTC as naive text


def _seconds(dialect: str, start: Any, end: Any) -> Any:
    if dialect == "postgresql":
        return sa.func.extract("epoch", end - start)
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0


def _rules(dialect: str) -> Any:
    fn = sa.func.json_array_elements_text if dialect == "postgresql" else sa.func.json_each
    return fn(Action.rules).table_valued("value").alias("cited")


def months_back(now: datetime, n: int = MONTHS) -> list[str]:
    y, m = now.year, now.month
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


# --- the report ---------------------------------------------------------------------

# Every section and its series: (metric, key) pairs; key None = one series per key found
# (kinds, rules). The recount and the rollups assemble the same report from this.
_LAYOUT: list[tuple[str, str, str, list[tuple[str, str | None]]]] = [
    ("actions", "Actions by kind", "bars", [("actions_by_kind", None)]),
    ("actions_by_rule", "Actions by rule", "bars", [("actions_by_rule", None)]),
    ("automated_detection", "Automated detection", "share",
     [("actions", ""), ("automated_detection", ""), ("automated_detection_share", "")]),
    ("flags", "Reports (flags)", "bars", [("flags", "received"), ("flags", "actioned"), ("flags", "dismissed")]),
    ("appeals", "Appeals", "bars",
     [("appeals", "filed"), *[("appeals_decided", o.value) for o in AppealOutcome], ("overturn_rate", "")]),
    ("time_to_decision", "Median time to a decision (hours)", "hours",
     [("median_hours_to_first_decision", ""), ("median_hours_to_final_decision", "")]),
    ("escalations", "Escalations and missed deadlines", "bars",
     [("escalations", ""), ("sla_missed", "review"), ("sla_missed", "leadership")]),
]
UNITS = {"automated_detection_share": "share", "overturn_rate": "share",
         "median_hours_to_first_decision": "hours", "median_hours_to_final_decision": "hours"}

Values = dict[tuple[str, str], dict[str, float | int | None]]  # (metric, key) -> month -> value


def _kind_order(kinds: Iterable[str]) -> list[str]:
    found = set(kinds)
    return [k for k in SanctionKind if k != SanctionKind.note and k in found] + sorted(
        k for k in found if k not in set(SanctionKind))


def _assemble(community: Community, months: list[str], now: datetime, values: Values) -> TransparencyReport:
    r = TransparencyReport(community.name, community.slug, months, now)
    for section_id, title, chart, wanted in _LAYOUT:
        series = []
        for metric, key in wanted:
            keys = [key] if key is not None else sorted({k for m, k in values if m == metric})
            if metric == "actions_by_kind":
                keys = _kind_order(keys)
            for k in keys:
                unit = UNITS.get(metric, "count")
                found = values.get((metric, k), {})
                if unit == "count":
                    filled: dict[str, float | int | None] = {m: int(found.get(m) or 0) for m in months}
                else:
                    filled = {m: (None if found.get(m) is None else float(found[m])) for m in months}  # type: ignore[arg-type]
                series.append(Series(metric, k, unit, filled))
        r.sections.append(Section(section_id, title, series, chart=chart))
    return r


def _month_start(month: str) -> datetime:
    return datetime(int(month[:4]), int(month[5:]), 1, tzinfo=UTC)


def _next_month(month: str) -> datetime:
    y, m = int(month[:4]), int(month[5:])
    return datetime(y + (m == 12), 1 if m == 12 else m + 1, 1, tzinfo=UTC)


def recount_report(session: Session, community_id: int, *, now: datetime | None = None) -> TransparencyReport:
    """The report counted from the facts themselves (every row of the last 12 months):
    the reference the rollups must equal, and what the rollups are built with."""
    community = session.get(Community, community_id)
    if community is None:
        raise ValueError(f"community {community_id} does not exist")
    now = now or clock.now()
    months = months_back(now)
    return _assemble(community, months, now, count(session, community_id, months, _month_start(months[0]), now, now))


def count(session: Session, community_id: int, months: list[str], start: datetime, end: datetime,
          now: datetime) -> Values:
    """Every number for the months in [start, end] (set-based SQL, the same on SQLite and
    PostgreSQL); `now` decides which leadership deadlines have passed."""
    q = _Queries(session, community_id, start, end, months)
    v: Values = {}

    by_kind = q.grouped(Action.created_at, Action.kind, *q.counted_actions())
    for k, per_month in by_kind.items():
        v[("actions_by_kind", k)] = dict(per_month)
    cited = _rules(q.dialect)
    for rule, per_month in q.grouped(Action.created_at, cited.c.value, *q.counted_actions(), extra_from=cited).items():
        v[("actions_by_rule", rule)] = dict(per_month)

    total = {m: sum(by_kind[k].get(m, 0) for k in by_kind) for m in months}  # one pass over actions, not two
    automated = q.counts(Action.created_at, *q.counted_actions(), StatementOfReasons.automated_detection.is_(True),
                         join=(StatementOfReasons, StatementOfReasons.action_id == Action.id))
    v[("actions", "")] = total
    v[("automated_detection", "")] = automated
    v[("automated_detection_share", "")] = _share(automated, total, months)

    v[("flags", "received")] = q.counts(Flag.created_at, Flag.community_id == community_id)
    resolved = q.grouped(Flag.resolved_at, Flag.status, Flag.community_id == community_id,
                         Flag.status.in_([FlagStatus.actioned, FlagStatus.dismissed]))  # type: ignore[attr-defined]
    v[("flags", "actioned")] = resolved.get(FlagStatus.actioned, {})
    v[("flags", "dismissed")] = resolved.get(FlagStatus.dismissed, {})

    v[("appeals", "filed")] = q.counts(Appeal.submitted_at, Appeal.community_id == community_id)
    decided = q.grouped(Appeal.decided_at, Appeal.outcome, Appeal.community_id == community_id,
                        Appeal.outcome.is_not(None))  # type: ignore[union-attr]
    decided_total = {m: sum(decided.get(o, {}).get(m, 0) for o in AppealOutcome) for m in months}
    for o in AppealOutcome:
        v[("appeals_decided", o.value)] = decided.get(o, {})
    v[("overturn_rate", "")] = _share(decided.get(AppealOutcome.overturned, {}), decided_total, months)

    v[("median_hours_to_first_decision", "")] = q.median_hours(
        Flag.created_at, Flag.resolved_at, Flag.community_id == community_id,
        Flag.resolved_at.is_not(None))  # type: ignore[union-attr]
    v[("median_hours_to_final_decision", "")] = q.median_hours(
        Appeal.submitted_at, Appeal.decided_at, Appeal.community_id == community_id,
        Appeal.decided_at.is_not(None))  # type: ignore[union-attr]

    v[("escalations", "")] = q.counts(Appeal.escalated_at, Appeal.community_id == community_id)
    v[("sla_missed", "review")] = q.counts(Appeal.escalated_at, Appeal.community_id == community_id,
                                           Appeal.escalated_by_id.is_(None))  # type: ignore[union-attr]
    due = Appeal.leadership_due_at
    v[("sla_missed", "leadership")] = q.counts(
        due, Appeal.community_id == community_id, due <= now,  # type: ignore[operator]
        sa.or_(Appeal.decided_at.is_(None), Appeal.decided_at > due),  # type: ignore[union-attr]
        sa.or_(Appeal.withdrawn_at.is_(None), Appeal.withdrawn_at > due))  # type: ignore[union-attr]
    return v


def transparency_report(session: Session, community_id: int, *, now: datetime | None = None) -> TransparencyReport:
    """The report read from the rollups (modsys.reads.export.rollups): a few dozen rows, whatever
    the history. Rollups behind the audit chain are brought up to date first."""
    from modsys.reads.export.rollups import catch_up, read_rollups

    community = session.get(Community, community_id)
    if community is None:
        raise ValueError(f"community {community_id} does not exist")
    now = now or clock.now()
    engine = session.get_bind()
    catch_up(engine, now=now)  # type: ignore[arg-type]
    months = months_back(now)
    with Session(engine) as fresh:  # the caller's snapshot (SQLite) may predate the catch-up
        values = read_rollups(fresh, community_id, months)
    return _assemble(community, months, now, values)


def _share(part: dict[str, int], whole: dict[str, int], months: list[str]) -> dict[str, float | None]:
    return {m: (round(part.get(m, 0) / whole[m], 4) if whole.get(m) else None) for m in months}


@dataclass
class _Queries:
    session: Session
    community_id: int
    start: datetime
    end: datetime
    months: list[str]

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def counted_actions(self) -> tuple[Any, ...]:
        return (Action.community_id == self.community_id, Action.kind != SanctionKind.note,
                Action.status != ActionStatus.pending_cosign, Action.supersedes_id.is_(None))  # type: ignore[union-attr]

    def _window(self, col: Any) -> tuple[Any, ...]:
        return (col >= self.start, col <= self.end)

    def counts(self, col: Any, *where: Any, join: tuple | None = None) -> dict[str, int]:
        month = _month(self.dialect, col).label("month")
        q = sa.select(month, sa.func.count()).select_from(col.class_)
        if join is not None:
            q = q.join(*join)
        q = q.where(*where, *self._window(col)).group_by(month)
        return {m: n for m, n in self.session.execute(q)}

    def grouped(self, col: Any, key: Any, *where: Any, extra_from: Any = None) -> dict[str, dict[str, int]]:
        month = _month(self.dialect, col).label("month")
        q = sa.select(key, month, sa.func.count()).select_from(col.class_)
        if extra_from is not None:
            q = q.join(extra_from, sa.true())
        q = q.where(*where, *self._window(col)).group_by(key, month)
        out: dict[str, dict[str, int]] = {}
        for k, m, n in self.session.execute(q):
            out.setdefault(k, {})[m] = n
        return out

    def median_hours(self, start: Any, end: Any, *where: Any) -> dict[str, float | None]:
        """Median per month of `end` (the lower and upper middle averaged), with window
        functions: PostgreSQL's percentile_cont has no SQLite counterpart."""
        month = _month(self.dialect, end).label("month")
        d = (sa.select(month, _seconds(self.dialect, start, end).label("s")).select_from(end.class_)
             .where(*where, *self._window(end)).subquery())
        ranked = sa.select(
            d.c.month, d.c.s,
            sa.func.row_number().over(partition_by=d.c.month, order_by=d.c.s).label("rn"),
            sa.func.count().over(partition_by=d.c.month).label("cnt"),
        ).subquery()
        q = (sa.select(ranked.c.month, sa.func.avg(ranked.c.s))
             .where(sa.or_(ranked.c.rn == (ranked.c.cnt + 1) // 2, ranked.c.rn == (ranked.c.cnt + 2) // 2))
             .group_by(ranked.c.month))
        found = {m: round(float(s) / 3600, 2) for m, s in self.session.execute(q)}
        return {m: found.get(m) for m in self.months}


# --- the optional public moderation log -------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    case: int
    day: str
    measure: str
    rules: list[str]
    outcome: str  # "in force", "expired", "overturned on appeal", ...


_OUTCOMES = {ActionStatus.active: "in force", ActionStatus.expired: "ended", ActionStatus.revoked: "revoked",
             ActionStatus.overturned: "overturned on appeal", ActionStatus.modified: "reduced on appeal"}


def public_log(session: Session, community_id: int, *, limit: int = 200, now: datetime | None = None) -> list[LogEntry]:
    """Sanctions of the last 12 months, newest first: case number, measure, rules, day.
    Anonymised: nobody is named, and the measure is the statement's, not the member's."""
    now = now or clock.now()
    start = datetime(int(months_back(now)[0][:4]), int(months_back(now)[0][5:]), 1, tzinfo=UTC)
    q = (select(Action, StatementOfReasons.measure).join(StatementOfReasons, StatementOfReasons.action_id == Action.id)
         .where(Action.community_id == community_id, Action.kind != SanctionKind.note,
                Action.status != ActionStatus.pending_cosign, Action.created_at >= start)
         .order_by(Action.created_at.desc(), Action.id.desc()).limit(limit))  # type: ignore[attr-defined]
    return [LogEntry(a.id, a.created_at.date().isoformat(), measure, list(a.rules), _outcome(a, now))
            for a, measure in session.exec(q)]


def _outcome(action: Action, now: datetime) -> str:
    if action.status == ActionStatus.active and action.ends_at is not None and action.ends_at <= now:
        return _OUTCOMES[ActionStatus.expired]  # the expiry job may not have run yet
    return _OUTCOMES.get(action.status, action.status)  # type: ignore[call-overload]
