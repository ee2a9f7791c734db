"""A community's own classifier (installed with --hf-dir) routed by the
policy: the worker stores its scores under modsys's labels (label_maps)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from modsys.domain.models import Flag, ToxicityScore
from modsys.infra.config import DEFAULT_POLICY, load_settings
from modsys.runtime.scoring import ScoringPlan, score_batch, scorers_for
from modsys.services.flags import FlagReportInput, report_flag
from modsys.toxicity import clear_scorer_cache
from modsys.toxicity.hf_import import install_hf_model
from tests.conftest import fresh
from tests.factories import reporter
from tests.support.tiny_model import build_tiny_hf_classifier


@pytest.fixture
def policy_path(tmp_path) -> Path:
    data = yaml.safe_load(DEFAULT_POLICY.read_text())
    data["toxicity"].update({
        "model": "community-bert",
        "routes": {"en": "community-bert"},
        "thresholds": {"insult": 0.01},
        "label_maps": {"community-bert": {"offensive": "insult", "hate": "identity_attack"}},
    })
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_worker_stores_a_community_models_scores_under_modsys_labels(engine, session, community, tmp_path):
    install_hf_model(build_tiny_hf_classifier(tmp_path), tmp_path / "models", "community-bert",
                     ["neutral", "offensive", "hate"])
    flag = report_flag(session, reporter(session, community.id), community.id, FlagReportInput(
        message_id="1", channel_id="1", author_id="110000000000000901", author_name="a",
        content="shut up, nobody wants you here", reporter="42"))[0]
    settings = load_settings({"MODSYS_MODEL_DIR": str(tmp_path / "models")})
    try:
        assert score_batch(engine, scorers_for(settings, ScoringPlan("community-bert")), "w1", 8) == 1
    finally:
        clear_scorer_cache()
    fresh(session)
    row = session.exec(select(ToxicityScore)).one()
    assert row.model_name == "community-bert" and set(row.labels) == {"insult", "identity_attack"}
    assert row.over_threshold == ["insult"] and session.get(Flag, flag.id).priority
