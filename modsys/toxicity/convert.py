"""`modsys model convert --to onnx-int8`: export the installed checkpoint to
ONNX, fuse and quantise it, and install it beside the checkpoint only if it
scores like torch does.

Settings, from the sources read:
- torch.onnx.export with ``dynamo=False`` (the TorchScript exporter, which
  takes ``dynamic_axes``; the dynamo exporter needs onnxscript) and explicit
  ``input_names``: without them a graph's inputs are named after forward()'s
  parameters in order, and a swapped binding silently scores noise. Batch and
  sequence axes are dynamic, since the scorer batches windows by length.
  opset 17 (LayerNormalization as one op; supported by ONNX Runtime 1.2x+).
- onnxruntime.transformers.optimizer.optimize_model(model_type="bert") fuses
  embeddings, attention, GELU and skip-LayerNorm (RoBERTa/XLM-R share BERT's
  graph). It finds the attention pattern only in the "eager" attention
  implementation, so the export uses that (numerically the same as SDPA).
  ONNX Runtime's quantisation guide recommends optimising before quantising
  rather than letting the quantiser see unfused graphs.
- onnxruntime.quantization.quantize_dynamic(weight_type=QInt8,
  per_channel=True): int8 weights, activations quantised per batch at run
  time; per-channel scales keep accuracy on weights whose rows differ in
  range. The fused ops carry no type info for the quantiser's shape
  inference, hence ``DefaultTensorType: FLOAT`` (its error message's advice).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from .model_store import ModelError, ModelLoadError, locate, record_backend, sha256_file
from .onnx_scorer import BACKEND, open_onnx
from .regression import IDENTITY_REGRESSION

MAX_DIFF = 0.02  # largest |p_int8 - p_fp32| on PARITY_TEXTS that may be installed
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask")
ONNX_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"

#: The fixed test set: benign identity statements (where false positives hurt),
#: chat, abuse, and one text long enough to be chunked.
PARITY_TEXTS: list[str] = [
    *IDENTITY_REGRESSION,
    "hello everyone, good game today",
    "lol that was a great play",
    "please read the rules before you post",
    "you are an idiot and everyone hates you",
    "shut up, nobody wants you here",
    "I will find you and hurt you",
    "what a stupid take, go away",
    "thanks for the help, mods!",
    " ".join(["one two three four five six seven eight nine ten"] * 80),
]


class ConversionRefused(ModelError):
    pass


def export_onnx(scorer: Any, path: Path, input_names: Sequence[str] = INPUT_NAMES) -> None:
    """Export a DetoxifyScorer's torch model (fp32) with named, dynamic inputs."""
    import torch

    net = scorer.model
    sample = scorer.padded([[scorer.cls_id, 10, 11, 12, scorer.sep_id], [scorer.cls_id, 10, scorer.sep_id]])
    ids, mask = (torch.tensor(t) for t in sample)
    attn = net.config._attn_implementation
    net.config._attn_implementation = "eager"
    try:
        # The tracer's warnings (legacy exporter, traced Python conditions) are
        # about graphs that might not generalise; check_candidate is the guard
        # that matters, comparing the result with torch on real texts.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net, (ids, mask), str(path), dynamo=False, opset_version=OPSET,
                input_names=list(input_names), output_names=["logits"],
                dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in input_names}, "logits": {0: "batch"}},
            )
    finally:
        net.config._attn_implementation = attn


#: ONNX Runtime's fused kernels (contrib ops) that replace a transformer's
#: LayerNorm, GELU and attention subgraphs; counted into the manifest.
FUSED_OPS = ("EmbedLayerNormalization", "SkipLayerNormalization", "LayerNormalization", "BiasGelu",
             "FastGelu", "Gelu", "Attention")


def quantise(fp32: Path, int8: Path, config: Any) -> dict[str, int]:
    """Fuse, then quantise; returns how many of each fused op the graph has."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    fused = fp32.with_suffix(".fused.onnx")
    optimized = optimize_model(str(fp32), model_type="bert", num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size)
    optimized.save_model_to_file(str(fused))
    counts = optimized.get_fused_operator_statistics()
    quantize_dynamic(str(fused), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})
    return {op: counts[op] for op in FUSED_OPS if counts.get(op)}


def save_fast_tokenizer(tokenizer: Any, path: Path) -> None:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # a slow (Python) tokenizer: convert it the way transformers does
        from transformers.convert_slow_tokenizer import convert_slow_tokenizer

        backend = convert_slow_tokenizer(tokenizer)
    backend.save(str(path))


def parity(reference: Any, candidate: Any, texts: Sequence[str] = PARITY_TEXTS) -> float:
    """Largest probability difference between two scorers on `texts`."""
    worst = 0.0
    for a, b in zip(reference.score(texts), candidate.score(texts)):
        if (a is None) != (b is None):
            raise ConversionRefused("the converted model skips different texts than torch does (tokenizer mismatch)")
        if a is not None:
            worst = max(worst, *(abs(a[k] - b[k]) for k in a))
    return worst


def check_candidate(root: Path, entry: dict[str, Any], reference: Any, model: str) -> float:
    """Open a candidate conversion and compare it with torch; raises ConversionRefused."""
    try:
        candidate = open_onnx(root, entry, model, reference.info.labels, threads=1)
    except ModelLoadError as e:
        raise ConversionRefused(str(e)) from e
    diff = parity(reference, candidate)
    if diff > MAX_DIFF:
        raise ConversionRefused(
            f"the int8 model's probabilities differ from torch's by up to {diff:.3f} on the fixed test set "
            f"(at most {MAX_DIFF} is accepted); it was not installed. Keep the torch backend for this model."
        )
    return diff


def convert(model_dir: str | Path, model: str = "original", *, threads: int | None = None) -> dict[str, Any]:
    """Convert the installed `model` to onnx-int8 and record it in the manifest;
    returns the manifest entry. Nothing is installed unless every check passes."""
    import onnxruntime

    from .detoxify_scorer import available_cpus, load_torch_scorer

    reference = load_torch_scorer(model_dir, model, threads=threads or available_cpus())
    root = locate(model_dir, model).root
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=root))
    try:
        export_onnx(reference, staging / "fp32.onnx")
        fused = quantise(staging / "fp32.onnx", staging / ONNX_FILE, reference.model.config)
        save_fast_tokenizer(reference.tokenizer, staging / TOKENIZER_FILE)
        entry = {
            "file": ONNX_FILE,
            "sha256": sha256_file(staging / ONNX_FILE),
            "tokenizer": TOKENIZER_FILE,
            "tokens": {"cls_id": reference.cls_id, "sep_id": reference.sep_id, "pad_id": reference.pad_id,
                       "max_tokens": reference.max_tokens},
            "input_names": list(INPUT_NAMES),
            "quantization": "dynamic int8 weights, per channel (onnxruntime quantize_dynamic)",
            "opset": OPSET,
            "fused": fused,
            "onnxruntime_version": onnxruntime.__version__,
            "converted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        entry["max_abs_diff"] = round(check_candidate(staging, entry, reference, model), 5)
        for name in (ONNX_FILE, TOKENIZER_FILE):
            os.replace(staging / name, root / name)
        record_backend(locate(model_dir, model), BACKEND, entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry
