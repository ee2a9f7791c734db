"""How well the toxicity thresholds match what moderators decided.

Ground truth: a flag that was actioned is toxic, a dismissed one is not.
For each label we report precision and recall of the current threshold, and
the lowest threshold whose precision reaches the target (so recall is as high
as that precision allows). The numbers say how the model ranks; moderators
still decide every case."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from modsys.models import Flag, FlagStatus, ToxicityScore
from modsys.policy import Policy


@dataclass(frozen=True)
class LabelReport:
    label: str
    threshold: float | None
    precision: float | None  # None: the threshold flags nothing
    recall: float | None  # None: no actioned flags yet
    suggested: float | None  # None: no threshold reaches the target precision
    suggested_recall: float | None


@dataclass(frozen=True)
class Calibration:
    decided: int
    actioned: int
    target_precision: float
    labels: list[LabelReport]


def _pr(pairs: list[tuple[float, bool]], threshold: float) -> tuple[float | None, float | None]:
    positives = sum(1 for _, y in pairs if y)
    predicted = [y for s, y in pairs if s >= threshold]
    precision = sum(predicted) / len(predicted) if predicted else None
    recall = sum(predicted) / positives if positives else None
    return precision, recall


def calibrate(session: Session, community_id: int, policy: Policy, target_precision: float = 0.9) -> Calibration:
    rows = session.exec(
        select(ToxicityScore.flag_id, ToxicityScore.labels, Flag.status)
        .join(Flag, Flag.id == ToxicityScore.flag_id)
        .where(Flag.community_id == community_id, Flag.status.in_((FlagStatus.actioned, FlagStatus.dismissed)))
        .order_by(ToxicityScore.flag_id, ToxicityScore.id)
    ).all()
    latest = {flag_id: (labels, status == FlagStatus.actioned) for flag_id, labels, status in rows}  # last score wins
    names = sorted({name for labels, _ in latest.values() for name in labels} | set(policy.toxicity.thresholds))
    reports = []
    for name in names:
        pairs = [(labels.get(name, 0.0), y) for labels, y in latest.values()]
        threshold = policy.toxicity.thresholds.get(name)
        precision, recall = _pr(pairs, threshold) if threshold is not None else (None, None)
        suggested = suggested_recall = None
        for candidate in sorted({s for s, _ in pairs}):  # lowest threshold first: most recall
            p, r = _pr(pairs, candidate)
            if p is not None and p >= target_precision:
                suggested, suggested_recall = round(candidate, 4), r
                break
        reports.append(LabelReport(name, threshold, precision, recall, suggested, suggested_recall))
    return Calibration(len(latest), sum(1 for _, y in latest.values() if y), target_precision, reports)
