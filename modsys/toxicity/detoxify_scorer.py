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
from typing import Any, Iterator

from .model_store import (
    ModelError,
    ModelLoadError,
    ModelNotInstalled,
    locate,
    read_checkpoint,
    standard_labels,
    verify,
)
from .scorer import (
    BACKENDS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TOKENS,
    DEFAULT_MAX_PADDING,
    MAX_MODEL_TOKENS,
    ChunkingScorer,
    ModelInfo,
    Scorer,
)

log = logging.getLogger(__name__)
ONNX_BACKEND = "onnx-int8"

class DetoxifyScorer(ChunkingScorer):
    """The fp32 backend: detoxify's own model under torch."""

    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS, max_padding: float = DEFAULT_MAX_PADDING):
        self.model = model.eval()
        self.tokenizer = tokenizer
        if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None or tokenizer.pad_token_id is None:
            raise ModelLoadError("tokenizer lacks CLS/SEP/PAD tokens; detoxify's models all have them")
        super().__init__(
            info, cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id, pad_id=tokenizer.pad_token_id,
            # The real limit is the smallest of the tokenizer's, the position
            # table's and 512 (RoBERTa's table is 514 with 2 reserved slots).
            max_tokens=min(
                MAX_MODEL_TOKENS,
                int(getattr(tokenizer, "model_max_length", MAX_MODEL_TOKENS) or MAX_MODEL_TOKENS),
                int(getattr(model.config, "max_position_embeddings", MAX_MODEL_TOKENS)),
            ),
            batch_size=batch_size, max_batch_tokens=max_batch_tokens, max_padding=max_padding,
        )

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]

    def _forward(self, windows: list[list[int]]) -> list[list[float]]:
        import torch

        ids, mask = self.padded(windows)
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits
            # unbiased/multilingual heads have 16 outputs: 7 labels, then
            # identity targets detoxify also ignores.
            return torch.sigmoid(logits[:, : len(self.info.labels)].float()).tolist()


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


def choose_backend(model_dir: str | Path, model: str, *requested: str | None) -> str:
    """The backend to score with: the first of `requested` that names one
    (callers pass $MODSYS_TOXICITY_BACKEND, then the policy's
    `toxicity.backend`), else onnx-int8 when a converted model is installed,
    else torch. "auto" or None defers to the next."""
    for name in requested:
        if name and name != "auto":
            if name not in BACKENDS:
                raise ValueError(f"unknown toxicity backend {name!r}; choose from {', '.join(BACKENDS)} or auto")
            return name
    try:
        return ONNX_BACKEND if locate(model_dir, model).backend(ONNX_BACKEND) else "torch"
    except ModelError:
        return "torch"


def load_scorer(
    model_dir: str | Path,
    model: str = "original",
    backend: str | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = None,
) -> Scorer:
    """Load an installed model on `backend` ("torch" | "onnx-int8"; None: see
    choose_backend). Raises ModelNotInstalled, ChecksumMismatch,
    InvalidCheckpoint or ModelLoadError (all ModelError).

    Uses `threads` intra-op threads (torch's setting is process-wide; a
    scoring worker passes settings.scoring_threads), else the CPUs this
    process may use (the CLI and bench, with the machine to themselves).
    """
    backend = choose_backend(model_dir, model, backend)
    threads = threads or available_cpus()
    if backend == ONNX_BACKEND:  # no torch import on this path
        from .onnx_scorer import load_onnx_scorer

        return load_onnx_scorer(model_dir, model, threads=threads, batch_size=batch_size)
    return load_torch_scorer(model_dir, model, threads=threads, batch_size=batch_size)


def load_torch_scorer(model_dir: str | Path, model: str, *, threads: int,
                      batch_size: int = DEFAULT_BATCH_SIZE) -> DetoxifyScorer:
    installed = verify(model_dir, model)  # sha256 before torch.load sees a byte
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)

    loaded = read_checkpoint(installed.checkpoint)
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
    log.info("loaded toxicity model %s (torch, sha256 %s, %d threads)", model, installed.sha256[:12], threads)
    return DetoxifyScorer(net, tokenizer, info, batch_size=batch_size)


# -- process-wide cache -------------------------------------------------------

_lock = threading.Lock()
_scorers: dict[tuple[str, str, str], Scorer] = {}
_failures: dict[tuple[str, str, str], ModelError] = {}
_last_reason: str | None = None


def get_scorer(model_dir: str | Path, model: str = "original", *requested: str | None,
               threads: int | None = None) -> Scorer | None:
    """The process's scorer for (model_dir, model, backend), loaded on first
    use; `requested` backends as in choose_backend (so installing a converted
    model switches an "auto" caller over to it).

    Returns None when the model cannot be used (not installed, checksum
    mismatch, unloadable); ``scorer_unavailable_reason()`` says why and the
    caller queues texts for humans unscored. A failure is remembered, so a
    broken install is not re-hashed on every call; only "not installed" is
    retried, and only once a manifest has appeared (one stat per call).
    """
    global _last_reason
    try:
        backend = choose_backend(model_dir, model, *requested)
    except ValueError as e:
        _last_reason = str(e)
        return None
    key = (str(Path(model_dir).resolve()), model, backend)
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
            scorer = load_scorer(model_dir, model, backend, threads=threads)
        except ModelError as e:
            log.log(logging.WARNING if isinstance(e, ModelNotInstalled) else logging.ERROR, "%s", e)
            _failures[key] = e
            _last_reason = str(e)
            return None
        _scorers[key] = scorer
        _failures.pop(key, None)
        _last_reason = None
        return scorer


def scorer_unavailable_reason(model_dir: str | Path | None = None, model: str = "original",
                              *requested: str | None) -> str | None:
    """Why get_scorer returned None: for (model_dir, model, backend), or for
    the most recent get_scorer call when no directory is given."""
    if model_dir is None:
        return _last_reason
    try:
        backend = choose_backend(model_dir, model, *requested)
    except ValueError as e:
        return str(e)
    failure = _failures.get((str(Path(model_dir).resolve()), model, backend))
    return None if failure is None else str(failure)


def clear_scorer_cache() -> None:
    """Forget loaded scorers and failures (tests; after reinstalling a model)."""
    global _last_reason
    with _lock:
        _scorers.clear()
        _failures.clear()
        _last_reason = None
