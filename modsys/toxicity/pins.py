"""The checksums modsys trusts for detoxify's release checkpoints.

A mirror's manifest sits beside the file it describes, so it can vouch for
anything; the pins here can't be changed by whoever serves the files.

Where they come from: detoxify 0.5.4's ``detoxify/detoxify.py`` (MODEL_URLS,
the release URLs on github.com/unitaryai/detoxify). detoxify's
``scripts/convert_weights.py`` names each release file
``<name>-<sha256[:8]>.ckpt`` (torch.hub's HASH_REGEX convention), so the
8 hex digits in each name are the published checksum; detoxify publishes no
full digest. An 8-digit prefix is 32 bits, which a determined attacker can
match by search; the barrier against code is ``torch.load(weights_only=True)``
(model_store.read_checkpoint), the pin keeps a mirror from substituting other
weights. An operator who has verified a file can pin its full sha256 with
MODSYS_MODEL_SHA256 (``original=<64 hex>,multilingual=<64 hex>``); a full pin
replaces the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

_BASE = "https://github.com/unitaryai/detoxify/releases/download/"


@dataclass(frozen=True)
class Release:
    url: str
    sha256_prefix: str
    arch: str  # what the checkpoint's config names (for the docs and bench)


RELEASES: dict[str, Release] = {
    "original": Release(_BASE + "v0.1-alpha/toxic_original-c1212f89.ckpt", "c1212f89", "bert-base-uncased"),
    "unbiased": Release(_BASE + "v0.3-alpha/toxic_debiased-c7548aa0.ckpt", "c7548aa0", "roberta-base"),
    "multilingual": Release(_BASE + "v0.4-alpha/multilingual_debiased-0b549669.ckpt", "0b549669",
                            "xlm-roberta-base"),
}


def pinned_sha256(model: str, operator_pins: Mapping[str, str]) -> str:
    """The sha256 (or published prefix) a checkpoint of `model` must have:
    the operator's full pin, else the release's. ValueError: not a release."""
    if model not in RELEASES:
        raise ValueError(f"unknown detoxify model {model!r}; choose from {sorted(RELEASES)}")
    return operator_pins.get(model, RELEASES[model].sha256_prefix).lower()
