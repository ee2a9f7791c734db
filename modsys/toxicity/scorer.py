"""The scoring contract and the model-independent text preparation.

Everything here is pure Python (no torch), so the rules that decide *what*
reaches the model -- blank texts skipped, long texts chunked, batches ordered
by length -- can be read and tested without loading any weights.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

#: One entry of `Scorer.score`: label -> probability in [0, 1], or None for a
#: text that was blank and therefore never scored.
ScoreResult = dict[str, float] | None

DEFAULT_BATCH_SIZE = 32
#: Padded tokens per batch at most (32 x 256): bounds activation memory.
DEFAULT_MAX_BATCH_TOKENS = 8192
#: Padding allowed per batch, as a share of its real tokens. On bench/toxicity.py's
#: chat corpus (bert-base, 2 cores) 0.1 scored ~3x faster than count-only batches.
DEFAULT_MAX_PADDING = 0.1
#: Tokens shared by consecutive chunks of a long text, so a phrase cut by a
#: chunk boundary still appears whole in one of the two chunks.
CHUNK_OVERLAP = 64
MAX_MODEL_TOKENS = 512  # BERT / RoBERTa / XLM-R position limit, special tokens included
#: The backends `load_scorer` knows: detoxify's torch model in fp32, and its
#: ONNX export with int8 weights (`modsys model convert`).
BACKENDS = ("torch", "onnx-int8")


@dataclass(frozen=True)
class ModelInfo:
    name: str  # "original" | "unbiased" | "multilingual" | the installed name
    sha256: str  # sha256 (hex) of the checkpoint file
    package_version: str  # detoxify version that loaded it
    labels: tuple[str, ...]  # 6 for original, 7 for unbiased / multilingual
    backend: str = "torch"  # one of BACKENDS; sha256 is then of the file that backend runs


@runtime_checkable
class Scorer(Protocol):
    info: ModelInfo

    def score(self, texts: Sequence[str]) -> list[ScoreResult]:
        """One entry per input text, in input order; None for blank texts."""
        ...


def is_blank(text: str | None) -> bool:
    return text is None or not text.strip()


class ChunkingScorer(ABC):
    """What every backend shares: blank texts skipped, long texts cut into
    overlapping windows of [CLS] tokens [SEP], windows batched by length, and
    a text scored by its worst window. A backend supplies `_encode` (texts ->
    token ids, no special tokens) and `_forward` (a batch of windows -> label
    probabilities per window). `score` is serialised by a lock: the model
    already uses every thread it was given, and tokenizers are not safe to
    share between threads."""

    def __init__(self, info: ModelInfo, *, cls_id: int, sep_id: int, pad_id: int, max_tokens: int,
                 batch_size: int = DEFAULT_BATCH_SIZE, max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
                 max_padding: float = DEFAULT_MAX_PADDING):
        self.info = info
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id
        self.max_tokens = max_tokens
        # batching knobs, see length_sorted_batches; plain attributes
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_padding = max_padding
        self._lock = threading.Lock()

    @abstractmethod
    def _encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens (the backend's tokenizer)."""

    @abstractmethod
    def _forward(self, windows: list[list[int]]) -> list[list[float]]:
        """Label probabilities of each window (the backend's model)."""

    def _wrap(self, ids: list[int]) -> list[list[int]]:
        if not ids:
            return []
        return [[self.cls_id, *c, self.sep_id] for c in chunk_tokens(ids, self.max_tokens - 2, CHUNK_OVERLAP)]

    def token_chunks(self, text: str) -> list[list[int]]:
        """Model inputs for one text: [CLS] chunk [SEP] per window of tokens."""
        with self._lock:
            return self._wrap(self._encode([text])[0])

    def score(self, texts: Sequence[str]) -> list[ScoreResult]:
        results: list[ScoreResult] = [None] * len(texts)
        slots = [i for i, t in enumerate(texts) if not is_blank(t)]
        if not slots:
            return results
        with self._lock:
            owners: list[int] = []  # input position of each window
            windows: list[list[int]] = []
            for slot, ids in zip(slots, self._encode([texts[i] for i in slots])):
                for window in self._wrap(ids):  # no tokens at all (e.g. only zero-width chars): stays None
                    owners.append(slot)
                    windows.append(window)
            probs: list[list[float]] = [[]] * len(windows)
            lengths = [len(w) for w in windows]
            for batch in length_sorted_batches(lengths, self.batch_size, self.max_batch_tokens, self.max_padding):
                for j, p in zip(batch, self._forward([windows[j] for j in batch])):
                    probs[j] = p
        best: dict[int, list[float]] = {}
        for owner, p in zip(owners, probs):
            best[owner] = p if owner not in best else [max(a, b) for a, b in zip(best[owner], p)]
        for owner, p in best.items():
            results[owner] = dict(zip(self.info.labels, p))
        return results

    def padded(self, windows: list[list[int]]) -> tuple[list[list[int]], list[list[int]]]:
        """(input_ids, attention_mask) rows, right-padded to the longest window."""
        width = max(map(len, windows))
        ids = [w + [self.pad_id] * (width - len(w)) for w in windows]
        mask = [[1] * len(w) + [0] * (width - len(w)) for w in windows]
        return ids, mask


def chunk_tokens(ids: Sequence[int], size: int, overlap: int = CHUNK_OVERLAP) -> list[list[int]]:
    """Split token ids into windows of at most `size`, consecutive windows
    sharing `overlap` tokens. A sequence that fits is returned as one chunk."""
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError(f"need size > 0 and 0 <= overlap < size, got {size=}, {overlap=}")
    ids = list(ids)
    if len(ids) <= size:
        return [ids]
    step = size - overlap
    chunks = []
    start = 0
    while True:
        chunks.append(ids[start : start + size])
        if start + size >= len(ids):
            return chunks
        start += step


def length_sorted_batches(
    lengths: Sequence[int],
    batch_size: int,
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
    max_padding: float = DEFAULT_MAX_PADDING,
) -> list[list[int]]:
    """Indices into `lengths`, grouped into batches of similar length.

    Every row of a batch is padded to its longest one, and on a CPU padding
    costs as much as real tokens. Sorting by length keeps neighbours alike;
    a batch then closes when it holds `batch_size` items, or when the next
    (longest yet) item would push the padded size past `max_batch_tokens`
    (bounds activation memory) or the padding past `max_padding` of the real
    tokens (the sparse long tail of chat lengths would otherwise pad short
    messages to hundreds of tokens). The sort is stable, so results are
    reproducible.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    batch: list[int] = []
    real = 0
    for i in order:
        n = lengths[i]
        padded = (len(batch) + 1) * n  # sorted: this item is the batch's longest
        if batch and (
            len(batch) == batch_size or padded > max_batch_tokens or padded > (1 + max_padding) * (real + n)
        ):
            batches.append(batch)
            batch, real = [], 0
        batch.append(i)
        real += n
    if batch:
        batches.append(batch)
    return batches
