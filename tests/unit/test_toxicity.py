"""modsys.toxicity through the real detoxify + transformers code paths, on a
tiny random checkpoint in detoxify's file format (tests/support/tiny_model.py).
Nothing here mocks detoxify or transformers; forward hooks and spies only
watch what reaches the model."""

from __future__ import annotations

import datetime
import hashlib
import json
import random
import socket
import threading
import time
from importlib.metadata import version

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from modsys.toxicity import (
    IDENTITY_REGRESSION,
    ChecksumMismatch,
    InvalidCheckpoint,
    ModelFetchError,
    ModelInfo,
    ModelLoadError,
    ModelNotInstalled,
    Scorer,
    clear_scorer_cache,
    detoxify_scorer,
    fetch_model,
    get_scorer,
    install_model,
    installed_models,
    load_scorer,
    scorer_unavailable_reason,
)
from modsys.toxicity.scorer import (
    CHUNK_OVERLAP,
    chunk_tokens,
    is_blank,
    length_sorted_batches,
)
from tests.support.tiny_model import WORDS, build_tiny_checkpoint

ORIGINAL_LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
UNBIASED_LABELS = ("toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat", "sexual_explicit")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {m: build_tiny_checkpoint(root, m) for m in ("original", "unbiased")}


@pytest.fixture
def installed(tiny, tmp_path):
    ckpt, cfg = tiny["original"]
    install_model(ckpt, cfg, tmp_path / "models")
    return tmp_path / "models"


@pytest.fixture(autouse=True)
def _fresh_cache():
    yield
    clear_scorer_cache()


@pytest.fixture
def batches_seen():
    """Record the padded shape of every batch the model is called with."""
    seen: list[tuple[int, int]] = []
    hooks = []

    def watch(scorer):
        hooks.append(
            scorer.model.register_forward_pre_hook(
                lambda _m, _a, kw: seen.append(tuple(kw["input_ids"].shape)), with_kwargs=True
            )
        )
        return scorer

    yield seen, watch
    for h in hooks:
        h.remove()


def assert_close(a: dict, b: dict, tol: float = 1e-5):
    assert a.keys() == b.keys()
    for k in a:
        assert abs(a[k] - b[k]) <= tol, (k, a[k], b[k])


# -- loading ------------------------------------------------------------------


@pytest.mark.parametrize("kind, labels", [("original", ORIGINAL_LABELS), ("unbiased", UNBIASED_LABELS)])
def test_install_then_load_is_offline_and_matches_detoxify(tiny, tmp_path, monkeypatch, kind, labels):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)

    ckpt, cfg = tiny[kind]
    install_model(ckpt, cfg, tmp_path / "models", kind)
    scorer = load_scorer(tmp_path / "models", kind)
    assert isinstance(scorer, Scorer)
    texts = ["hello there", "you are a bad mod", "i love this server so much"]
    results = scorer.score(texts)
    assert attempts == []

    # The weights in use are the checkpoint's, not a fresh random init.
    expected = torch.load(ckpt, weights_only=True)["state_dict"]
    params = dict(scorer.model.named_parameters())
    assert params.keys() <= expected.keys()
    for name, tensor in params.items():
        assert torch.equal(tensor, expected[name]), name

    for r in results:
        assert tuple(r) == labels
        assert all(0.0 <= v <= 1.0 for v in r.values())

    # Reference: detoxify's own Detoxify.predict on the same checkpoint,
    # its hub name pointed at the local config so it too runs offline.
    import detoxify

    raw = torch.load(ckpt, weights_only=True)
    raw["config"]["arch"]["args"]["model_type"] = str(cfg)
    local = tmp_path / "local.ckpt"
    torch.save(raw, local)
    reference = detoxify.Detoxify(checkpoint=str(local), huggingface_config_path=str(cfg)).predict(texts)
    for i, r in enumerate(results):
        assert_close(r, {label: reference[label][i] for label in labels})


def test_model_info_names_checkpoint_hash_and_detoxify_version(tiny, installed):
    ckpt, _ = tiny["original"]
    info = load_scorer(installed).info
    assert info == ModelInfo(
        name="original",
        sha256=hashlib.sha256(ckpt.read_bytes()).hexdigest(),
        package_version=version("detoxify"),
        labels=ORIGINAL_LABELS,
    )


def test_tampered_checkpoint_is_refused_before_torch_load(installed, monkeypatch):
    (installed / "original" / "checkpoint.ckpt").write_bytes(b"\x80\x04not a checkpoint" * 100)
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: loads.append(a) or real_load(*a, **kw))
    with pytest.raises(ChecksumMismatch, match="recorded when it was installed"):
        load_scorer(installed)
    assert loads == []
    assert get_scorer(installed) is None
    assert "sha256" in scorer_unavailable_reason()


