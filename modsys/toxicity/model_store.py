"""The local model directory: install, fetch, verify, locate.

Layout, one folder per model name::

    <model_dir>/<model>/checkpoint.ckpt   detoxify's checkpoint file, byte for byte
    <model_dir>/<model>/hf/               Hugging Face config + tokenizer files
    <model_dir>/<model>/manifest.json     sha256 of the checkpoint, labels, arch, provenance
    <model_dir>/<model>/model.int8.onnx   optional: the int8 ONNX export (`modsys model convert`),
                                          recorded under manifest["backends"]["onnx-int8"] with its sha256

Trust model. The manifest sits next to the checkpoint, so its sha256 guards
against corruption and accidental replacement, not against someone who can
write to the directory. Protection against a malicious pickle comes from
loading with ``torch.load(weights_only=True)``, always: it only rebuilds
tensors and plain containers. detoxify's released checkpoints are exactly
that (``{"config": dict, "state_dict": OrderedDict}``), so no checksum,
manifest or mirror can ask for full unpickling. Downloads are also checked
against the pins in ``pins.py``.

torch and transformers are imported lazily so ``import modsys.toxicity``
stays cheap for processes (the web app) that never load a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .scorer import ModelInfo

MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint.ckpt"
HF_DIR = "hf"
FORMAT = 1

# detoxify.load_checkpoint renames these so all models share label names;
# it does so inline, so modsys repeats the mapping to record the labels.
_STANDARD_LABELS = {
    "toxic": "toxicity",
    "identity_hate": "identity_attack",
    "severe_toxic": "severe_toxicity",
}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class ModelError(Exception):
    """Base class: anything that keeps a toxicity model from being used."""


class ModelNotInstalled(ModelError):
    pass


class ChecksumMismatch(ModelError):
    pass


class InvalidCheckpoint(ModelError):
    pass


class ModelFetchError(ModelError):
    pass


class ModelLoadError(ModelError):
    pass


@dataclass(frozen=True)
class InstalledModel:
    name: str
    root: Path
    manifest: dict[str, Any]

    @property
    def checkpoint(self) -> Path:
        return self.root / CHECKPOINT

    @property
    def config_dir(self) -> Path:
        return self.root / HF_DIR

    @property
    def sha256(self) -> str:
        return self.manifest["sha256"]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.manifest["labels"])

    def backend(self, name: str) -> dict[str, Any] | None:
        """The manifest entry of a converted backend (file, sha256, ...), if installed."""
        entry = self.manifest.get("backends", {}).get(name)
        return entry if entry and (self.root / entry["file"]).is_file() else None


def _not_installed_message(model: str, model_dir: Path, why: str) -> str:
    return (
        f"toxicity model {model!r} is not installed in {model_dir} ({why}). "
        f"On a machine with internet run `modsys model fetch --model {model}`; "
        f"offline, copy detoxify's checkpoint file and its Hugging Face config/tokenizer "
        f"directory over and run `modsys model install --model {model} "
        f"--checkpoint FILE --config-dir DIR [--sha256 HEX]`. "
        f"Until then flagged messages are queued for moderators unscored."
    )


def _check_name(model: str) -> str:
    # The name becomes a directory name: keep it to a safe alphabet.
    if not _NAME_RE.match(model):
        raise ValueError(f"invalid model name {model!r}: use lowercase letters, digits, '-', '_', '.'")
    return model


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def standard_labels(classes: list[str]) -> tuple[str, ...]:
    return tuple(_STANDARD_LABELS.get(c, c) for c in classes)


def model_path(model_dir: str | Path, model: str = "original") -> Path:
    return Path(model_dir) / _check_name(model)


def installed_models(model_dir: str | Path) -> list[str]:
    root = Path(model_dir)
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob(f"*/{MANIFEST}"))


def locate(model_dir: str | Path, model: str = "original") -> InstalledModel:
    """Read the manifest of an installed model; no hashing."""
    root = model_path(model_dir, model)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        raise ModelNotInstalled(_not_installed_message(model, Path(model_dir), "no manifest")) from None
    except (OSError, ValueError) as e:
        raise ModelNotInstalled(_not_installed_message(model, Path(model_dir), f"unreadable manifest: {e}")) from e
    if manifest.get("format") != FORMAT:
        raise ModelNotInstalled(
            _not_installed_message(model, Path(model_dir), f"manifest format {manifest.get('format')!r}")
        )
    installed = InstalledModel(model, root, manifest)
    for part in (installed.checkpoint, installed.config_dir):
        if not part.exists():
            raise ModelNotInstalled(_not_installed_message(model, Path(model_dir), f"{part.name} missing"))
    return installed


def verify(model_dir: str | Path, model: str = "original") -> InstalledModel:
    """locate() plus a sha256 check of the checkpoint against the manifest.

    Called before every torch.load, so a file that changed since install is
    refused before any of its bytes are unpickled.
    """
    installed = locate(model_dir, model)
    actual = sha256_file(installed.checkpoint)
    if actual != installed.sha256:
        raise ChecksumMismatch(
            f"checkpoint {installed.checkpoint} has sha256 {actual}, but {installed.sha256} was "
            f"recorded when it was installed. The file changed or is corrupt; reinstall it "
            f"(`modsys model install` / `modsys model fetch`)."
        )
    return installed


def verify_backend(model_dir: str | Path, model: str, backend: str) -> tuple[InstalledModel, dict[str, Any]]:
    """The manifest entry of a converted backend, after a sha256 check of its file."""
    installed = locate(model_dir, model)
    entry = installed.backend(backend)
    if entry is None:
        raise ModelNotInstalled(
            f"toxicity model {model!r} has no {backend} conversion in {installed.root}; run "
            f"`modsys model convert --model {model} --to {backend}` (or choose the torch backend)."
        )
    actual = sha256_file(installed.root / entry["file"])
    if actual != entry["sha256"]:
        raise ChecksumMismatch(
            f"{installed.root / entry['file']} has sha256 {actual}, but {entry['sha256']} was recorded "
            f"when it was converted; run `modsys model convert --model {model} --to {backend}` again."
        )
    return installed, entry


def record_backend(installed: InstalledModel, backend: str, entry: dict[str, Any]) -> None:
    """Add a converted backend to the manifest, atomically (readers see the old
    manifest or the new one, never half of it)."""
    manifest = dict(installed.manifest, backends={**installed.manifest.get("backends", {}), backend: entry})
    tmp = installed.root / f".{MANIFEST}.{os.getpid()}"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, installed.root / MANIFEST)


def _torch_load(path: Path) -> Any:
    import torch

    # No mmap=True: transformers adopts the loaded tensors as the model's
    # parameters, so with mmap they would stay backed by the file, and a
    # `cp` over it (an in-place write) would change a running model's weights
    # after their sha256 was checked, or crash it with SIGBUS.
    return torch.load(path, map_location="cpu", weights_only=True)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """torch.load a detoxify checkpoint: tensors and plain data only (a
    pickle that asks for anything else is refused before it runs)."""
    import pickle

    try:
        loaded = _torch_load(path)
    except pickle.UnpicklingError as e:
        raise InvalidCheckpoint(
            f"{path} cannot be loaded as tensors and plain data ({e}). modsys never unpickles code "
            f"from a checkpoint; save it again as {{'config': ..., 'state_dict': ...}} of plain data."
        ) from e
    except Exception as e:
        raise InvalidCheckpoint(f"{path} is not a readable torch checkpoint: {e}") from e
    try:
        loaded["config"]["arch"]["args"]["model_type"]
        loaded["config"]["dataset"]["args"]["classes"]
        loaded["state_dict"]
    except (KeyError, TypeError) as e:
        raise InvalidCheckpoint(
            f"{path} is not in detoxify's format (needs config.arch.args, config.dataset.args.classes, "
            f"state_dict): missing {e}"
        ) from e
    return loaded


def install_model(
    checkpoint: Path,
    config_dir: Path,
    model_dir: Path,
    model: str = "original",
    expected_sha256: str | None = None,
    *,
    source: str | None = None,
) -> ModelInfo:
    """Copy a detoxify checkpoint and its HF config/tokenizer directory into
    model_dir/<model>/ and record its sha256. Replaces an existing install
    only once the new one is complete."""
    import transformers

    _check_name(model)
    checkpoint, config_dir, model_dir = Path(checkpoint), Path(config_dir), Path(model_dir)
    digest = sha256_file(checkpoint)
    if expected_sha256 is not None and digest != expected_sha256.strip().lower():
        raise ChecksumMismatch(f"{checkpoint} has sha256 {digest}, expected {expected_sha256}")
    if not (config_dir / "config.json").is_file():
        raise InvalidCheckpoint(f"{config_dir} has no config.json (need the HF config + tokenizer directory)")

    loaded = read_checkpoint(checkpoint)
    args = loaded["config"]["arch"]["args"]
    labels = standard_labels(loaded["config"]["dataset"]["args"]["classes"])
    try:
        model_class = getattr(transformers, args["model_name"])
        tokenizer_class = getattr(transformers, args["tokenizer_name"])
    except (KeyError, AttributeError) as e:
        raise InvalidCheckpoint(f"checkpoint names an unknown transformers class: {e}") from e

    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model}-", dir=model_dir))
    try:
        shutil.copytree(config_dir, staging / HF_DIR)
        # detoxify builds the model from the HF config; with a local config
        # the label count comes from config.json, so make it match the
        # checkpoint's head (a stock bert-base-uncased config says 2).
        config = model_class.config_class.from_pretrained(config_dir, num_labels=args["num_classes"])
        config.save_pretrained(staging / HF_DIR)
        tokenizer_class.from_pretrained(staging / HF_DIR)  # fail now, not at first load
        shutil.copyfile(checkpoint, staging / CHECKPOINT)
        if sha256_file(staging / CHECKPOINT) != digest:
            raise ChecksumMismatch(f"{checkpoint} changed while it was being copied")
        manifest = {
            "format": FORMAT,
            "model": model,
            "sha256": digest,
            # so a served copy of this directory is a mirror (MODSYS_MODEL_URL_BASE) with checked files
            "files": {p.name: sha256_file(p) for p in sorted((staging / HF_DIR).iterdir()) if p.is_file()},
            "labels": list(labels),
            "arch": {k: args[k] for k in ("model_type", "model_name", "tokenizer_name", "num_classes") if k in args},
            "source": source or str(checkpoint.resolve()),
            "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "detoxify_version": version("detoxify"),
            "transformers_version": transformers.__version__,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _swap_into_place(staging, model_dir / model)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ModelInfo(name=model, sha256=digest, package_version=version("detoxify"), labels=labels)


def _swap_into_place(staging: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}-old-{os.getpid()}")
        final.rename(old)
    staging.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
