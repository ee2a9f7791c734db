"""The int8 ONNX backend on tiny checkpoints in detoxify's format: the real
export, fusion, quantisation and ONNX Runtime paths, compared with torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from modsys.toxicity import (
    ChecksumMismatch,
    ModelNotInstalled,
    choose_backend,
    clear_scorer_cache,
    get_scorer,
    install_model,
    load_scorer,
)
from modsys.toxicity.convert import (
    MAX_DIFF,
    PARITY_TEXTS,
    ConversionRefused,
    check_candidate,
    convert,
    export_onnx,
    quantise,
    save_fast_tokenizer,
)
from modsys.toxicity.model_store import locate, sha256_file
from tests.support.tiny_model import build_tiny_checkpoint

# 0.05: a random tiny model int8 represents well; 0.3 (the default tiny model) is too wide for it
CONVERTIBLE = 0.05


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The tiny shapes (BERT 6 and 16 outputs, XLM-R) installed and converted once for the module."""
    root = tmp_path_factory.mktemp("int8")
    models = root / "models"
    entries = {}
    for kind in ("original", "unbiased", "multilingual"):
        ckpt, cfg = build_tiny_checkpoint(root, kind, initializer_range=CONVERTIBLE, name=f"{kind}-int8")
        install_model(ckpt, cfg, models, kind)
        entries[kind] = convert(models, kind)
    return models, entries


@pytest.fixture(autouse=True)
def _fresh_cache():
    yield
    clear_scorer_cache()


@pytest.mark.parametrize("kind", ["original", "unbiased", "multilingual"])
def test_converted_model_is_recorded_with_its_own_sha256_and_scores_like_torch(converted, kind):
    models, entries = converted
    installed = locate(models, kind)
    entry = installed.manifest["backends"]["onnx-int8"]
    assert entry == entries[kind]
    assert entry["sha256"] == sha256_file(installed.root / entry["file"]) != installed.sha256
    assert 0 <= entry["max_abs_diff"] <= MAX_DIFF
    # ONNX Runtime's fused kernels: residual+LayerNorm and bias+GELU in each of the 2 layers, attention
    assert entry["fused"]["SkipLayerNormalization"] == 4 and entry["fused"]["BiasGelu"] == 2
    assert entry["fused"]["Attention"] == 2

    torch_scorer = load_scorer(models, kind, "torch")
    int8 = load_scorer(models, kind, "onnx-int8")
    assert int8.info.backend == "onnx-int8" and torch_scorer.info.backend == "torch"
    assert int8.info.sha256 == entry["sha256"] and int8.info.labels == torch_scorer.info.labels
    texts = ["hello there friend", "", "   ", "you are a bad person", " ".join(["word"] * 1500)]
    for a, b in zip(torch_scorer.score(texts), int8.score(texts)):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.keys() == b.keys() and max(abs(a[k] - b[k]) for k in a) <= MAX_DIFF
    # same tokens, same chunking of a long text
    assert int8.token_chunks(texts[-1]) == torch_scorer.token_chunks(texts[-1])
    assert len(int8.token_chunks(texts[-1])) > 1


def test_default_backend_is_int8_once_converted_and_requests_win(converted, tmp_path):
    models, _ = converted
    assert choose_backend(models, "original") == "onnx-int8"
    assert choose_backend(models, "original", None, "auto") == "onnx-int8"
    assert choose_backend(models, "original", "torch", "onnx-int8") == "torch"  # environment before policy
    assert choose_backend(models, "original", None, "torch") == "torch"
    assert get_scorer(models, "original").info.backend == "onnx-int8"
    assert get_scorer(models, "original", "torch").info.backend == "torch"
    ckpt, cfg = build_tiny_checkpoint(tmp_path, "original")
    install_model(ckpt, cfg, tmp_path / "plain")
    assert choose_backend(tmp_path / "plain", "original") == "torch"
    with pytest.raises(ModelNotInstalled, match="modsys model convert"):
        load_scorer(tmp_path / "plain", "original", "onnx-int8")
    with pytest.raises(ValueError, match="unknown toxicity backend"):
        choose_backend(models, "original", "fp16")


def test_a_changed_onnx_file_is_refused(converted, tmp_path):
    import shutil

    models, _ = converted
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    onnx_file = copy / "original" / "model.int8.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\0")
    with pytest.raises(ChecksumMismatch, match="modsys model convert"):
        load_scorer(copy, "original", "onnx-int8")
    assert get_scorer(copy, "original") is None  # auto picks int8 and refuses it; no silent fallback


