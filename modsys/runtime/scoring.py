"""The scoring worker: scores pending flags in batches and stores each score
with its model's provenance. A score over a policy threshold marks the flag
for priority (and, if the policy says so, announces it); it never files an action.

Claims are leases: a worker marks a batch as its own until `claimed_until`
(with FOR UPDATE SKIP LOCKED on PostgreSQL, so workers never wait on each
other), scores it with no transaction open, then stores results only for the
flags it still holds. A crashed worker's lease runs out and another worker
takes the flags; a slow worker whose lease ran out stores nothing. So no flag
is scored twice and none is lost.

Each flag's language (declared by the reporter, else detected by lingua)
picks its model and thresholds from the policy (`toxicity.routes`,
`fallback`, `thresholds_by_language`); a flag the fallback scored, or whose
language was unsure, is marked low confidence. A worker runs with bounded
threads (MODSYS_TORCH_THREADS, default 1) at lowered priority
(MODSYS_SCORING_NICE), so it never takes the cores the web needs; more
throughput comes from more workers, on this machine or others.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from modsys import audit
from modsys.community import policy_for
from modsys.domain import clock
from modsys.domain.actors import Actor
from modsys.domain.models import Flag, ScoreState, ToxicityScore
from modsys.domain.policy import Toxicity
from modsys.infra.config import Settings
from modsys.infra.db import writing
from modsys.services.flags import announce_priority
from modsys.toxicity import (
    ModelInfo,
    Scorer,
    get_scorer,
    scorer_unavailable_reason,
)
from modsys.toxicity.language import detect

log = logging.getLogger("modsys.runtime.scoring")
LEASE = timedelta(minutes=5)
SCORER = Actor("system", None, "scorer")


@dataclass(frozen=True)
class ScoringPlan:
    """What a worker scores with: the live model and backend, and an optional
    shadow candidate. Backends are requests in order (environment, policy);
    choose_backend settles them against what is installed."""

    model: str
    backends: tuple[str | None, ...] = ()
    shadow_model: str | None = None
    shadow_backends: tuple[str | None, ...] = ()


def plan_for(session, settings: Settings, community_id: int | None = None) -> ScoringPlan:
    """The plan of a community's policy (the default community's when None)."""
    from modsys.community import default_community

    toxicity = policy_for(session, community_id or default_community(session).id).toxicity
    shadow = toxicity.shadow
    return ScoringPlan(toxicity.model, (settings.toxicity_backend, toxicity.backend),
                       shadow.model if shadow else None, (shadow.backend,) if shadow else ())


def model_problem(model_dir, model: str) -> str | None:
    """Why flags can't be scored, or None. Reads the install manifest only (web
    processes never load torch) plus any load failure this process met; while
    the first-start download runs, says how far it got."""
    from modsys.toxicity import ModelError, locate
    from modsys.toxicity.fetch import progress_note

    try:
        locate(model_dir, model)
    except ModelError as e:
        return progress_note(model_dir, model) or str(e)
    return scorer_unavailable_reason(model_dir, model)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass(frozen=True)
class Claimed:
    id: int
    community_id: int
    content: str
    language: str | None


#: A model name -> the process's scorer for it, or None while it can't be used.
Scorers = Callable[[str], Scorer | None]
#: Claims grow up to this while a backlog lasts: length-sorted batches of a larger
#: claim are fuller (a claim of 32 chat messages made ~11 small batches).
MAX_CLAIM = 256


def claim(engine: Engine, owner: str, size: int) -> list[Claimed]:
    now = clock.now()
    with writing(engine) as session:
        rows = session.exec(
            select(Flag.id, Flag.community_id, Flag.content, Flag.language)
            .where(Flag.score_state == ScoreState.pending,
                   sa.or_(Flag.claimed_until.is_(None), Flag.claimed_until < now))
            .order_by(Flag.id).limit(size).with_for_update(skip_locked=True)
        ).all()
        if rows:
            session.execute(sa.update(Flag).where(Flag.id.in_([r[0] for r in rows]))
                            .values(claimed_by=owner, claimed_until=now + LEASE))
    return [Claimed(*r) for r in rows]


@dataclass(frozen=True)
class Routed:
    """Where one claimed flag goes: its language, and the model (None: left to humans)."""

    language: str | None
    model: str | None
    low_confidence: bool


def route(claimed: Claimed, toxicity: Toxicity) -> Routed:
    """A declared language (the reporter's) is taken as sure; otherwise lingua decides."""
    if claimed.language:
        language, confidence = claimed.language.replace("_", "-").split("-")[0], 1.0
    else:
        found = detect(claimed.content, toxicity.detection_languages())
        language, confidence = found.language, found.confidence
    chosen = toxicity.route(language, confidence)
    return Routed(language, chosen.model if chosen else None, chosen.low_confidence if chosen else False)


@dataclass(frozen=True)
class Outcome:
    routed: Routed
    state: str  # scored | empty | unsupported_language
    info: ModelInfo | None = None
    labels: dict[str, float] | None = None


def _over(labels: dict[str, float], thresholds: dict[str, float]) -> list[str]:
    return sorted(label for label, limit in thresholds.items() if labels.get(label, 0.0) >= limit)


def store(engine: Engine, owner: str, outcomes: dict[int, Outcome]) -> int:
    """Write what was computed for the flags this worker still holds; returns how many."""
    now = clock.now()
    events = []
    with writing(engine) as session:
        held = session.exec(select(Flag).where(Flag.id.in_(list(outcomes)), Flag.claimed_by == owner,
                                               Flag.score_state == ScoreState.pending)).all()
        policies = {cid: policy_for(session, cid) for cid in {f.community_id for f in held}}  # once per batch
        for flag in held:
            outcome = outcomes[flag.id]
            flag.claimed_by, flag.claimed_until = None, None
            flag.language = outcome.routed.language
            flag.low_confidence = outcome.routed.low_confidence
            labels, info = outcome.labels, outcome.info
            if labels is None or info is None:
                flag.score_state = outcome.state
                events.append((flag.id, flag.community_id, {"state": flag.score_state, "language": flag.language}))
                continue
            policy = policies[flag.community_id]
            over = _over(labels, policy.toxicity.thresholds_for(flag.language))
            top = max(labels, key=labels.__getitem__)
            session.add(_score_row(flag.id, info, labels, top, over, now))
            flag.score_state, flag.max_label, flag.max_score, flag.priority = ScoreState.scored, top, labels[top], bool(over)
            if over and policy.toxicity.announce_over_threshold:
                announce_priority(session, flag, over)
            events.append((flag.id, flag.community_id, {"model": info.name, "backend": info.backend,
                                                        "sha256": info.sha256[:16], "language": flag.language,
                                                        "low_confidence": flag.low_confidence,
                                                        "max_label": top, "max_score": round(labels[top], 4),
                                                        "over_threshold": over}))
        session.flush()
        if events:
            audit.record_many(session, SCORER, "flag.scored", "flag", events)
    return len(held)


def _score_row(flag_id: int, info, labels: dict[str, float], top: str, over: list[str], now: datetime,
               shadow: bool = False) -> ToxicityScore:
    return ToxicityScore(flag_id=flag_id, model_name=info.name, model_sha256=info.sha256,
                         package_version=info.package_version, labels=labels, max_label=top,
                         max_score=labels[top], over_threshold=over, created_at=now,
                         backend=info.backend, shadow=shadow)


def store_shadow(engine: Engine, scorer: Scorer, batch: list[Claimed], results: dict[int, dict[str, float] | None],
                 languages: dict[int, str | None]) -> int:
    """Store a shadow candidate's scores: comparison data only, the flag is untouched."""
    now = clock.now()
    with writing(engine) as session:
        rows = 0
        for c in batch:
            labels = results.get(c.id)
            if labels:
                top = max(labels, key=labels.__getitem__)
                thresholds = policy_for(session, c.community_id).toxicity.thresholds_for(languages.get(c.id))
                session.add(_score_row(c.id, scorer.info, labels, top, _over(labels, thresholds), now, shadow=True))
                rows += 1
    return rows


def single(scorer: Scorer) -> Scorers:
    """Scorers that know one model (tests, and the CLI when a scorer is given)."""
    return lambda model: scorer if model == scorer.info.name else None


def score_batch(engine: Engine, scorers: Scorers, owner: str, size: int = 32, shadow: Scorer | None = None) -> int:
    """Claim, route, score, store one batch; returns the number of flags it settled.

    Each flag's language picks its model (the policy's routes). Flags routed to
    a model that can't be used now stay claimed until the lease runs out, then
    another attempt picks them up: none is lost, none is scored by a model that
    wasn't chosen for it. A shadow scorer scores the scored flags afterwards,
    stored apart."""
    batch = claim(engine, owner, size)
    if not batch:
        return 0
    with writing(engine) as session:  # short; policies are cached by file
        policies = {cid: policy_for(session, cid).toxicity for cid in {c.community_id for c in batch}}
    routed = {c.id: route(c, policies[c.community_id]) for c in batch}
    outcomes: dict[int, Outcome] = {}
    by_model: dict[str, list[Claimed]] = {}
    for c in batch:
        r = routed[c.id]
        if r.model is None:
            outcomes[c.id] = Outcome(r, ScoreState.unsupported_language)
        else:
            by_model.setdefault(r.model, []).append(c)
    for model, flags in by_model.items():
        scorer = scorers(model)
        if scorer is None:
            log.warning("%d flags wait for toxicity model %r: %s", len(flags), model, scorer_unavailable_reason())
            continue
        for c, labels in zip(flags, scorer.score([c.content for c in flags])):
            labels = policies[c.community_id].map_labels(model, labels) if labels else None
            outcomes[c.id] = Outcome(routed[c.id], ScoreState.scored if labels else ScoreState.empty,
                                     scorer.info, labels)
    done = store(engine, owner, outcomes) if outcomes else 0
    if shadow is not None:
        candidates = [c for c in batch if c.id in outcomes and outcomes[c.id].labels]
        if candidates:
            store_shadow(engine, shadow, candidates,
                         dict(zip((c.id for c in candidates), shadow.score([c.content for c in candidates]))),
                         {c.id: routed[c.id].language for c in candidates})
    return done


def bound_this_thread(settings: Settings) -> None:
    """Scoring gives way to the web: lower this thread's CPU priority (on Linux
    nice is per thread, so in the embedded mode only the scorer thread yields;
    with one intra-op thread, torch and ONNX Runtime compute in it)."""
    if settings.scoring_nice and hasattr(os, "nice"):
        try:
            os.nice(settings.scoring_nice)
        except OSError as e:  # a sandbox may refuse; scoring still works
            log.warning("could not lower the scoring worker's priority: %s", e)


def scorers_for(settings: Settings, plan: ScoringPlan) -> Scorers:
    """The process's scorers for the plan's backends, with the configured threads."""
    return lambda model: get_scorer(settings.model_dir, model, *plan.backends, threads=settings.scoring_threads)


def run_worker(engine: Engine, settings: Settings, plan: ScoringPlan | str, stop: threading.Event, *,
               batch: int = 32, idle: float = 0.2, on_batch: Callable[[int], None] | None = None,
               wake: threading.Event | None = None) -> None:
    """Score until `stop` is set. Without the main model it waits, saying why
    once; `wake` (set when a model was just installed) ends the wait early.
    While a backlog lasts each claim doubles, up to MAX_CLAIM."""
    plan = plan if isinstance(plan, ScoringPlan) else ScoringPlan(plan)
    bound_this_thread(settings)
    scorers = scorers_for(settings, plan)
    owner = worker_id()
    size = batch
    warned = shadow_warned = False
    while not stop.is_set():
        if scorers(plan.model) is None:
            if not warned:
                log.warning("scoring paused, flags stay unscored: %s",
                            scorer_unavailable_reason(settings.model_dir, plan.model, *plan.backends))
                warned = True
            if (wake or stop).wait(30) and wake is not None:
                wake.clear()
            continue
        warned = False
        shadow = (get_scorer(settings.model_dir, plan.shadow_model, *plan.shadow_backends,
                             threads=settings.scoring_threads) if plan.shadow_model else None)
        if plan.shadow_model and shadow is None and not shadow_warned:
            log.warning("shadow model not scoring: %s", scorer_unavailable_reason())
            shadow_warned = True
        try:
            done = score_batch(engine, scorers, owner, size, shadow)
        except Exception:  # a worker must survive a bad batch; the lease lets another retry it
            log.exception("scoring batch failed")
            stop.wait(5)
            continue
        if on_batch:
            on_batch(done)
        size = min(size * 2, MAX_CLAIM) if done >= size else batch
        if done == 0:
            stop.wait(idle)


def start_embedded_worker(engine: Engine, settings: Settings, plan: ScoringPlan | str,
                          wake: threading.Event | None = None) -> Callable[[], None]:
    """The embedded mode's scorer thread; returns its stop function."""
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(engine, settings, plan, stop), kwargs={"wake": wake},
                              name="modsys-scorer", daemon=True)
    thread.start()

    def shutdown() -> None:
        stop.set()
        if wake is not None:
            wake.set()  # it may be waiting for a model
        thread.join(10)

    return shutdown


def reset_for_rescore(engine: Engine, since: datetime, community_id: int | None = None) -> int:
    """Mark flags reported since `since` as pending again (model or thresholds changed)."""
    with writing(engine) as session:
        q = sa.update(Flag).where(Flag.created_at >= since).values(
            score_state=ScoreState.pending, claimed_by=None, claimed_until=None)
        if community_id is not None:
            q = q.where(Flag.community_id == community_id)
        count = session.execute(q).rowcount
        audit.record_many(session, Actor("system", None, "cli"), "flags.rescore_requested", "flags",
                          [(None, community_id, {"since": since.isoformat(), "flags": count})])
    return count
