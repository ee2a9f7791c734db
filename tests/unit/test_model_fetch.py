"""`modsys model fetch` and the first-start download over real HTTP, from a
local mirror (tests/support/model_server.py) serving a tiny installed model."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import pytest

from modsys.scoring import model_problem
from modsys.toxicity import (
    ChecksumMismatch,
    ModelFetchError,
    clear_scorer_cache,
    fetch_model,
    install_model,
    installed_models,
    load_scorer,
)
from modsys.toxicity.fetch import progress_note, start_first_start_fetch
from modsys.toxicity.model_store import locate
from tests.support.model_server import ModelMirror
from tests.support.tiny_model import build_tiny_checkpoint
from tests.support.wait import wait_until


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A model directory as a mirror publishes it."""
    root = tmp_path_factory.mktemp("mirror")
    ckpt, cfg = build_tiny_checkpoint(root, "original")
    install_model(ckpt, cfg, root / "site")
    return root / "site"


@pytest.fixture
def mirror(published):
    with ModelMirror(published) as server:
        yield server
    clear_scorer_cache()


def _nothing_left(model_dir) -> bool:
    """No model, and no partial file anywhere under model_dir."""
    return installed_models(model_dir) == [] and not any(p.is_file() for p in model_dir.rglob("*"))


def test_fetch_from_a_mirror_verifies_and_installs(mirror, published, tmp_path):
    seen = []
    info = fetch_model(tmp_path / "models", "original", url_base=mirror.url,
                       progress=lambda done, total: seen.append((done, total)))
    assert info.sha256 == locate(published, "original").sha256
    assert seen[-1][0] == seen[-1][1] == (published / "original" / "checkpoint.ckpt").stat().st_size
    installed = locate(tmp_path / "models", "original")
    assert installed.manifest["source"] == f"{mirror.url}/original/checkpoint.ckpt"
    assert installed.manifest["files"] == locate(published, "original").manifest["files"]
    assert load_scorer(tmp_path / "models", "original", "torch").score(["hello"])[0] is not None


def test_a_connection_cut_mid_file_leaves_nothing_that_loads(mirror, tmp_path):
    mirror.cut_checkpoint = True
    with pytest.raises(ModelFetchError, match="cut off after"):
        fetch_model(tmp_path / "models", "original", url_base=mirror.url)
    assert _nothing_left(tmp_path / "models")


def test_a_wrong_checksum_is_refused_and_nothing_installed(mirror, tmp_path):
    mirror.wrong_sha256 = True
    with pytest.raises(ChecksumMismatch, match="discarded"):
        fetch_model(tmp_path / "models", "original", url_base=mirror.url)
    assert _nothing_left(tmp_path / "models")


def test_a_missing_file_on_the_mirror_is_a_clear_error(mirror, tmp_path):
    with pytest.raises(ModelFetchError, match="404"):
        fetch_model(tmp_path / "models", "unbiased", url_base=mirror.url)
    assert _nothing_left(tmp_path / "models")


def test_first_start_fetch_reports_progress_then_installs(mirror, tmp_path):
    mirror.hold.set()  # the transfer stops halfway until released
    installed = threading.Event()
    bar = []
    stop = start_first_start_fetch(tmp_path / "models", "original", mirror.url, installed.set,
                                   bar=lambda done, total: bar.append(done))
    try:
        def halfway() -> str | None:
            note = progress_note(tmp_path / "models", "original")
            return note if note and "%" in note else None

        note = wait_until(halfway, 30, "a progress note with a share")
        assert re.search(r"is downloading: (49|50)%", note) and "scored as soon as it is installed" in note
        assert model_problem(tmp_path / "models", "original") == note  # the dashboard's banner and /readyz
        assert not installed.is_set() and installed_models(tmp_path / "models") == []
        mirror.release.set()
        assert installed.wait(30)
        assert installed_models(tmp_path / "models") == ["original"]
        assert progress_note(tmp_path / "models", "original") is None and bar
        # already installed: a second start fetches nothing
        assert start_first_start_fetch(tmp_path / "models", "original", mirror.url, installed.set) is None
    finally:
        stop()


def test_first_start_fetch_offline_changes_nothing(tmp_path):
    installed = threading.Event()
    # a closed port: the download location is unreachable
    stop = start_first_start_fetch(tmp_path / "models", "original", "http://127.0.0.1:9", installed.set)
    wait_until(lambda: progress_note(tmp_path / "models", "original") is None, 30, "the attempt to end")
    stop()
    assert not installed.is_set() and _nothing_left(tmp_path / "models")


def test_cli_fetch_uses_the_mirror_and_shows_progress(mirror, tmp_path):
    env = {**os.environ, "MODSYS_MODEL_DIR": str(tmp_path / "models"), "MODSYS_MODEL_URL_BASE": mirror.url}
    out = subprocess.run([sys.executable, "-m", "modsys.cli", "model", "fetch"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "fetched original" in out.stdout, out.stderr
    assert "downloading original" in out.stderr  # click's bar prints its label off a terminal
    mirror.wrong_sha256 = True
    again = subprocess.run([sys.executable, "-m", "modsys.cli", "model", "fetch"],
                           env={**env, "MODSYS_MODEL_DIR": str(tmp_path / "other")}, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 1 and "sha256" in again.stderr and not (tmp_path / "other" / "original").exists()
