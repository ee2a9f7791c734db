"""A Scorer backed by detoxify, loaded fully offline from the model store.

How offline loading works. detoxify 0.5.4's ``get_model_and_tokenizer``
always calls ``config_class.from_pretrained(args["model_type"])`` with the
checkpoint's hub name ("bert-base-uncased"), even when
``huggingface_config_path`` is given, so on a machine without internet it
fails after the hub client's retries. modsys does not patch detoxify:
``load_scorer`` torch.loads the checkpoint itself (after ``verify`` has
matched its sha256, and tensors-only), points ``model_type`` at the
installed config directory, and then calls detoxify's own
``get_model_and_tokenizer`` with the state dict. Both the config and the
tokenizer then resolve to local paths, and ``local_files_only`` is on.
HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE are also set while loading; note the
hub client reads them when it is first imported, so they only add a guard
in processes that load before anything else imported transformers.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any, Iterator, Sequence

from .model_store import (
    ModelError,
    ModelLoadError,
    ModelNotInstalled,
    read_checkpoint,
    standard_labels,
    verify,
)
from .scorer import (
    CHUNK_OVERLAP,
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TOKENS,
    DEFAULT_MAX_PADDING,
    ModelInfo,
    Scorer,
    ScoreResult,
    chunk_tokens,
    is_blank,
    length_sorted_batches,
)

log = logging.getLogger(__name__)

MAX_MODEL_TOKENS = 512  # BERT / RoBERTa / XLM-R position limit, special tokens included


class DetoxifyScorer:
    """Scores texts with a detoxify model. ``score`` is serialised by a lock:
    the model already uses every thread torch was given, and HF tokenizers
    are not safe to share between threads."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        info: ModelInfo,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        max_padding: float = DEFAULT_MAX_PADDING,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.info = info
        # batching knobs, see scorer.length_sorted_batches; plain attributes
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_padding = max_padding
        self._lock = threading.Lock()
        # The real limit is the smallest of the tokenizer's, the position
        # table's and 512 (RoBERTa's table is 514 with 2 reserved slots).
        self.max_tokens = min(
            MAX_MODEL_TOKENS,
            int(getattr(tokenizer, "model_max_length", MAX_MODEL_TOKENS) or MAX_MODEL_TOKENS),
            int(getattr(model.config, "max_position_embeddings", MAX_MODEL_TOKENS)),
        )
        if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None or tokenizer.pad_token_id is None:
            raise ModelLoadError("tokenizer lacks CLS/SEP/PAD tokens; detoxify's models all have them")

    def token_chunks(self, text: str) -> list[list[int]]:
        """Model inputs for one text: [CLS] chunk [SEP] per window of tokens."""
        with self._lock:
            ids = self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return self._wrap(ids)

    def _wrap(self, ids: list[int]) -> list[list[int]]:
        if not ids:
            return []
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        return [[cls, *c, sep] for c in chunk_tokens(ids, self.max_tokens - 2, CHUNK_OVERLAP)]

    def score(self, texts: Sequence[str]) -> list[ScoreResult]:
        import torch

        results: list[ScoreResult] = [None] * len(texts)
        slots = [i for i, t in enumerate(texts) if not is_blank(t)]
        if not slots:
            return results
        n_labels = len(self.info.labels)
        with self._lock, torch.inference_mode():
            encoded = self.tokenizer(
                [texts[i] for i in slots], add_special_tokens=False, truncation=False, verbose=False
            )["input_ids"]
            owners: list[int] = []  # input position of each chunk
            chunks: list[list[int]] = []
            for slot, ids in zip(slots, encoded):
                for chunk in self._wrap(ids):  # no tokens at all (e.g. only zero-width chars): stays None
                    owners.append(slot)
                    chunks.append(chunk)
            probs = torch.empty(len(chunks), n_labels)
            lengths = [len(c) for c in chunks]
            for batch in length_sorted_batches(lengths, self.batch_size, self.max_batch_tokens, self.max_padding):
                input_ids, mask = self._pad([chunks[j] for j in batch])
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits
                # unbiased/multilingual heads have 16 outputs: 7 labels, then
                # identity targets detoxify also ignores.
                probs[batch] = torch.sigmoid(logits[:, :n_labels].float())
            best: dict[int, Any] = {}
            for owner, p in zip(owners, probs):
                best[owner] = p if owner not in best else torch.maximum(best[owner], p)
        for owner, p in best.items():
            results[owner] = dict(zip(self.info.labels, p.tolist()))
        return results

    def _pad(self, seqs: list[list[int]]):
        import torch

        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        return ids, mask


