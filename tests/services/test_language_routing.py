"""Language routing in the scoring worker, on SQLite and PostgreSQL: each
flag's language (detected by lingua, or declared) picks the model and the
thresholds from the policy; tiny BERT (`original`) and XLM-R (`multilingual`)
checkpoints in detoxify's format, loaded through the real paths."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from modsys.domain.models import Flag, ToxicityScore
from modsys.infra.config import DEFAULT_POLICY, load_settings
from modsys.runtime.scoring import (
    MAX_CLAIM,
    ScoringPlan,
    run_worker,
    score_batch,
    scorers_for,
)
from modsys.services.flags import FlagReportInput, report_flag
from modsys.toxicity import clear_scorer_cache, install_model
from tests.conftest import fresh, login
from tests.factories import reporter
from tests.support.tiny_model import build_tiny_checkpoint

MESSAGES = {
    "en": "shut up, nobody wants you here",
    "fr": "t'es vraiment nul, ferme-la, personne ne veut de toi",
    "ru": "ты полный идиот, заткнись, никто тебя здесь не хочет",
    "de": "du bist so ein Idiot, halt die Klappe",
    None: "ok",  # too short to tell
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("routing")
    for kind in ("original", "multilingual"):
        ckpt, cfg = build_tiny_checkpoint(root, kind)
        install_model(ckpt, cfg, root / "models", kind)
    yield root / "models"
    clear_scorer_cache()


@pytest.fixture
def policy_path(tmp_path) -> Path:
    """Routes as the seed community would set them; French gets a threshold of its own."""
    data = yaml.safe_load(DEFAULT_POLICY.read_text())
    data["toxicity"].update({
        "thresholds": dict.fromkeys(data["toxicity"]["thresholds"], 0.99),
        "routes": {"en": "original", "fr|es|it|pt|tr|ru": "multilingual"},
        "fallback": "multilingual",
        "thresholds_by_language": {"fr": {"toxicity": 0.01}},
    })
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _report(session, community, texts: list[str], language: str | None = None) -> list[Flag]:
    bot = reporter(session, community.id)
    return [report_flag(session, bot, community.id, FlagReportInput(
        message_id=str(7000 + i), channel_id="1", channel_name="general", author_id=str(110000000000000900 + i),
        author_name=f"author{i}", content=text, reporter="42", language=language))[0]
        for i, text in enumerate(texts)]


def test_each_language_goes_to_its_model_with_its_thresholds(engine, session, community, models):
    flags = dict(zip(MESSAGES, _report(session, community, list(MESSAGES.values()))))
    settings = load_settings({"MODSYS_MODEL_DIR": str(models)})
    scorers = scorers_for(settings, ScoringPlan("original"))
    while score_batch(engine, scorers, "w1", 8):
        pass
    fresh(session)
    scored_by = {s.flag_id: s.model_name for s in session.exec(select(ToxicityScore))}
    got = {lang: (session.get(Flag, f.id).language, scored_by[f.id], session.get(Flag, f.id).low_confidence)
           for lang, f in flags.items()}
    assert got == {
        "en": ("en", "original", False),
        "fr": ("fr", "multilingual", False),
        "ru": ("ru", "multilingual", False),
        "de": ("en", "multilingual", True),  # German isn't a candidate: the nearest, unsure, to the fallback
        None: (None, "multilingual", True),
    }
    # only French has a threshold the tiny model's scores cross
    assert [lang for lang, f in flags.items() if session.get(Flag, f.id).priority] == ["fr"]


def test_a_declared_language_is_used_as_is(engine, session, community, models):
    flag = _report(session, community, ["hello there, this is english text"], language="pt-BR")[0]
    settings = load_settings({"MODSYS_MODEL_DIR": str(models)})
    score_batch(engine, scorers_for(settings, ScoringPlan("original")), "w1", 8)
    fresh(session)
    row = session.exec(select(ToxicityScore).where(ToxicityScore.flag_id == flag.id)).one()
    assert (session.get(Flag, flag.id).language, row.model_name) == ("pt", "multilingual")


def test_flags_for_a_model_not_installed_wait_for_it(engine, session, community, models, tmp_path):
    only_original = tmp_path / "only-original"
    ckpt, cfg = build_tiny_checkpoint(tmp_path, "original")
    install_model(ckpt, cfg, only_original)
    en, fr = _report(session, community, [MESSAGES["en"], MESSAGES["fr"]])
    settings = load_settings({"MODSYS_MODEL_DIR": str(only_original)})
    assert score_batch(engine, scorers_for(settings, ScoringPlan("original")), "w1", 8) == 1
    fresh(session)
    assert session.get(Flag, en.id).score_state == "scored"
    assert session.get(Flag, fr.id).score_state == "pending"  # held by the lease, then tried again
    assert session.get(Flag, fr.id).claimed_by == "w1"


def test_the_worker_claims_more_while_a_backlog_lasts_and_runs_at_lower_priority(engine, session, community,
                                                                                  models):
    import os

    _report(session, community, [f"message number {i} you are not nice" for i in range(100)])
    settings = load_settings({"MODSYS_MODEL_DIR": str(models), "MODSYS_SCORING_NICE": "5"})
    stop, claims, nice = threading.Event(), [], []

    def on_batch(done: int) -> None:
        claims.append(done)
        nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        if sum(claims) >= 100:
            stop.set()

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    worker = threading.Thread(target=run_worker, args=(engine, settings, ScoringPlan("original"), stop),
                              kwargs={"batch": 8, "on_batch": on_batch})
    worker.start()
    worker.join(120)
    assert not worker.is_alive()
    assert claims[:4] == [8, 16, 32, 44] and max(claims) <= MAX_CLAIM  # 8 + 16 + 32 + the other 44
    assert set(nice) == {min(before + 5, 19)}  # the scoring thread, not the test's
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
    fresh(session)
    assert {f.score_state for f in session.exec(select(Flag))} == {"scored"}


def test_moderators_see_the_language_and_filter_the_queue_by_it(app, engine, session, community, models, mod_a):
    flags = dict(zip(MESSAGES, _report(session, community, list(MESSAGES.values()))))
    settings = load_settings({"MODSYS_MODEL_DIR": str(models)})
    while score_batch(engine, scorers_for(settings, ScoringPlan("original")), "w1", 8):
        pass
    client = app.test_client()
    login(client, "mod_a")

    def listed(query: str) -> set[int]:
        page = client.get(f"/flags?{query}")
        assert page.status_code == 200
        return {int(i) for i in re.findall(r'data-flag-id="(\d+)"', page.get_data(as_text=True))}

    assert listed("language=fr") == {flags["fr"].id}
    assert listed("language=en") == {flags["en"].id, flags["de"].id}
    assert listed("language=unknown") == {flags[None].id}
    assert listed("") == {f.id for f in flags.values()}
    refused = client.get("/flags?language=French")
    assert refused.status_code == 400 and "two-letter code" in refused.get_data(as_text=True)
    page = client.get(f"/flags/{flags['de'].id}").get_data(as_text=True)
    assert re.search(r'id="flag-language">en <span class="badge">low confidence</span>', page)
    assert 'id="flag-language">fr<' in client.get(f"/flags/{flags['fr'].id}").get_data(as_text=True)


def test_evaluate_by_language_from_decisions_in_the_cli_and_on_admin(app, db_url, engine, session, community,
                                                                      models, mod_a, make_staff, policy_path):
    import os
    import subprocess
    import sys

    from modsys.services.actions import NewAction
    from modsys.services.flags import act_on_flag, dismiss_flag

    flags = dict(zip(MESSAGES, _report(session, community, list(MESSAGES.values()))))
    settings = load_settings({"MODSYS_MODEL_DIR": str(models)})
    while score_batch(engine, scorers_for(settings, ScoringPlan("original")), "w1", 8):
        pass
    for lang in ("fr", "en"):
        act_on_flag(session, mod_a, flags[lang].id, NewAction(
            member_id=flags[lang].author_id, kind="warning", rules=["respectful"], public_reason="Insulting a member."))
    for lang in ("ru", "de", None):
        dismiss_flag(session, mod_a, flags[lang].id, "fine")
    env = {**os.environ, "DATABASE_URL": db_url, "MODSYS_MODEL_DIR": str(models), "MODSYS_POLICY": str(policy_path)}
    env.pop("MODSYS_ENV", None)
    out = subprocess.run([sys.executable, "-m", "modsys.cli", "model", "evaluate", "--by-language"], env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.split("by language")[1].splitlines()[2:] if line}
    # en: 2 scored (English, and German taken for unsure English), 1 toxic; only French is marked (threshold 0.01)
    assert rows["en"] == ["en", "2", "1", "-", "0.000", "1", "multilingual,", "original"]
    assert rows["fr"] == ["fr", "1", "1", "1.000", "1.000", "0", "multilingual"]
    assert rows["ru"] == ["ru", "1", "0", "-", "-", "0", "multilingual"]
    assert rows["unknown"] == ["unknown", "1", "0", "-", "-", "1", "multilingual"]

    make_staff("admin", "admin1")
    client = app.test_client()
    login(client, "admin1")
    page = client.get("/admin").get_data(as_text=True)
    table = re.sub(r"\s+", "", page.split('id="calibration-languages"')[1].split("</table>")[0])
    assert "<td>fr</td><td>1</td><td>1</td><td>1.000</td><td>1.000</td><td>0</td><td>multilingual</td>" in table
