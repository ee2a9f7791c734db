"""A model mirror can't run code (issue 18 item 2).

The mirror serves a checkpoint whose pickle carries a payload (a call of
os.system that writes a marker file), with a manifest that vouches for it.
The payload must never run: not at fetch, not at install, not at load."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch

from modsys.toxicity import (
    ChecksumMismatch,
    InvalidCheckpoint,
    ModelFetchError,
    clear_scorer_cache,
    fetch_model,
    install_model,
    installed_models,
    load_scorer,
)
from modsys.toxicity.pins import RELEASES, pinned_sha256
from tests.support.model_server import ModelMirror
from tests.support.tiny_model import build_tiny_checkpoint


class Payload:
    """Unpickling this runs a shell command (what an attacker's checkpoint does)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def _poison(ckpt, marker, dest):
    raw = torch.load(ckpt, weights_only=True)
    raw["config"]["callback"] = Payload(marker)
    torch.save(raw, dest)
    return hashlib.sha256(dest.read_bytes()).hexdigest()


@pytest.fixture
def poisoned_mirror(tmp_path):
    """A mirror whose `original` is a poisoned checkpoint its manifest vouches for."""
    ckpt, cfg = build_tiny_checkpoint(tmp_path, "original")
    site = tmp_path / "site"
    install_model(ckpt, cfg, site)
    marker = tmp_path / "payload-ran"
    digest = _poison(ckpt, marker, site / "original" / "checkpoint.ckpt")
    manifest = json.loads((site / "original" / "manifest.json").read_text())
    manifest["sha256"] = digest
    (site / "original" / "manifest.json").write_text(json.dumps(manifest))
    with ModelMirror(site) as mirror:
        yield mirror, marker, digest
    clear_scorer_cache()


def test_a_vouched_poisoned_checkpoint_is_refused_by_the_pin_and_never_runs(poisoned_mirror, tmp_path):
    mirror, marker, _ = poisoned_mirror
    with pytest.raises(ChecksumMismatch, match="pinned"):
        fetch_model(tmp_path / "models", "original", url_base=mirror.url, allow_http=True)
    assert not marker.exists()
    assert installed_models(tmp_path / "models") == []


def test_a_poisoned_checkpoint_matching_its_pin_still_never_runs(poisoned_mirror, tmp_path):
    # The release pins are 8-hex prefixes (a 2**32 search to forge): weights_only is the barrier.
    mirror, marker, digest = poisoned_mirror
    with pytest.raises(InvalidCheckpoint, match="tensors and plain data"):
        fetch_model(tmp_path / "models", "original", url_base=mirror.url, allow_http=True,
                    pins={"original": digest})
    assert not marker.exists()
    assert installed_models(tmp_path / "models") == []


def test_plain_http_mirrors_are_refused_unless_allowed(poisoned_mirror, tmp_path):
    mirror, marker, _ = poisoned_mirror
    with pytest.raises(ModelFetchError, match="MODSYS_MODEL_ALLOW_HTTP"):
        fetch_model(tmp_path / "models", "original", url_base=mirror.url)
    assert mirror.requests == [] and not marker.exists()


def test_install_by_hand_with_its_sha256_never_unpickles_code(tmp_path):
    ckpt, cfg = build_tiny_checkpoint(tmp_path, "original")
    marker = tmp_path / "payload-ran"
    digest = _poison(ckpt, marker, tmp_path / "evil.ckpt")
    with pytest.raises(InvalidCheckpoint):
        install_model(tmp_path / "evil.ckpt", cfg, tmp_path / "models", expected_sha256=digest)
    assert not marker.exists()


def test_a_worker_start_never_unpickles_code_even_if_the_manifest_allows_it(tmp_path):
    # Someone who can write the model directory swaps the checkpoint and its manifest.
    ckpt, cfg = build_tiny_checkpoint(tmp_path, "original")
    models = tmp_path / "models"
    install_model(ckpt, cfg, models)
    marker = tmp_path / "payload-ran"
    digest = _poison(ckpt, marker, tmp_path / "evil.ckpt")
    shutil.copyfile(tmp_path / "evil.ckpt", models / "original" / "checkpoint.ckpt")
    manifest = json.loads((models / "original" / "manifest.json").read_text())
    manifest.update(sha256=digest, allow_pickle=True)
    (models / "original" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidCheckpoint):
        load_scorer(models, "original", "torch")
    assert not marker.exists()


def test_pins_match_the_release_urls_detoxify_ships():
    from detoxify.detoxify import MODEL_URLS

    for name, release in RELEASES.items():
        assert MODEL_URLS[name] == release.url
        # torch.hub's convention, written by detoxify's scripts/convert_weights.py: <name>-<sha256[:8]>.ckpt
        assert release.url.endswith(f"-{release.sha256_prefix}.ckpt")
        assert pinned_sha256(name, {}) == release.sha256_prefix
    assert pinned_sha256("original", {"original": "ab" * 32}) == "ab" * 32
