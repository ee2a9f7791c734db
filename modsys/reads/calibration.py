"""How well the toxicity thresholds match what people decided: one computation
for `modsys model evaluate` and the calibration card on /admin.

Labelled examples come from decisions, never from the model:
- a moderator's decision on a flag: actioned is toxic, dismissed is not;
- an appeal outcome on an action filed with automated detection (its
  statement of reasons says so): upheld or modified confirms it; overturned
  makes that flag not toxic, so an overturned auto-detected sanction counts
  as a false positive of every threshold its score crossed.

For each label we report precision and recall of the policy's threshold, and
the lowest threshold whose precision reaches the target (so recall is as high
as that precision allows). Scores of a shadow candidate are kept apart and
compared on the same flags (`compare`). Per language (`by_language`), the
priority mark (any label over that language's thresholds) is checked the
same way, so a community sees where a model is weak before trusting it.
The numbers say how the model ranks; moderators still decide every case."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from modsys.domain.models import (
    Action,
    Appeal,
    AppealOutcome,
    Flag,
    FlagStatus,
    StatementOfReasons,
    ToxicityScore,
)
from modsys.domain.policy import Policy


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
    decided: int  # labelled flags with a score from this source
    actioned: int  # of which toxic
    target_precision: float
    labels: list[LabelReport]
    overturned: int = 0  # auto-detected sanctions overturned on appeal (negatives)
    source: str = "live"  # "live", or "model/backend (shadow)" in a comparison


@dataclass(frozen=True)
class Examples:
    toxic: dict[int, bool]  # flag id -> the decisions' label
    from_flags: int  # moderators' decisions on flags
    from_appeals: int  # appeal outcomes on auto-detected actions
    overturned: frozenset[int]  # flags whose auto-detected sanction was overturned


def labelled_examples(session: Session, community_id: int) -> Examples:
    toxic = {
        flag_id: status == FlagStatus.actioned
        for flag_id, status in session.exec(
            select(Flag.id, Flag.status)
            .where(Flag.community_id == community_id, Flag.status.in_((FlagStatus.actioned, FlagStatus.dismissed)))
        )
    }
    from_flags = len(toxic)
    appeals = session.exec(
        select(Action.flag_id, Appeal.outcome)
        .join(Appeal, Appeal.action_id == Action.id)
        .join(StatementOfReasons, StatementOfReasons.action_id == Action.id)
        .where(Action.community_id == community_id, Action.flag_id.is_not(None),
               StatementOfReasons.automated_detection.is_(True), Appeal.outcome.is_not(None))
        .order_by(Appeal.decided_at, Appeal.id)  # the last decision on a flag's action wins
    ).all()
    outcome_of = {flag_id: outcome for flag_id, outcome in appeals}
    for flag_id, outcome in outcome_of.items():
        toxic[flag_id] = outcome != AppealOutcome.overturned
    overturned = frozenset(f for f, o in outcome_of.items() if o == AppealOutcome.overturned)
    return Examples(toxic, from_flags, len(outcome_of), overturned)


def _pr(pairs: list[tuple[float, bool]], threshold: float) -> tuple[float | None, float | None]:
    positives = sum(1 for _, y in pairs if y)
    predicted = [y for s, y in pairs if s >= threshold]
    precision = sum(predicted) / len(predicted) if predicted else None
    recall = sum(predicted) / positives if positives else None
    return precision, recall


def _report(scores: dict[int, dict[str, float]], examples: Examples, policy: Policy, target_precision: float,
            source: str) -> Calibration:
    labelled = {flag_id: (labels, examples.toxic[flag_id]) for flag_id, labels in scores.items()}
    names = sorted({name for labels, _ in labelled.values() for name in labels} | set(policy.toxicity.thresholds))
    reports = []
    for name in names:
        pairs = [(labels.get(name, 0.0), y) for labels, y in labelled.values()]
        threshold = policy.toxicity.thresholds.get(name)
        precision, recall = _pr(pairs, threshold) if threshold is not None else (None, None)
        suggested = suggested_recall = None
        for candidate in sorted({s for s, _ in pairs}):  # lowest threshold first: most recall
            p, r = _pr(pairs, candidate)
            if p is not None and p >= target_precision:
                suggested, suggested_recall = round(candidate, 4), r
                break
        reports.append(LabelReport(name, threshold, precision, recall, suggested, suggested_recall))
    return Calibration(len(labelled), sum(1 for _, y in labelled.values() if y), target_precision, reports,
                       len(examples.overturned & labelled.keys()), source)


Source = tuple[str, str, bool]  # (model, backend, shadow)


def _scores(session: Session, community_id: int, flag_ids: set[int]) -> tuple[dict[int, dict[str, float]], dict[Source, dict[int, dict[str, float]]]]:
    """(live scores, scores per source) of the labelled flags; a flag's latest score wins."""
    rows = session.exec(
        select(ToxicityScore.flag_id, ToxicityScore.model_name, ToxicityScore.backend, ToxicityScore.shadow,
               ToxicityScore.labels)
        .join(Flag, Flag.id == ToxicityScore.flag_id)
        .where(Flag.community_id == community_id)
        .order_by(ToxicityScore.id)
    ).all()
    live: dict[int, dict[str, float]] = {}
    by_source: dict[Source, dict[int, dict[str, float]]] = {}
    for flag_id, model, backend, shadow, labels in rows:
        if flag_id in flag_ids:
            by_source.setdefault((model, backend, shadow), {})[flag_id] = labels
            if not shadow:
                live[flag_id] = labels
    return live, by_source


