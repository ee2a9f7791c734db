"""Toxicity scoring: annotates and orders the moderation queue, never decides.

Public API::

    get_scorer(model_dir, model, *backends) -> Scorer | None   # cached per process
    load_scorer(model_dir, model, backend) -> Scorer            # "torch" | "onnx-int8" | None (auto)
    convert.convert(model_dir, model)                           # int8 ONNX beside the checkpoint
    install_model(...) / fetch_model(...)           # the local model directory
"""

from .detoxify_scorer import (
    DetoxifyScorer,
    available_cpus,
    choose_backend,
    clear_scorer_cache,
    get_scorer,
    load_scorer,
    scorer_unavailable_reason,
)
from .fetch import fetch_model
from .model_store import (
    ChecksumMismatch,
    InvalidCheckpoint,
    ModelError,
    ModelFetchError,
    ModelLoadError,
    ModelNotInstalled,
    install_model,
    installed_models,
    locate,
    model_path,
    verify,
)
from .regression import IDENTITY_REGRESSION
from .scorer import (
    DEFAULT_BATCH_SIZE,
    ModelInfo,
    Scorer,
    ScoreResult,
)

__all__ = [
    "ChecksumMismatch",
    "DEFAULT_BATCH_SIZE",
    "DetoxifyScorer",
    "IDENTITY_REGRESSION",
    "InvalidCheckpoint",
    "ModelError",
    "ModelFetchError",
    "ModelInfo",
    "ModelLoadError",
    "ModelNotInstalled",
    "ScoreResult",
    "Scorer",
    "available_cpus",
    "choose_backend",
    "clear_scorer_cache",
    "fetch_model",
    "get_scorer",
    "install_model",
    "installed_models",
    "load_scorer",
    "locate",
    "model_path",
    "scorer_unavailable_reason",
    "verify",
]
