"""Which language a passage or a question is written in.

Lingua in low-accuracy mode (trigram models) needs ~30 MB and well under a millisecond
a question; its high-accuracy models cost ~350 MB, too much for a bot process.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from indexer.ascii_language import CYRILLIC_LANGUAGES, ascii_language, ascii_model

# The customers' languages the project serves, plus neighbours that would otherwise be
# mistaken for them (Slovak for Czech, Belarusian for Ukrainian, the Nordic languages).
# Every extra language costs accuracy on short questions, so the list stays short.
SUPPORTED = (
    "en",
    "cs",
    "sk",
    "uk",
    "ru",
    "be",
    "sv",
    "da",
    "nb",
    "de",
    "nl",
    "pl",
    "fr",
    "es",
    "it",
)


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    languages = [
        Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in SUPPORTED
    ]
    return (
        LanguageDetectorBuilder.from_languages(*languages)
        .with_low_accuracy_mode()
        .with_preloaded_language_models()
        .build()
    )


# Languages lingua recognises well even without their accents, and the ASCII model does
# not know at all.
# (Transliterated Russian and Ukrainian are left to the ASCII model all the same: lingua
# is often sure they are Italian or Spanish.)
FOREIGN = frozenset({"fr", "es", "it", "nl"})
FOREIGN_SURE = 0.9

# Letters that only one of the supported languages uses. Trigram models are unsure on a
# three-word question; one such letter settles it ("usuńcie moje dane" is Polish).
_OWN_LETTERS = {"cs": "řůě", "pl": "ńłąężźś", "uk": "їєґ", "ru": "ыэъё", "de": "ß"}
SHORT_TEXT = 60


def _by_letters(text: str) -> str | None:
    lowered = text.lower()
    found = [code for code, letters in _OWN_LETTERS.items() if any(c in lowered for c in letters)]
    return found[0] if len(found) == 1 else None


def load_models() -> None:
    """Load the detectors now (about a second), not on a customer's first message."""
    _detector()
    ascii_model()


def language_scores(text: str) -> dict[str, float]:
    """Confidence per ISO 639-1 code, highest first; empty when nothing is recognisable."""
    if len(text) < SHORT_TEXT and (code := _by_letters(text)):
        return {code: 1.0}
    values = {
        value.language.iso_code_639_1.name.lower(): value.value
        for value in _detector().compute_language_confidence_values(text)
        if value.value
    }
    # A short message in plain ASCII letters: transliterated Russian or Ukrainian, or Czech
    # typed without its diacritics, which the trigram models take for Polish or Slovak.
    # The ASCII model knows only the seven languages: a message lingua is sure is French,
    # Spanish, Italian or Dutch stays that (the neighbours lingua confuses with the seven,
    # Slovak or Norwegian, go to the ASCII model).
    code = ascii_language(text)
    if code is None:
        return values
    top = next(iter(values), None)
    if code not in CYRILLIC_LANGUAGES and top in FOREIGN and values[top] >= FOREIGN_SURE:
        return values
    return {code: 1.0}


def detect_language(text: str, expected: Sequence[str] = (), default: str = "en") -> str:
    """The most likely language, restricted to `expected` when the caller knows the candidates."""
    scores = language_scores(text)
    if expected:
        known = [code for code in scores if code in expected]
        if known:
            return known[0]
        return expected[0]
    return next(iter(scores), default)