def calibrate(session: Session, community_id: int, policy: Policy, target_precision: float = 0.9) -> Calibration:
    """The live scores (each flag's latest non-shadow score) against the decisions."""
    examples = labelled_examples(session, community_id)
    live, by_source = _scores(session, community_id, set(examples.toxic))
    return _report(live, examples, policy, target_precision, _live_name(by_source))


@dataclass(frozen=True)
class LanguageReport:
    language: str  # ISO 639-1, or "unknown" (not detected nor declared)
    decided: int  # labelled flags with a live score
    actioned: int  # of which toxic
    precision: float | None  # of the priority mark; None: nothing was marked
    recall: float | None  # None: nothing toxic yet
    low_confidence: int  # scored by the fallback, language unsure or without a model of its own
    models: tuple[str, ...]


def by_language(session: Session, community_id: int, policy: Policy) -> list[LanguageReport]:
    """Precision and recall of the priority mark per language, against decisions
    and appeal outcomes; most decided first."""
    examples = labelled_examples(session, community_id)
    live, _ = _scores(session, community_id, set(examples.toxic))
    models = {flag_id: model for flag_id, model in session.exec(
        select(ToxicityScore.flag_id, ToxicityScore.model_name)
        .join(Flag, Flag.id == ToxicityScore.flag_id)
        .where(Flag.community_id == community_id, ToxicityScore.shadow.is_(False)).order_by(ToxicityScore.id))}
    groups: dict[str, list[tuple[bool, bool, bool, str]]] = {}
    for flag_id, language, low in session.exec(
        select(Flag.id, Flag.language, Flag.low_confidence).where(Flag.community_id == community_id)
    ):
        if flag_id in live:
            thresholds = policy.toxicity.thresholds_for(language)
            marked = any(live[flag_id].get(label, 0.0) >= limit for label, limit in thresholds.items())
            groups.setdefault(language or "unknown", []).append(
                (marked, examples.toxic[flag_id], low, models.get(flag_id, "")))
    reports = []
    for language, rows in groups.items():
        marked = [toxic for m, toxic, _, _ in rows if m]
        positives = sum(toxic for _, toxic, _, _ in rows)
        reports.append(LanguageReport(
            language, len(rows), positives,
            sum(marked) / len(marked) if marked else None,
            sum(marked) / positives if positives else None,
            sum(low for _, _, low, _ in rows), tuple(sorted({m for *_, m in rows if m}))))
    return sorted(reports, key=lambda r: (-r.decided, r.language))


def _live_name(by_source: dict[Source, dict]) -> str:
    used = sorted(f"{model}/{backend}" for model, backend, shadow in by_source if not shadow)
    return f"live ({', '.join(used)})" if used else "live"


def evaluation(session: Session, community_id: int, policy: Policy, target_precision: float = 0.9) -> list[Calibration]:
    """[live] without a shadow candidate's scores; else the live scores and
    every shadow candidate's on the flags all of them scored, so the numbers
    are comparable before switching. The CLI and /admin both show this."""
    examples = labelled_examples(session, community_id)
    live, by_source = _scores(session, community_id, set(examples.toxic))
    shadows = {f"{model}/{backend} (shadow)": s for (model, backend, shadow), s in sorted(by_source.items()) if shadow}
    if not shadows:
        return [_report(live, examples, policy, target_precision, _live_name(by_source))]
    common = set(live).intersection(*shadows.values())
    return [_report({f: scores[f] for f in common}, examples, policy, target_precision, source)
            for source, scores in {_live_name(by_source): live, **shadows}.items()]