def available_cpus() -> int:
    """CPUs this process may really use: its affinity set, capped by a cgroup
    v2 quota (``docker --cpus`` sets a quota, not affinity, and torch would
    otherwise start one thread per host core and get throttled)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    return cpus


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update(dict.fromkeys(saved, "1"))  # before the import: the hub reads them once
    import transformers

    bar = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # a worker's log is no place for tqdm
    try:
        yield
    finally:
        if bar:
            transformers.utils.logging.enable_progress_bar()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _check_weights_loaded(model: Any, state_dict: dict[str, Any]) -> None:
    # transformers re-initialises missing weights with only a log line; a
    # key-name change between transformers versions would then give a model
    # that scores noise. Refuse instead.
    import transformers

    have = {k.replace(".gamma", ".weight").replace(".beta", ".bias") for k in state_dict}  # pre-2019 names
    missing = [name for name, _ in model.named_parameters() if name not in have]
    if missing:
        raise ModelLoadError(
            f"{len(missing)} model parameters were not in the checkpoint (e.g. {missing[:3]}); "
            f"this transformers version ({transformers.__version__}) may not match it"
        )


def load_scorer(
    model_dir: str | Path,
    model: str = "original",
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = None,
) -> DetoxifyScorer:
    """Load an installed model. Raises ModelNotInstalled, ChecksumMismatch,
    InvalidCheckpoint or ModelLoadError (all ModelError).

    Sets torch's (process-wide) intra-op thread count to `threads`, else
    $MODSYS_TORCH_THREADS, else the CPUs this process may use.
    """
    installed = verify(model_dir, model)  # sha256 before torch.load sees a byte
    import torch

    threads = threads or int(os.environ.get("MODSYS_TORCH_THREADS", 0)) or available_cpus()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)

    loaded = read_checkpoint(installed.checkpoint, allow_pickle=installed.manifest.get("allow_pickle", False))
    args = dict(loaded["config"]["arch"]["args"])
    args["model_type"] = str(installed.config_dir)  # the hub name -> the local copy
    labels = standard_labels(loaded["config"]["dataset"]["args"]["classes"])
    try:
        with _offline():
            from detoxify.detoxify import get_model_and_tokenizer

            net, tokenizer = get_model_and_tokenizer(
                **args, state_dict=loaded["state_dict"], huggingface_config_path=str(installed.config_dir)
            )
        _check_weights_loaded(net, loaded["state_dict"])
    except ModelError:
        raise
    except (OSError, RuntimeError, ValueError, TypeError, AttributeError) as e:
        raise ModelLoadError(f"could not build toxicity model {model!r} from {installed.root}: {e}") from e
    info = ModelInfo(name=model, sha256=installed.sha256, package_version=version("detoxify"), labels=labels)
    log.info("loaded toxicity model %s (sha256 %s, %d threads)", model, installed.sha256[:12], threads)
    return DetoxifyScorer(net, tokenizer, info, batch_size=batch_size)


# -- process-wide cache -------------------------------------------------------

_lock = threading.Lock()
_scorers: dict[tuple[str, str], Scorer] = {}
_failures: dict[tuple[str, str], ModelError] = {}
_last_reason: str | None = None


def get_scorer(model_dir: str | Path, model: str = "original") -> Scorer | None:
    """The process's scorer for (model_dir, model), loaded on first use.

    Returns None when the model cannot be used (not installed, checksum
    mismatch, unloadable); ``scorer_unavailable_reason()`` says why and the
    caller queues texts for humans unscored. A failure is remembered, so a
    broken install is not re-hashed on every call; only "not installed" is
    retried, and only once a manifest has appeared (one stat per call).
    """
    global _last_reason
    key = (str(Path(model_dir).resolve()), model)
    scorer = _scorers.get(key)  # lock-free fast path once loaded
    if scorer is not None:
        return scorer
    with _lock:
        if key in _scorers:
            return _scorers[key]
        failure = _failures.get(key)
        if failure is not None and not (
            isinstance(failure, ModelNotInstalled) and (Path(key[0]) / model / "manifest.json").exists()
        ):
            _last_reason = str(failure)
            return None
        try:
            scorer = load_scorer(model_dir, model)
        except ModelError as e:
            log.log(logging.WARNING if isinstance(e, ModelNotInstalled) else logging.ERROR, "%s", e)
            _failures[key] = e
            _last_reason = str(e)
            return None
        _scorers[key] = scorer
        _failures.pop(key, None)
        _last_reason = None
        return scorer


def scorer_unavailable_reason(model_dir: str | Path | None = None, model: str = "original") -> str | None:
    """Why get_scorer returned None: for (model_dir, model), or for the most
    recent get_scorer call when no directory is given."""
    if model_dir is None:
        return _last_reason
    failure = _failures.get((str(Path(model_dir).resolve()), model))
    return None if failure is None else str(failure)


def clear_scorer_cache() -> None:
    """Forget loaded scorers and failures (tests; after reinstalling a model)."""
    global _last_reason
    with _lock:
        _scorers.clear()
        _failures.clear()
        _last_reason = None
