"""A Hugging Face sequence classifier brought by a community: installed
offline with declared labels, scored, converted to int8 and gated, with the
CLI; its labels mapped onto modsys's by the policy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from modsys.domain.policy import parse_policy
from modsys.infra.config import DEFAULT_POLICY
from modsys.toxicity import InvalidCheckpoint, clear_scorer_cache, load_scorer
from modsys.toxicity.hf_import import install_hf_model
from modsys.toxicity.model_store import locate
from tests.support.tiny_model import build_tiny_hf_classifier

LABELS = ["neutral", "offensive", "hate"]


@pytest.fixture(autouse=True)
def _fresh():
    yield
    clear_scorer_cache()


def test_cli_installs_and_converts_a_hugging_face_classifier(tmp_path):
    hf = build_tiny_hf_classifier(tmp_path)
    env = {**os.environ, "MODSYS_MODEL_DIR": str(tmp_path / "models"), "HF_HUB_OFFLINE": "1"}

    def modsys(*args):
        return subprocess.run([sys.executable, "-m", "modsys.cli", "model", *args], env=env, capture_output=True,
                              text=True, timeout=300)

    missing = modsys("install", "--hf-dir", str(hf), "--model", "community-bert")
    assert missing.returncode == 1 and "--labels" in missing.stderr
    wrong = modsys("install", "--hf-dir", str(hf), "--labels", "neutral,offensive", "--model", "community-bert")
    assert wrong.returncode == 1 and "the model has 3 outputs" in wrong.stderr
    done = modsys("install", "--hf-dir", str(hf), "--labels", ",".join(LABELS), "--model", "community-bert")
    assert done.returncode == 0 and "labels neutral, offensive, hate" in done.stdout, done.stderr
    converted = modsys("convert", "--model", "community-bert", "--to", "onnx-int8")
    assert converted.returncode == 0 and "converted community-bert" in converted.stdout, converted.stderr

    models = tmp_path / "models"
    assert locate(models, "community-bert").labels == tuple(LABELS)
    torch_scores = load_scorer(models, "community-bert", "torch").score(["you are an idiot", "hello"])
    int8_scores = load_scorer(models, "community-bert", "onnx-int8").score(["you are an idiot", "hello"])
    assert set(torch_scores[0]) == set(LABELS)
    assert max(abs(a[k] - b[k]) for a, b in zip(torch_scores, int8_scores) for k in a) <= 0.02


def test_only_safetensors_and_classifiers_are_accepted(tmp_path):
    hf = build_tiny_hf_classifier(tmp_path)
    (hf / "model.safetensors").rename(hf / "pytorch_model.bin")
    with pytest.raises(InvalidCheckpoint, match="pytorch_model.bin is a pickle"):
        install_hf_model(hf, tmp_path / "models", "x", LABELS)


def test_the_policy_maps_a_models_labels_onto_modsys_labels():
    data = yaml.safe_load(DEFAULT_POLICY.read_text())
    data["toxicity"]["label_maps"] = {"community-bert": {"offensive": "insult", "hate": "identity_attack"}}
    tox = parse_policy(yaml.safe_dump(data)).toxicity
    assert tox.map_labels("community-bert", {"neutral": 0.9, "offensive": 0.2, "hate": 0.7}) == {
        "insult": 0.2, "identity_attack": 0.7}
    assert tox.map_labels("original", {"toxicity": 0.5}) == {"toxicity": 0.5}
    data["toxicity"]["label_maps"] = {"community-bert": {"hate": "hatred"}}
    with pytest.raises(Exception, match="unknown label"):
        parse_policy(yaml.safe_dump(data))