@pytest.mark.parametrize("kind", ["original", "multilingual"])
def test_a_model_int8_cannot_represent_is_refused_and_nothing_installed(tmp_path, kind):
    ckpt, cfg = build_tiny_checkpoint(tmp_path, kind)  # initializer_range 0.3
    install_model(ckpt, cfg, tmp_path / "models", kind)
    with pytest.raises(ConversionRefused, match="differ from torch's by up to"):
        convert(tmp_path / "models", kind)
    installed = locate(tmp_path / "models", kind)
    assert "backends" not in installed.manifest
    assert sorted(p.name for p in installed.root.iterdir()) == ["checkpoint.ckpt", "hf", "manifest.json"]
    assert choose_backend(tmp_path / "models", kind) == "torch"


def _candidate(scorer, tmp_path, input_names):
    export_onnx(scorer, tmp_path / "fp32.onnx", input_names=input_names)
    quantise(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", scorer.model.config)
    save_fast_tokenizer(scorer.tokenizer, tmp_path / "tokenizer.json")
    return {"file": "int8.onnx", "sha256": sha256_file(tmp_path / "int8.onnx"), "tokenizer": "tokenizer.json",
            "tokens": {"cls_id": scorer.cls_id, "sep_id": scorer.sep_id, "pad_id": scorer.pad_id,
                       "max_tokens": scorer.max_tokens}}


def test_swapped_inputs_are_caught_by_the_parity_check(converted, tmp_path):
    """A graph whose input names are in the wrong order passes a name check
    but feeds the mask as token ids; the comparison with torch refuses it."""
    models, _ = converted
    scorer = load_scorer(models, "original", "torch")
    good = _candidate(scorer, tmp_path, ["input_ids", "attention_mask"])
    assert check_candidate(tmp_path, good, scorer, "original") <= MAX_DIFF
    swapped = _candidate(scorer, tmp_path, ["attention_mask", "input_ids"])
    with pytest.raises(ConversionRefused, match="differ from torch's"):
        check_candidate(tmp_path, swapped, scorer, "original")


def test_positionally_named_inputs_are_refused(converted, tmp_path):
    models, _ = converted
    scorer = load_scorer(models, "original", "torch")
    legacy = _candidate(scorer, tmp_path, ["input.1", "mask.1"])
    with pytest.raises(ConversionRefused, match="expected input_ids"):
        check_candidate(tmp_path, legacy, scorer, "original")


def test_parity_texts_include_a_long_text_and_the_identity_list():
    from modsys.toxicity import IDENTITY_REGRESSION

    assert set(IDENTITY_REGRESSION) <= set(PARITY_TEXTS)
    assert max(len(t.split()) for t in PARITY_TEXTS) > 512


def test_the_int8_backend_scores_without_importing_torch(converted):
    """In a fresh process: load + score on onnx-int8, then check what was imported."""
    models, _ = converted
    code = (
        "import json, resource, sys\n"
        "from modsys.toxicity import load_scorer\n"
        f"s = load_scorer({str(models)!r}, 'original', 'onnx-int8')\n"
        "r = s.score(['hello there', 'you are a bad person'])\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules,\n"
        "  'backend': s.info.backend, 'scored': [x is not None for x in r],\n"
        "  'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "MODSYS_TORCH_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"int8 scoring process: peak RSS {seen['rss_mb']:.0f} MB (tiny model)")
    assert seen == {**seen, "torch": False, "transformers": False, "backend": "onnx-int8", "scored": [True, True]}


def test_cli_convert_installs_int8_and_refuses_what_int8_cannot_represent(tmp_path):
    env = {**os.environ, "MODSYS_MODEL_DIR": str(tmp_path / "models"), "HF_HUB_OFFLINE": "1"}

    def modsys(*args, **extra):
        return subprocess.run([sys.executable, "-m", "modsys.cli", "model", *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=180)

    ckpt, cfg = build_tiny_checkpoint(tmp_path, "original")
    install_model(ckpt, cfg, tmp_path / "models")
    refused = modsys("convert", "--model", "original", "--to", "onnx-int8")
    assert refused.returncode == 1 and "was not installed" in refused.stderr
    ckpt, cfg = build_tiny_checkpoint(tmp_path, "unbiased", initializer_range=CONVERTIBLE)
    install_model(ckpt, cfg, tmp_path / "models", "unbiased")
    done = modsys("convert", "--model", "unbiased", "--to", "onnx-int8")
    assert done.returncode == 0 and "converted unbiased to onnx-int8" in done.stdout, done.stderr
    assert locate(tmp_path / "models", "unbiased").backend("onnx-int8") is not None
    bad = modsys("convert", "--model", "unbiased", "--to", "fp16")
    assert bad.returncode == 2 and "fp16" in bad.stderr
