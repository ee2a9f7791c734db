"""Language detection on short chat messages (lingua, offline) and the
policy's routing: which model and thresholds a language gets."""

from __future__ import annotations

import pytest
import yaml

from modsys.domain.errors import PolicyError
from modsys.domain.policy import parse_policy
from modsys.infra.config import DEFAULT_POLICY
from modsys.toxicity.language import detect, detector

LANGUAGES = ["fr", "es", "it", "pt", "tr", "ru", "de"]

CHAT = {
    "en": ["shut up, nobody wants you here", "please read the rules before you post", "you are such an idiot lol"],
    "fr": ["t'es vraiment nul, ferme-la", "merci beaucoup pour l'aide", "personne ne veut de toi ici"],
    "es": ["eres un idiota, cállate ya", "gracias amigo, buen juego", "nadie te quiere aquí"],
    "it": ["sei proprio un cretino, stai zitto", "ciao a tutti, bella partita", "nessuno ti vuole qui"],
    "pt": ["você é um idiota, cala a boca", "obrigado pela ajuda", "ninguém te quer aqui"],
    "tr": ["sen tam bir aptalsın, kapa çeneni", "yardım için teşekkürler", "kimse seni burada istemiyor"],
    "ru": ["ты полный идиот, заткнись", "спасибо за помощь", "никто тебя здесь не хочет"],
    "de": ["du bist so ein Idiot, halt die Klappe", "danke für die Hilfe", "niemand will dich hier"],
}


@pytest.mark.parametrize("language", list(CHAT))
def test_short_chat_messages_are_detected(language):
    for text in CHAT[language]:
        found = detect(text, LANGUAGES)
        assert found.language == language, (text, found)
        assert 0 < found.confidence <= 1


def test_too_short_to_tell_is_undetected():
    for text in ("ok", "lol", "gg", "👍👍", "   "):
        assert detect(text, LANGUAGES).language is None


def test_the_detector_is_built_once_per_language_set_and_always_knows_english():
    assert detector(["fr", "es"]) is detector(["es", "fr", "en"])
    assert detect("thank you all for the help today", ["fr"]).language == "en"
    # a language outside the set is never the answer
    assert detect("du bist so ein Idiot, halt die Klappe", ["fr"]).language in {"en", "fr"}


def _toxicity(extra: str):
    """The default policy with `extra` lines added to its toxicity section."""
    data = yaml.safe_load(DEFAULT_POLICY.read_text())
    data["toxicity"].update(yaml.safe_load(extra) or {})
    return parse_policy(yaml.safe_dump(data)).toxicity


ROUTED = """
routes:
  en: original
  fr|es|it|pt|tr|ru: multilingual
fallback: multilingual
thresholds_by_language:
  fr: {insult: 0.6}
"""


def test_routes_pick_the_model_and_mark_what_is_unsure():
    tox = _toxicity(ROUTED)
    assert tox.route("en", 0.9).model_dump() == {"model": "original", "low_confidence": False}
    assert tox.route("fr", 0.9).model_dump() == {"model": "multilingual", "low_confidence": False}
    assert tox.route("de", 0.9).model_dump() == {"model": "multilingual", "low_confidence": True}  # anything else
    assert tox.route("en", 0.2).model_dump() == {"model": "multilingual", "low_confidence": True}  # unsure
    assert tox.route(None, 0.0).model_dump() == {"model": "multilingual", "low_confidence": True}
    assert tox.detection_languages() == {"en", "fr", "es", "it", "pt", "tr", "ru"}
    assert tox.models() == ["original", "multilingual"]
    assert tox.thresholds_for("fr") == {**tox.thresholds, "insult": 0.6}
    assert tox.thresholds_for("es") == tox.thresholds_for(None) == tox.thresholds


def test_without_routes_original_scores_english_and_leaves_other_languages_to_people():
    tox = _toxicity("")
    assert tox.route("en", 0.9).model_dump() == {"model": "original", "low_confidence": False}
    assert tox.route(None, 0.0).model_dump() == {"model": "original", "low_confidence": True}
    assert tox.route("fr", 0.3).model_dump() == {"model": "original", "low_confidence": True}  # unsure: a guess
    assert tox.route("fr", 0.9) is None


@pytest.mark.parametrize("extra, message", [
    ("routes: {xx: multilingual}", "unknown language code(s) ['xx']"),
    ("routes: {'fr|fr': multilingual}", "more than once"),
    ("routes: {fr: Klingon!}", "routes.fr"),
    ("thresholds_by_language: {fr: {rudeness: 0.5}}", "unknown label(s) ['rudeness']"),
    ("thresholds_by_language: {French: {insult: 0.5}}", "unknown language code(s) ['French']"),
])
def test_bad_routing_is_refused_with_a_reason(extra, message):
    with pytest.raises(PolicyError) as err:
        _toxicity(extra)
    assert message in str(err.value)
