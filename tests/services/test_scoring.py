"""The scoring worker on the real detoxify loading path (tiny checkpoint, offline)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlmodel import select

from modsys import audit
from modsys.community import policy_for
from modsys.domain.models import Flag, OutboxMessage, ToxicityScore
from modsys.infra.config import DEFAULT_POLICY, load_settings
from modsys.reads import queries
from modsys.reads.calibration import calibrate
from modsys.runtime.scoring import (
    LEASE,
    Outcome,
    Routed,
    claim,
    model_problem,
    score_batch,
    single,
    start_embedded_worker,
    store,
)
from modsys.services.flags import FlagReportInput, dismiss_flag, report_flag
from modsys.toxicity import clear_scorer_cache, get_scorer, install_model
from tests.conftest import fresh
from tests.factories import reporter
from tests.support.tiny_model import build_tiny_checkpoint
from tests.support.wait import wait_until

LABELS = {"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny"), "original")


@pytest.fixture
def model_dir(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ckpt, cfg = tiny
    install_model(ckpt, cfg, tmp_path / "models")
    yield tmp_path / "models"
    clear_scorer_cache()


@pytest.fixture
def threshold(request):
    return getattr(request, "param", 0.8)


@pytest.fixture
def policy_path(tmp_path, threshold) -> Path:
    """The default policy with every label's threshold set to `threshold`."""
    text = DEFAULT_POLICY.read_text()
    for label, value in (("toxicity", "0.80"), ("severe_toxicity", "0.50"), ("obscene", "0.80"),
                         ("threat", "0.50"), ("insult", "0.80"), ("identity_attack", "0.50")):
        text = text.replace(f"    {label}: {value}", f"    {label}: {threshold}")
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def _report(session, community, n: int, **kw) -> list[Flag]:
    flags, bot = [], reporter(session, community.id)
    for i in range(n):
        flag, _ = report_flag(session, bot, community.id, FlagReportInput(
            message_id=str(5000 + i), channel_id="1", channel_name="general", author_id=str(110000000000000700 + i),
            author_name=f"author{i}", content=kw.get("content", f"message number {i} you are not nice"),
            reporter="42", language=kw.get("language")))
        flags.append(flag)
    return flags


def _drain(engine, scorer, owner="w1") -> int:
    total = 0
    while done := score_batch(engine, single(scorer), owner, 8):
        total += done
    return total


@pytest.mark.parametrize("threshold", [0.01], indirect=True)
def test_scores_are_stored_with_provenance_and_mark_priority(engine, session, community, model_dir):
    flags = _report(session, community, 5)
    scorer = get_scorer(model_dir)
    assert _drain(engine, scorer) == 5
    fresh(session)
    scores = session.exec(select(ToxicityScore)).all()
    assert len(scores) == 5 and {s.flag_id for s in scores} == {f.id for f in flags}
    for s in scores:
        assert set(s.labels) == LABELS and all(0.0 <= v <= 1.0 for v in s.labels.values())
        assert s.model_name == "original" and s.model_sha256 == scorer.info.sha256 and s.package_version
        assert s.max_score == max(s.labels.values()) and s.over_threshold  # every label is over 0.01
    rows = session.exec(select(Flag)).all()
    assert all(f.score_state == "scored" and f.priority and f.claimed_by is None for f in rows)
    announced = session.exec(select(OutboxMessage).where(OutboxMessage.event == "flag.priority")).all()
    assert len(announced) == 5
    queue = queries.flag_queue(session, community.id)
    assert [f.max_score for f in queue] == sorted((f.max_score for f in queue), reverse=True)
    assert audit.verify(session).ok


@pytest.mark.parametrize("threshold", [1.0], indirect=True)
def test_below_threshold_is_not_priority_nor_announced(engine, session, community, model_dir):
    _report(session, community, 3)
    _drain(engine, get_scorer(model_dir))
    fresh(session)
    assert not any(f.priority for f in session.exec(select(Flag)))
    assert session.exec(select(OutboxMessage).where(OutboxMessage.event == "flag.priority")).all() == []


def test_unsupported_language_and_empty_text_are_left_for_humans(bot, engine, session, community, model_dir):
    german = _report(session, community, 1, language="de")[0]
    empty = report_flag(session, bot, community.id, FlagReportInput(
        message_id="999", channel_id="1", author_id="110000000000000123", author_name="x", content="   ", reporter="1"))[0]
    _drain(engine, get_scorer(model_dir))
    fresh(session)
    assert session.get(Flag, german.id).score_state == "unsupported_language"
    assert session.get(Flag, empty.id).score_state == "empty"
    assert session.exec(select(ToxicityScore)).all() == []


def test_a_crashed_workers_lease_expires_and_nothing_is_scored_twice(engine, session, community, model_dir, clock):
    _report(session, community, 4)
    scorer = get_scorer(model_dir)
    lost = claim(engine, "crashed-worker", 10)  # claims, then "dies" before storing
    assert len(lost) == 4 and claim(engine, "w2", 10) == []  # held by the lease
    clock.advance(LEASE)
    clock.advance(seconds=1)
    assert _drain(engine, scorer, "w2") == 4
    routed = Routed("en", "original", False)
    results = {c.id: Outcome(routed, "scored", scorer.info, {label: 0.5 for label in LABELS}) for c in lost}
    assert store(engine, "crashed-worker", results) == 0  # too late: stores nothing
    fresh(session)
    assert len(session.exec(select(ToxicityScore)).all()) == 4


