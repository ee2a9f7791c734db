"""The scoring worker on the int8 backend, shadow scoring, labelled examples
from decisions and appeals, and the first-start download: SQLite and
PostgreSQL, tiny checkpoints through the real loading paths."""

from __future__ import annotations

import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from modsys.community import policy_for
from modsys.domain.models import Flag, Member, ToxicityScore
from modsys.infra.config import DEFAULT_POLICY, load_settings
from modsys.reads.calibration import calibrate, evaluation, labelled_examples
from modsys.runtime.scoring import (
    ScoringPlan,
    plan_for,
    score_batch,
    single,
    start_embedded_worker,
)
from modsys.services.actions import NewAction
from modsys.services.appeals import start_review
from modsys.services.decisions import Decision, decide_appeal
from modsys.services.flags import (
    FlagReportInput,
    act_on_flag,
    dismiss_flag,
    report_flag,
)
from modsys.toxicity import clear_scorer_cache, get_scorer, install_model
from modsys.toxicity.convert import convert
from modsys.toxicity.fetch import start_first_start_fetch
from modsys.toxicity.model_store import locate
from tests.conftest import fresh
from tests.factories import appeal, reporter
from tests.support.model_server import ModelMirror
from tests.support.tiny_model import build_tiny_checkpoint
from tests.support.wait import wait_until


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A converted tiny model (torch + int8) and a plain one, built once."""
    root = tmp_path_factory.mktemp("backends")
    ckpt, cfg = build_tiny_checkpoint(root, "original", initializer_range=0.05, name="int8able")
    install_model(ckpt, cfg, root / "converted")
    convert(root / "converted", "original")
    ckpt, cfg = build_tiny_checkpoint(root, "original")
    install_model(ckpt, cfg, root / "plain")
    return root


@pytest.fixture
def models(built, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.copytree(built / "converted", tmp_path / "models")
    yield tmp_path / "models"
    clear_scorer_cache()


@pytest.fixture
def policy_path(tmp_path, request) -> Path:
    """The default policy with a toxicity threshold every score crosses, plus
    any toxicity settings the test passes (indirect parameter)."""
    extra = getattr(request, "param", "")
    path = tmp_path / "policy.yaml"
    path.write_text(DEFAULT_POLICY.read_text().replace("    toxicity: 0.80", "    toxicity: 0.01")
                    .replace("  model: original\n", "  model: original\n" + extra, 1))
    return path


def _report(session, community, n: int, start: int = 0) -> list[Flag]:
    return [report_flag(session, reporter(session, community.id), community.id, FlagReportInput(
        message_id=str(9000 + start + i), channel_id="1", channel_name="general", author_id=str(100000000000000800 + start + i),
        author_name=f"author{i}", content=f"message {i} you are a bad person", reporter="42"))[0]
        for i in range(n)]


def _drain(engine, scorer, shadow=None) -> int:
    total = 0
    while done := score_batch(engine, single(scorer), "w1", 8, shadow):
        total += done
    return total


def test_int8_scores_record_backend_and_the_onnx_files_sha256(engine, session, community, models, app, make_staff):
    from tests.conftest import login

    flags = _report(session, community, 3)
    scorer = get_scorer(models, "original")  # auto: converted, so int8
    assert scorer.info.backend == "onnx-int8"
    assert _drain(engine, scorer) == 3
    fresh(session)
    entry = locate(models, "original").manifest["backends"]["onnx-int8"]
    rows = session.exec(select(ToxicityScore)).all()
    assert {(r.backend, r.model_sha256, r.shadow) for r in rows} == {("onnx-int8", entry["sha256"], False)}
    assert all(session.get(Flag, f.id).score_state == "scored" for f in flags)
    make_staff("moderator", "mod_int8")
    client = app.test_client()
    login(client, "mod_int8")
    page = client.get(f"/flags/{flags[0].id}").get_data(as_text=True)
    assert f"on onnx-int8 (file {entry['sha256'][:12]}" in page and "onnxruntime " in page


def test_shadow_candidate_is_stored_apart_and_never_orders_the_queue(engine, session, community, models):
    flags = _report(session, community, 4)
    live, shadow = get_scorer(models, "original", "onnx-int8"), get_scorer(models, "original", "torch")
    _drain(engine, live, shadow)
    fresh(session)
    rows = session.exec(select(ToxicityScore).order_by(ToxicityScore.id)).all()
    assert sorted((r.backend, r.shadow) for r in rows) == [("onnx-int8", False)] * 4 + [("torch", True)] * 4
    for f in flags:  # the flag carries the live score only
        flag = session.get(Flag, f.id)
        live_row = next(r for r in rows if r.flag_id == f.id and not r.shadow)
        assert flag.max_score == live_row.max_score and flag.max_label == live_row.max_label


SHADOWED = "  backend: torch\n  shadow:\n    model: original\n    backend: onnx-int8\n"


@pytest.mark.parametrize("policy_path", [SHADOWED], indirect=True)
@pytest.mark.parametrize("env_backend", [None, "onnx-int8"])
def test_policy_and_environment_choose_the_backend_and_the_shadow(engine, session, community, models, env_backend):
    env = {"MODSYS_MODEL_DIR": str(models), **({"MODSYS_TOXICITY_BACKEND": env_backend} if env_backend else {})}
    settings = load_settings(env)
    plan = plan_for(session, settings)
    assert plan == ScoringPlan("original", (env_backend, "torch"), "original", ("onnx-int8",))
    flags = _report(session, community, 3)
    stop = start_embedded_worker(engine, settings, plan)
    try:
        def both_stored() -> list[ToxicityScore]:
            fresh(session)
            rows = session.exec(select(ToxicityScore)).all()
            return rows if len(rows) == 6 else []

        rows = wait_until(both_stored, 60, "live and shadow scores")
    finally:
        stop()
    live = env_backend or "torch"  # the environment overrides the policy
    assert sorted((r.backend, r.shadow) for r in rows) == sorted([(live, False)] * 3 + [("onnx-int8", True)] * 3)
    assert {r.flag_id for r in rows} == {f.id for f in flags}


def _member(session, flag) -> Member:
    return session.get(Member, flag.author_id)


def test_decisions_and_appeal_outcomes_label_the_examples(engine, session, community, models, mod_a, mod_b):
    flags = _report(session, community, 4)
    for f in flags:  # everything over threshold: the flags are priorities, so actions are auto-detected
        session.get(Flag, f.id).priority = True
    session.commit()
    _drain(engine, get_scorer(models, "original"), get_scorer(models, "original", "torch"))
    fresh(session)
    actions = [act_on_flag(session, mod_a, f.id, NewAction(member_id=f.author_id, kind="timeout", rules=["respectful"],
                                                         public_reason="Insulting another member.",
                                                         duration=timedelta(hours=1)))
               for f in flags[:3]]
    dismiss_flag(session, mod_a, flags[3].id, "fine")
    overturned = appeal(session, _member(session, flags[0]), actions[0])
    upheld = appeal(session, _member(session, flags[1]), actions[1])
    for a, outcome in ((overturned, "overturned"), (upheld, "upheld")):
        start_review(session, mod_b, a.id)
        decide_appeal(session, mod_b, a.id, Decision(outcome, "The context shows it was a quote, reviewed."))
    fresh(session)

    examples = labelled_examples(session, community.id)
    assert examples.toxic == {flags[0].id: False, flags[1].id: True, flags[2].id: True, flags[3].id: False}
    assert (examples.from_flags, examples.from_appeals, examples.overturned) == (4, 2, frozenset({flags[0].id}))

    policy = policy_for(session, community.id)
    report = calibrate(session, community.id, policy, target_precision=1.0)
    assert (report.decided, report.actioned, report.overturned) == (4, 2, 1)
    assert report.source == "live (original/onnx-int8)"
    tox = next(r for r in report.labels if r.label == "toxicity")
    # every score crosses 0.01: the overturned auto-detected sanction and the
    # dismissed flag are the false positives
    assert (tox.threshold, tox.precision, tox.recall) == (0.01, 0.5, 1.0)

    compared = evaluation(session, community.id, policy, target_precision=1.0)
    assert [c.source for c in compared] == ["live (original/onnx-int8)", "original/torch (shadow)"]
    assert [c.decided for c in compared] == [4, 4] and [c.overturned for c in compared] == [1, 1]


def test_flags_filed_before_the_first_start_download_are_scored_once_it_lands(engine, session, community, built,
                                                                               tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = load_settings({"MODSYS_MODEL_DIR": str(tmp_path / "models")})
    installed = threading.Event()
    with ModelMirror(built / "plain") as mirror:
        mirror.hold.set()
        stop_worker = start_embedded_worker(engine, settings, ScoringPlan("original"), wake=installed)
        stop_fetch = start_first_start_fetch(settings.model_dir, "original", mirror.url, installed.set,
                                             allow_http=True,
                                             pins={"original": locate(built / "plain", "original").sha256})
        try:
            flags = _report(session, community, 3)  # filed while the model is still downloading
            fresh(session)
            assert {session.get(Flag, f.id).score_state for f in flags} == {"pending"}
            mirror.release.set()

            def scored() -> bool:
                fresh(session)
                return all(session.get(Flag, f.id).score_state == "scored" for f in flags)

            wait_until(scored, 60, "the flags to be scored after the download")
        finally:
            stop_fetch()
            stop_worker()
            clear_scorer_cache()
    rows = session.exec(select(ToxicityScore)).all()
    assert {r.backend for r in rows} == {"torch"} and len(rows) == 3


def test_evaluate_reports_against_the_demos_decisions(db_url, engine, session, community, models):
    import os
    import subprocess
    import sys

    from modsys.runtime import demo

    demo.fill(session, community)
    fresh(session)
    decided = session.exec(select(Flag).where(Flag.status.in_(("actioned", "dismissed")))).all()
    _drain(engine, get_scorer(models, "original"))
    env = {**os.environ, "DATABASE_URL": db_url, "MODSYS_MODEL_DIR": str(models), "HF_HUB_OFFLINE": "1",
           "MODSYS_POLICY": str(DEFAULT_POLICY)}
    env.pop("MODSYS_ENV", None)
    out = subprocess.run([sys.executable, "-m", "modsys.cli", "model", "evaluate", "--compare"], env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    actioned = sum(f.status == "actioned" for f in decided)
    assert f"{len(decided)} labelled flags: {len(decided)} moderator decisions" in out.stdout
    assert f"live (original/onnx-int8): {len(decided)} scored ({actioned} toxic, 0 overturned)" in out.stdout
    assert "no shadow scores yet" in out.stdout and "toxicity" in out.stdout