def test_install_refuses_wrong_expected_sha256(tiny, tmp_path):
    ckpt, cfg = tiny["original"]
    with pytest.raises(ChecksumMismatch):
        install_model(ckpt, cfg, tmp_path / "models", expected_sha256="0" * 64)
    assert installed_models(tmp_path / "models") == []


def test_install_normalises_a_stock_config_label_count(tiny, tmp_path):
    # An operator may copy bert-base-uncased's own config.json (2 labels).
    ckpt, cfg = tiny["original"]
    stock = tmp_path / "stock"
    stock.mkdir()
    for f in cfg.iterdir():
        (stock / f.name).write_bytes(f.read_bytes())
    config = json.loads((stock / "config.json").read_text())
    config.pop("id2label"), config.pop("label2id")
    (stock / "config.json").write_text(json.dumps(config))
    install_model(ckpt, stock, tmp_path / "models")
    assert tuple(load_scorer(tmp_path / "models").score(["hi"])[0]) == ORIGINAL_LABELS


def test_checkpoint_needing_full_unpickling_is_refused_even_with_its_sha256(tiny, tmp_path):
    ckpt, cfg = tiny["original"]
    raw = torch.load(ckpt, weights_only=True)
    raw["config"]["trained_on"] = datetime.date(2020, 1, 1)  # not allowed by weights_only
    odd = tmp_path / "odd.ckpt"
    torch.save(raw, odd)
    digest = hashlib.sha256(odd.read_bytes()).hexdigest()
    for vouched in (None, digest):
        with pytest.raises(InvalidCheckpoint, match="never unpickles code"):
            install_model(odd, cfg, tmp_path / "models", expected_sha256=vouched)
    assert installed_models(tmp_path / "models") == []


def test_checkpoint_missing_a_weight_is_refused_not_randomly_filled(tiny, tmp_path):
    # transformers would re-initialise the missing tensor at random and only log it.
    ckpt, cfg = tiny["original"]
    raw = torch.load(ckpt, weights_only=True)
    del raw["state_dict"]["bert.encoder.layer.1.output.dense.weight"]
    partial = tmp_path / "partial.ckpt"
    torch.save(raw, partial)
    install_model(partial, cfg, tmp_path / "models")
    with pytest.raises(ModelLoadError, match="bert.encoder.layer.1.output.dense.weight"):
        load_scorer(tmp_path / "models")


