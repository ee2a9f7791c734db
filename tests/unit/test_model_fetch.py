"""`modsys model fetch` and the first-start download over real HTTP, from a
local mirror (tests/support/model_server.py) serving a tiny installed model."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import pytest

from modsys.runtime.scoring import model_problem
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


@pytest.fixture
def trust(published):
    """How a test trusts its plain-HTTP local mirror: explicitly, and with the
    operator's full pin of the tiny checkpoint (it is no detoxify release)."""
    return {"allow_http": True, "pins": {"original": locate(published, "original").sha256}}


def _nothing_left(model_dir) -> bool:
    """No model, and no partial file anywhere under model_dir."""
    return installed_models(model_dir) == [] and not any(p.is_file() for p in model_dir.rglob("*"))


def test_fetch_from_a_mirror_verifies_and_installs(mirror, published, tmp_path, trust):
    seen = []
    info = fetch_model(tmp_path / "models", "original", url_base=mirror.url,
                       progress=lambda done, total: seen.append((done, total)), **trust)
    assert info.sha256 == locate(published, "original").sha256
    assert seen[-1][0] == seen[-1][1] == (published / "original" / "checkpoint.ckpt").stat().st_size
    installed = locate(tmp_path / "models", "original")
    assert installed.manifest["source"] == f"{mirror.url}/original/checkpoint.ckpt"
    assert installed.manifest["files"] == locate(published, "original").manifest["files"]
    assert load_scorer(tmp_path / "models", "original", "torch").score(["hello"])[0] is not None


def test_a_connection_cut_mid_file_leaves_nothing_that_loads(mirror, tmp_path, trust):
    mirror.cut_checkpoint = True
    with pytest.raises(ModelFetchError, match="cut off after"):
        fetch_model(tmp_path / "models", "original", url_base=mirror.url, **trust)
    assert _nothing_left(tmp_path / "models")


def test_a_wrong_checksum_is_refused_and_nothing_installed(mirror, tmp_path, trust):
    mirror.wrong_sha256 = True
    with pytest.raises(ChecksumMismatch, match="not the pinned"):
        fetch_model(tmp_path / "models", "original", url_base=mirror.url, **trust)
    assert _nothing_left(tmp_path / "models")


def test_a_mirror_copy_of_a_model_that_is_not_the_release_is_refused(mirror, tmp_path):
    # the manifest and the file agree, but they are not detoxify's release (pins.py)
    with pytest.raises(ChecksumMismatch, match="not the pinned c1212f89"):
        fetch_model(tmp_path / "models", "original", url_base=mirror.url, allow_http=True)
    assert _nothing_left(tmp_path / "models") and mirror.requests == ["/original/manifest.json"]


def test_a_missing_file_on_the_mirror_is_a_clear_error(mirror, tmp_path, trust):
    with pytest.raises(ModelFetchError, match="404"):
        fetch_model(tmp_path / "models", "unbiased", url_base=mirror.url, **trust)
    assert _nothing_left(tmp_path / "models")


def test_first_start_fetch_reports_progress_then_installs(mirror, tmp_path, trust):
    mirror.hold.set()  # the transfer stops halfway until released
    installed = threading.Event()
    bar = []
    stop = start_first_start_fetch(tmp_path / "models", "original", mirror.url, installed.set,
                                   bar=lambda done, total: bar.append(done), **trust)
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
        assert start_first_start_fetch(tmp_path / "models", "original", mirror.url, installed.set, **trust) is None
    finally:
        stop()


def test_first_start_fetch_offline_changes_nothing(tmp_path):
    installed = threading.Event()
    # a closed port: the download location is unreachable
    stop = start_first_start_fetch(tmp_path / "models", "original", "http://127.0.0.1:9", installed.set,
                                   allow_http=True)
    wait_until(lambda: progress_note(tmp_path / "models", "original") is None, 30, "the attempt to end")
    stop()
    assert not installed.is_set() and _nothing_left(tmp_path / "models")


def test_cli_fetch_uses_the_mirror_and_shows_progress(mirror, tmp_path, trust):
    env = {**os.environ, "MODSYS_MODEL_DIR": str(tmp_path / "models"), "MODSYS_MODEL_URL_BASE": mirror.url,
           "MODSYS_MODEL_ALLOW_HTTP": "1", "MODSYS_MODEL_SHA256": f"original={trust['pins']['original']}"}
    out = subprocess.run([sys.executable, "-m", "modsys.cli", "model", "fetch"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "fetched original" in out.stdout, out.stderr
    assert "downloading original" in out.stderr  # click's bar prints its label off a terminal
    mirror.wrong_sha256 = True
    again = subprocess.run([sys.executable, "-m", "modsys.cli", "model", "fetch"],
                           env={**env, "MODSYS_MODEL_DIR": str(tmp_path / "other")}, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 1 and "sha256" in again.stderr and not (tmp_path / "other" / "original").exists()
    plain = subprocess.run([sys.executable, "-m", "modsys.cli", "model", "fetch"],
                           env={**env, "MODSYS_MODEL_ALLOW_HTTP": "0", "MODSYS_MODEL_DIR": str(tmp_path / "plain")},
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and "MODSYS_MODEL_ALLOW_HTTP" in plain.stderr
