"""Who may report, and how much their reports weigh.

Misuse (EU DSA Art. 23): a reporter whose reports are repeatedly dismissed is first
warned, then suspended from reporting for a while. The thresholds are policy
(`reporting:`); the check sits here, in the service layer, so every way in (API,
web, Discord) refuses the same way. A reporter is `FlagReport.reporter_key`: the
source that relayed the report and the reporter's id there.

Accuracy: (actioned + 1) / (resolved + 2) over the policy's lookback, Laplace's
rule of succession. A reporter with no history counts 0.5; ten actioned reports
out of ten count 11/12 (0.92), ten dismissed 1/12 (0.08). A flag's weight is the
sum over its reporters, taken when each reports; the queue sorts by it after the
model's score, so among flags the model does not separate (unscored, other
languages, pending) three accurate reporters outrank ten who are usually wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from modsys import audit
from modsys.community import policy_for
from modsys.domain import clock
from modsys.domain.actors import Actor
from modsys.domain.errors import PermissionDenied
from modsys.domain.models import Flag, FlagReport, FlagStatus, ReporterStanding
from modsys.domain.policy import Reporting, format_duration


class ReportingSuspended(PermissionDenied):
    pass


@dataclass(frozen=True)
class Record:
    actioned: int = 0
    dismissed: int = 0

    @property
    def resolved(self) -> int:
        return self.actioned + self.dismissed

    @property
    def accuracy(self) -> float:
        return (self.actioned + 1) / (self.resolved + 2)


def records(session: Session, community_id: int, keys: list[str], since: datetime) -> dict[str, Record]:
    """Each reporter's resolved reports since `since`, in one grouped query."""
    if not keys:
        return {}
    count = lambda status: sa.func.sum(sa.case((Flag.status == status, 1), else_=0))  # noqa: E731
    q = (select(FlagReport.reporter_key, count(FlagStatus.actioned), count(FlagStatus.dismissed))
         .join(Flag, Flag.id == FlagReport.flag_id)
         .where(Flag.community_id == community_id, FlagReport.reporter_key.in_(keys),  # type: ignore[attr-defined]
                FlagReport.created_at >= since)
         .group_by(FlagReport.reporter_key))
    return {key: Record(int(a or 0), int(d or 0)) for key, a, d in session.exec(q)}


def standing(session: Session, community_id: int, key: str) -> ReporterStanding | None:
    return session.exec(select(ReporterStanding).where(ReporterStanding.community_id == community_id,
                                                       ReporterStanding.reporter_key == key)).first()


def admit_reporter(session: Session, community_id: int, key: str) -> float:
    """Refuse a suspended reporter with the reason and the end; else their weight."""
    rules = policy_for(session, community_id).reporting
    now = clock.now()
    row = standing(session, community_id, key)
    if row is not None and row.suspended_until is not None and row.suspended_until > now:
        raise ReportingSuspended(
            f"Reporting is suspended for you until {row.suspended_until:%Y-%m-%d %H:%M} UTC: {row.dismissed} of "
            f"your {row.resolved} reports in the last {format_duration(rules.lookback)} were dismissed as "
            f"unfounded, after a warning (EU Digital Services Act, Art. 23). You can appeal this to the moderators.")
    return records(session, community_id, [key], now - rules.lookback).get(key, Record()).accuracy


def warning_for(session: Session, community_id: int, key: str) -> str | None:
    """The warning to show a reporter who was warned within the lookback, if any."""
    row = standing(session, community_id, key)
    rules = policy_for(session, community_id).reporting
    if row is None or row.warned_at is None or row.warned_at < clock.now() - rules.lookback:
        return None
    return (f"Warning: {row.dismissed} of your {row.resolved} reports in the last {format_duration(rules.lookback)} "
            f"were dismissed as unfounded. With {rules.suspend_after_dismissed} dismissed reports, reporting will "
            f"be suspended for {format_duration(rules.suspension)} (EU Digital Services Act, Art. 23).")


def _misusing(record: Record, threshold: int, rules: Reporting) -> bool:
    return record.dismissed >= threshold and record.dismissed >= rules.min_dismissed_share * record.resolved


def review_reporters(session: Session, actor: Actor, flag: Flag) -> None:
    """After a flag was dismissed: warn, or after a warning suspend, its reporters
    who crossed the policy's thresholds. Runs inside the dismissing service's transaction."""
    rules = policy_for(session, flag.community_id).reporting
    now = clock.now()
    keys = list(session.exec(select(FlagReport.reporter_key).where(FlagReport.flag_id == flag.id)))
    for key, record in records(session, flag.community_id, keys, now - rules.lookback).items():
        row = standing(session, flag.community_id, key)
        warned = row is not None and row.warned_at is not None and row.warned_at >= now - rules.lookback
        suspended = row is not None and row.suspended_until is not None and row.suspended_until > now
        if suspended or not _misusing(record, rules.warn_after_dismissed, rules):
            continue
        row = row or ReporterStanding(community_id=flag.community_id, reporter_key=key, updated_at=now)
        row.dismissed, row.resolved, row.updated_at = record.dismissed, record.resolved, now
        if warned and _misusing(record, rules.suspend_after_dismissed, rules):
            row.suspended_until, row.suspensions = now + rules.suspension, row.suspensions + 1
            verb, data = "reporter.suspended", {"until": row.suspended_until}
        elif not warned:
            row.warned_at = now
            verb, data = "reporter.warned", {}
        else:
            continue  # warned, not yet at the suspension threshold
        session.add(row)
        session.flush()
        audit.record(session, actor, verb, row, {"reporter": key, "dismissed": record.dismissed,
                                                 "resolved": record.resolved, **data})


@dataclass(frozen=True)
class MisuseNumbers:
    warned: int  # warned within the lookback
    suspended_now: int
    suspensions_total: int
    suspended: list[ReporterStanding]


def misuse_numbers(session: Session, community_id: int) -> MisuseNumbers:
    """For /admin."""
    rules = policy_for(session, community_id).reporting
    now = clock.now()
    where = ReporterStanding.community_id == community_id
    warned, total = session.exec(select(
        sa.func.count().filter(ReporterStanding.warned_at >= now - rules.lookback),  # type: ignore[operator]
        sa.func.coalesce(sa.func.sum(ReporterStanding.suspensions), 0)).where(where)).one()
    suspended = list(session.exec(select(ReporterStanding).where(where, ReporterStanding.suspended_until > now)  # type: ignore[operator]
                                  .order_by(ReporterStanding.suspended_until.desc())))  # type: ignore[union-attr]
    return MisuseNumbers(int(warned), len(suspended), int(total), suspended)