def test_concurrent_workers_score_each_flag_once(engine, session, community, model_dir):
    _report(session, community, 40)
    scorer = get_scorer(model_dir)
    counts, errors = [], []

    def work(name):
        try:
            counts.append(_drain(engine, scorer, name))
        except Exception as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and sum(counts) == 40
    fresh(session)
    scored = [s.flag_id for s in session.exec(select(ToxicityScore))]
    assert len(scored) == len(set(scored)) == 40


def test_flag_from_api_is_scored_by_the_embedded_worker(engine, app, session, community, model_dir, make_staff):
    from modsys.domain.actors import CLI
    from modsys.services.api_keys import create_api_key

    _, key = create_api_key(session, CLI, community.id, "chatbot", "reporter")
    settings = load_settings({"MODSYS_MODEL_DIR": str(model_dir)})
    stop = start_embedded_worker(engine, settings, "original")
    try:
        response = app.test_client().post("/api/v1/flags", headers={"Authorization": f"Bearer {key}"}, json={
            "message_id": "77", "channel_id": "1", "author_id": "110000000000000055", "author_name": "someone",
            "content": "you are a bad person", "reporter": "9"})
        assert response.status_code == 202, response.get_json()
        flag_id = response.get_json()["flag_id"]

        def scored() -> bool:
            fresh(session)
            return session.get(Flag, flag_id).score_state == "scored"

        wait_until(scored, 30, f"flag {flag_id} to be scored")
    finally:
        stop()


def test_without_weights_flags_stay_unscored_and_the_dashboard_says_so(app, session, community, tmp_path, make_staff):
    from tests.conftest import login

    assert model_problem(tmp_path / "nothing", "original") is not None
    assert get_scorer(tmp_path / "nothing") is None
    _report(session, community, 2)
    make_staff("moderator", "mod_x")
    make_staff("admin", "root")
    client = app.test_client()
    login(client, "mod_x")
    page = client.get("/flags").get_data(as_text=True)
    assert 'id="model-note"' in page and "not scored yet" in page  # moderators: one line
    admin = app.test_client()
    login(admin, "root")
    page = admin.get("/admin").get_data(as_text=True)
    assert 'id="model-banner"' in page and "modsys model fetch" in page  # admins: the reason and the fix


def test_calibration_against_moderator_decisions(engine, session, community, model_dir, mod_a):
    flags = _report(session, community, 6)
    _drain(engine, get_scorer(model_dir))
    fresh(session)
    scores = {s.flag_id: s.labels["toxicity"] for s in session.exec(select(ToxicityScore))}
    ranked = sorted(flags, key=lambda f: scores[f.id], reverse=True)
    from modsys.services.actions import NewAction
    from modsys.services.flags import act_on_flag

    for f in ranked[:3]:  # moderators actioned the three highest-scored messages
        act_on_flag(session, mod_a, f.id, NewAction(member_id=f.author_id, kind="warning", rules=["respectful"],
                                                    public_reason="Insulting another member."))
    for f in ranked[3:]:
        dismiss_flag(session, mod_a, f.id, "fine")
    report = calibrate(session, community.id, policy_for(session, community.id), target_precision=1.0)
    tox = next(r for r in report.labels if r.label == "toxicity")
    assert report.decided == 6 and report.actioned == 3
    assert tox.suggested == round(scores[ranked[2].id], 4) and tox.suggested_recall == 1.0
    low = min(scores.values())
    p_all = calibrate(session, community.id, policy_for(session, community.id), 0.5)
    assert next(r for r in p_all.labels if r.label == "toxicity").suggested == round(low, 4)


def test_model_cli_install_status_worker_rescore_calibrate(db_url, engine, session, community, tiny, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": db_url, "MODSYS_MODEL_DIR": str(tmp_path / "cli-models"),
           "MODSYS_POLICY": str(DEFAULT_POLICY), "HF_HUB_OFFLINE": "1"}
    env.pop("MODSYS_ENV", None)

    def modsys(*args):
        return subprocess.run([sys.executable, "-m", "modsys.cli", *args], env=env, capture_output=True,
                              text=True, timeout=180)

    missing = modsys("model", "status")
    assert missing.returncode == 1 and "modsys model fetch" in missing.stderr
    ckpt, cfg = tiny
    wrong = modsys("model", "install", "--checkpoint", str(ckpt), "--config-dir", str(cfg), "--sha256", "0" * 64)
    assert wrong.returncode == 1 and "sha256" in wrong.stderr.lower()
    ok = modsys("model", "install", "--checkpoint", str(ckpt), "--config-dir", str(cfg))
    assert ok.returncode == 0 and "installed original" in ok.stdout, ok.stderr
    assert modsys("model", "status").returncode == 0
    _report(session, community, 3)
    scored = modsys("worker", "--once")
    assert scored.returncode == 0 and "scored 3 flags" in scored.stdout, scored.stderr
    rescored = modsys("model", "rescore", "--since", "2000-01-01")
    assert rescored.returncode == 0 and "re-scored 3 flags" in rescored.stdout, rescored.stderr
    fresh(session)
    assert len(session.exec(select(ToxicityScore)).all()) == 6  # the history of scores is kept
    report = modsys("model", "evaluate")
    assert report.returncode == 0 and "toxicity" in report.stdout and "precision" in report.stdout
