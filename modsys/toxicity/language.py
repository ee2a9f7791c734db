"""Which language a flagged message is in: lingua, offline, built once per process.

lingua-language-detector ships its language models inside its wheel, so
nothing is downloaded at run time, and it is built for short text (its
n-gram models go down to unigrams). A detector is restricted to the
languages a policy names plus English: fewer candidates means fewer
confusions on chat-length messages and less memory (about 40 MB a language
once loaded). Building one costs seconds, so it is cached per language set.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterable

#: Fewer letters than this is not a language ("ok", "lol", "gg", emoji).
MIN_LETTERS = 5


@dataclass(frozen=True)
class Detected:
    language: str | None  # ISO 639-1, lowercase; None: too short or no candidate fits
    confidence: float  # lingua's confidence in that language, 0 when None


_lock = threading.Lock()
_detectors: dict[frozenset[str], Any] = {}


def unknown_languages(codes: Iterable[str]) -> list[str]:
    """The codes lingua has no model for (policy validation)."""
    from lingua import IsoCode639_1

    bad = []
    for code in codes:
        try:
            IsoCode639_1.from_str(code)
        except ValueError:
            bad.append(code)
    return bad


def detector(languages: Iterable[str]) -> Any:
    """The process's detector for `languages` (+ English), built on first use."""
    key = frozenset({*languages, "en"})
    found = _detectors.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _detectors:
            from lingua import IsoCode639_1, LanguageDetectorBuilder

            codes = [IsoCode639_1.from_str(c) for c in sorted(key)]
            # preloaded: the models load here, once, not on the first flag (about 6 s for 7 languages)
            _detectors[key] = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_preloaded_language_models().build()
        return _detectors[key]


def detect(text: str, languages: Iterable[str]) -> Detected:
    """The language of `text` among `languages` (+ English)."""
    if sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return Detected(None, 0.0)
    values = detector(languages).compute_language_confidence_values(text)
    if not values:
        return Detected(None, 0.0)
    best = values[0]
    return Detected(best.language.iso_code_639_1.name.lower(), float(best.value))
