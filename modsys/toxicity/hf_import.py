"""Any Hugging Face sequence-classification checkpoint, installed offline:
`modsys model install --hf-dir DIR --labels a,b,c --model NAME`.

The directory is what ``save_pretrained`` writes: config.json naming a
``*ForSequenceClassification`` architecture, ``model.safetensors`` and the
tokenizer files. Only safetensors is accepted: it holds tensors and nothing
else, where a ``pytorch_model.bin`` is a pickle. The labels are declared in
the order of the model's outputs (the config's id2label is often just
LABEL_0..n); the policy's ``toxicity.label_maps`` maps them onto modsys's
labels. The model is then written as a detoxify-format checkpoint, so it is
installed, loaded, converted to int8 and gated exactly like detoxify's own.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .model_store import InvalidCheckpoint, install_model
from .scorer import ModelInfo

WEIGHTS = "model.safetensors"


def install_hf_model(hf_dir: Path, model_dir: Path, model: str, labels: list[str],
                     expected_sha256: str | None = None) -> ModelInfo:
    """Install the classifier in `hf_dir` as `model`; `expected_sha256` is
    of its model.safetensors. Raises InvalidCheckpoint / ChecksumMismatch."""
    import torch
    import transformers
    from safetensors.torch import load_file

    from .model_store import ChecksumMismatch, sha256_file

    hf_dir = Path(hf_dir)
    weights = hf_dir / WEIGHTS
    if not (hf_dir / "config.json").is_file() or not weights.is_file():
        raise InvalidCheckpoint(f"{hf_dir} needs config.json and {WEIGHTS} (save_pretrained's output; "
                                f"pytorch_model.bin is a pickle and is not accepted)")
    if expected_sha256 and sha256_file(weights) != expected_sha256.strip().lower():
        raise ChecksumMismatch(f"{weights} has sha256 {sha256_file(weights)}, expected {expected_sha256}")
    config = transformers.AutoConfig.from_pretrained(hf_dir, local_files_only=True)
    arch = (config.architectures or [""])[0]
    if not arch.endswith("ForSequenceClassification") or not hasattr(transformers, arch):
        raise InvalidCheckpoint(f"{hf_dir} is a {arch or 'model without an architecture'}; a "
                                f"*ForSequenceClassification model is needed")
    if len(labels) != config.num_labels or len(set(labels)) != len(labels):
        raise InvalidCheckpoint(f"--labels names {len(labels)} distinct labels but the model has {config.num_labels} "
                                f"outputs ({', '.join(config.id2label.values())}); name each output once, in order")
    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_dir, local_files_only=True)
    checkpoint = {
        "config": {
            "arch": {"args": {"model_type": config.model_type, "model_name": arch,
                              "tokenizer_name": type(tokenizer).__name__, "num_classes": config.num_labels}},
            "dataset": {"args": {"classes": list(labels)}},
            "source": {"hf_dir": str(hf_dir.resolve()), "safetensors_sha256": sha256_file(weights)},
        },
        "state_dict": load_file(weights),
    }
    with tempfile.TemporaryDirectory(prefix="modsys-hf-") as tmp:
        config_dir = Path(tmp) / "hf"
        config.save_pretrained(config_dir)
        tokenizer.save_pretrained(config_dir)
        ckpt = Path(tmp) / "checkpoint.ckpt"
        torch.save(checkpoint, ckpt)
        return install_model(ckpt, config_dir, model_dir, model, source=str(weights.resolve()))