def test_fetch_without_network_is_a_clear_error(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(ModelFetchError, match="modsys model install"):
        fetch_model(tmp_path / "models", "original")
    assert installed_models(tmp_path / "models") == []
    with pytest.raises(ValueError, match="unknown detoxify model"):
        fetch_model(tmp_path / "models", "klingon")


def test_missing_model_says_how_to_install(tmp_path):
    with pytest.raises(ModelNotInstalled) as err:
        load_scorer(tmp_path / "empty")
    assert "modsys model install" in str(err.value)
    assert "modsys model fetch" in str(err.value)

    assert get_scorer(tmp_path / "empty") is None
    assert "not installed" in scorer_unavailable_reason()
    assert "not installed" in scorer_unavailable_reason(tmp_path / "empty")


def test_get_scorer_picks_up_a_model_installed_after_a_miss(tiny, tmp_path):
    assert get_scorer(tmp_path / "models") is None
    ckpt, cfg = tiny["original"]
    install_model(ckpt, cfg, tmp_path / "models")
    assert get_scorer(tmp_path / "models") is not None
    assert scorer_unavailable_reason() is None


def test_get_scorer_loads_once_per_process_even_when_raced(installed, monkeypatch):
    calls = []
    real = detoxify_scorer.load_scorer
    monkeypatch.setattr(detoxify_scorer, "load_scorer", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    barrier = threading.Barrier(4)
    got = []

    def worker():
        barrier.wait()
        got.append(get_scorer(installed))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)  # bounded: a hung load fails here instead of hanging the suite
    assert not any(t.is_alive() for t in threads)
    assert len(calls) == 1
    assert got[0] is not None and all(s is got[0] for s in got)
    assert get_scorer(str(installed)) is got[0]  # same directory, spelled differently


# -- scoring rules ------------------------------------------------------------


def test_blank_texts_are_none_and_never_reach_the_model(installed, batches_seen):
    assert all(is_blank(t) for t in ("", "   ", "\n\t", "\u00a0\u3000"))
    assert not is_blank(" x ")
    seen, watch = batches_seen
    scorer = watch(load_scorer(installed))
    assert scorer.score(["", "   ", "\n\t"]) == [None, None, None]
    assert seen == []
    results = scorer.score(["", "hello", " \u3000 "])
    assert results[0] is None and results[2] is None
    assert tuple(results[1]) == ORIGINAL_LABELS
    assert seen == [(1, 3)]  # [CLS] hello [SEP] only


def test_results_keep_input_order_although_batches_are_length_sorted(installed, batches_seen):
    seen, watch = batches_seen
    scorer = watch(load_scorer(installed))
    scorer.batch_size = 4
    rng = random.Random(7)
    texts = [" ".join(rng.choices(WORDS, k=n)) for n in (30, 2, 17, 2, 45, 3, 9, 3, 31, 12, 2, 29, 16, 44)]
    together = scorer.score(texts)
    widths = [w for _, w in seen]
    # Widths grow batch by batch: the model saw length-sorted batches ...
    assert widths == sorted(widths) and len(widths) >= 3
    assert max(rows for rows, _ in seen) > 1  # real multi-row batches, with padding
    # ... which is not input order, so order really had to be restored.
    assert [len(t.split()) for t in texts] != sorted(len(t.split()) for t in texts)
    alone = [scorer.score([t])[0] for t in texts]
    for a, b in zip(together, alone):
        assert_close(a, b)
    # Scores differ between texts, so a permutation would not go unnoticed.
    assert len({round(r["toxicity"], 6) for r in together}) == len(texts)


def test_long_text_is_chunked_and_scored_by_its_worst_chunk(installed, batches_seen):
    seen, watch = batches_seen
    scorer = watch(load_scorer(installed))
    rng = random.Random(3)
    words = [w for w in WORDS if w.isalpha()]
    tokens = rng.choices(words, k=1100)  # one vocab word = one token
    text = " ".join(tokens)
    assert len(scorer.token_chunks(text)) == 3

    long_score = scorer.score([text])[0]
    assert max(w for _, w in seen) == 512

    step = 510 - CHUNK_OVERLAP
    windows = [tokens[s : s + 510] for s in range(0, len(tokens) - CHUNK_OVERLAP, step)]
    assert len(windows) == 3 and windows[-1][-1] == tokens[-1]
    chunk_scores = scorer.score([" ".join(w) for w in windows])
    assert_close(long_score, {k: max(c[k] for c in chunk_scores) for k in long_score})
    # Not just the first 512 tokens (what truncation would give).
    assert any(abs(long_score[k] - chunk_scores[0][k]) > 1e-3 for k in long_score)


def test_identity_regression_list_runs_through_the_model(installed):
    assert len(IDENTITY_REGRESSION) >= 30
    assert {"I am gay", "I am a Muslim woman", "My name is Shital", "I am Jewish"} <= set(IDENTITY_REGRESSION)
    results = load_scorer(installed).score(IDENTITY_REGRESSION)
    assert len(results) == len(IDENTITY_REGRESSION)
    for text, r in zip(IDENTITY_REGRESSION, results):
        assert r is not None and tuple(r) == ORIGINAL_LABELS, text
        assert all(0.0 <= v <= 1.0 for v in r.values()), text


def test_tiny_checkpoint_builds_quickly(tmp_path):
    build_tiny_checkpoint(tmp_path / "warm")  # imports out of the timing
    start = time.perf_counter()
    build_tiny_checkpoint(tmp_path / "timed")
    assert time.perf_counter() - start < 3.0


# Language support: routing by language lives in the policy (tests/unit/test_language.py).


# -- text preparation (pure) --------------------------------------------------


@given(n=st.integers(0, 3000), size=st.integers(2, 600), data=st.data())
def test_chunks_cover_every_token_with_the_stated_overlap(n, size, data):
    overlap = data.draw(st.integers(0, size - 1))
    ids = list(range(n))
    chunks = chunk_tokens(ids, size, overlap)
    if n == 0:
        assert chunks == [[]]
        return
    assert all(len(c) <= size for c in chunks)
    assert chunks[0][0] == 0 and chunks[-1][-1] == n - 1
    for a, b in zip(chunks, chunks[1:]):
        assert b[0] == a[-1] + 1 - overlap  # exactly `overlap` tokens shared
    # any run of overlap+1 tokens lies whole inside one chunk
    span = min(overlap + 1, n)
    for s in range(0, n - span + 1, max(1, n // 50)):
        assert any(c[0] <= s and s + span - 1 <= c[-1] for c in chunks)


@given(
    lengths=st.lists(st.integers(1, 600), max_size=200),
    batch_size=st.integers(1, 64),
    max_batch_tokens=st.integers(1, 20000),
    max_padding=st.floats(0, 2),
)
def test_batches_are_length_sorted_and_bounded(lengths, batch_size, max_batch_tokens, max_padding):
    batches = length_sorted_batches(lengths, batch_size, max_batch_tokens, max_padding)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)

    def fits(batch):
        padded = len(batch) * max(lengths[i] for i in batch)
        real = sum(lengths[i] for i in batch)
        return len(batch) <= batch_size and padded <= max_batch_tokens and padded <= (1 + max_padding) * real

    for batch, following in zip(batches, batches[1:] + [None]):
        assert len(batch) == 1 or fits(batch)  # a lone item may exceed the caps
        if following is not None:  # and each batch closed only because the next item did not fit
            assert not fits(batch + following[:1])
