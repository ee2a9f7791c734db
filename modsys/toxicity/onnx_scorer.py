"""The int8 backend: detoxify's model exported to ONNX with int8 weights
(`modsys model convert`), run by ONNX Runtime with a fast (Rust) tokenizer.

Nothing here imports torch or transformers: a scoring process on this backend
holds ONNX Runtime, the quantised graph and the tokenizer, about a third of
the fp32 path's memory (bench/RESULTS.md).

Inputs are passed by name, and only names the tokenizer produces are
accepted: a graph exported with positional (``forward()``-order) inputs can
bind an attention mask to ``input_ids`` and score noise without an error.
``convert.py`` checks the names and the probabilities before installing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .model_store import ModelLoadError, verify_backend
from .scorer import (
    DEFAULT_BATCH_SIZE,
    ChunkingScorer,
    ModelInfo,
)

log = logging.getLogger(__name__)

BACKEND = "onnx-int8"
#: Inputs a BERT-family tokenizer produces; the graph may use a subset.
TOKENIZER_OUTPUTS = ("input_ids", "attention_mask", "token_type_ids")


def check_input_names(names: list[str]) -> None:
    unknown = [n for n in names if n not in TOKENIZER_OUTPUTS]
    if unknown or "input_ids" not in names:
        raise ModelLoadError(
            f"the ONNX graph's inputs are {names}; expected input_ids and optionally "
            f"{TOKENIZER_OUTPUTS[1:]} (the tokenizer's outputs, passed by name). A graph with "
            f"positional names cannot be fed safely; convert the model again."
        )


class OnnxScorer(ChunkingScorer):
    def __init__(self, session: Any, tokenizer: Any, info: ModelInfo, *, cls_id: int, sep_id: int,
                 pad_id: int, max_tokens: int, batch_size: int = DEFAULT_BATCH_SIZE):
        self.session = session
        self.tokenizer = tokenizer
        self.input_names = [i.name for i in session.get_inputs()]
        check_input_names(self.input_names)
        super().__init__(info, cls_id=cls_id, sep_id=sep_id, pad_id=pad_id, max_tokens=max_tokens,
                         batch_size=batch_size)

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def _forward(self, windows: list[list[int]]) -> list[list[float]]:
        import numpy as np

        ids, mask = self.padded(windows)
        feed = {"input_ids": np.asarray(ids, dtype=np.int64), "attention_mask": np.asarray(mask, dtype=np.int64)}
        feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        (logits,) = self.session.run(["logits"], {n: feed[n] for n in self.input_names})
        logits = logits[:, : len(self.info.labels)].astype(np.float64)
        return (1.0 / (1.0 + np.exp(-logits))).tolist()


def load_onnx_scorer(model_dir: str | Path, model: str, *, threads: int,
                     batch_size: int = DEFAULT_BATCH_SIZE) -> OnnxScorer:
    """Load the converted model recorded in the manifest, its sha256 checked first."""
    installed, entry = verify_backend(model_dir, model, BACKEND)
    return open_onnx(installed.root, entry, model, installed.labels, threads=threads, batch_size=batch_size)


def open_onnx(root: Path, entry: dict[str, Any], model: str, labels: tuple[str, ...], *, threads: int,
              batch_size: int = DEFAULT_BATCH_SIZE) -> OnnxScorer:
    """A scorer for a backend entry (file, sha256, tokenizer, tokens) under `root`."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    options = ort.SessionOptions()
    # Intra-op threads like torch's; one graph at a time, so no inter-op pool.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle pool threads spin by default ("session.intra_op.allow_spinning" = "1",
    # onnxruntime docs/performance/tune-performance/threading.md): fine on cores of
    # its own, but in the embedded mode they would burn the cores the web server needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(root / entry["file"]), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(root / entry["tokenizer"]))
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelLoadError(f"could not load {root / entry['file']}: {e}") from e
    tokenizer.no_truncation()  # chunking is ours: a long text is split, not cut
    tokenizer.no_padding()
    info = ModelInfo(name=model, sha256=entry["sha256"], package_version=f"onnxruntime {ort.__version__}",
                     labels=labels, backend=BACKEND)
    log.info("loaded toxicity model %s (%s, sha256 %s, %d threads)", model, BACKEND, entry["sha256"][:12], threads)
    tokens = entry["tokens"]
    return OnnxScorer(session, tokenizer, info, cls_id=tokens["cls_id"], sep_id=tokens["sep_id"],
                      pad_id=tokens["pad_id"], max_tokens=tokens["max_tokens"], batch_size=batch_size)
