"""Russian and Ukrainian written in Latin letters ("udalite moi dannye", "vydalit mii
akaunt"): which of the two, or neither.

Lingua's trigram models were trained on text in each language's own script, so a
transliterated Russian message comes out as Polish, Slovak or Norwegian, and the bot would
answer in that language. Here a character n-gram naive Bayes model tells three classes
apart: Russian in Latin letters, Ukrainian in Latin letters, and the Latin-script languages
the project serves. It is trained, when first used, on the project's own training messages
(`data/training/intents/`): the Latin-script ones as they are and without their diacritics
(as customers often type them), the Russian and Ukrainian ones transliterated by the common
systems (`translitua`: passport, GOST, ICAO, telegram-style, the Ukrainian national
system...) plus the transliterated messages the team wrote. Deterministic: the same files
give the same model on every machine.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib import resources

from indexer.tokens import fold

LATIN = "latin"
CYRILLIC_LANGUAGES = ("ru", "uk")
LATIN_LANGUAGES = ("en", "cs", "pl", "sv", "de")
# The transliteration systems whose output is plain ASCII letters, as people type.
_RUSSIAN_SYSTEMS = (
    "RussianSimple",
    "RussianTelegram",
    "RussianGOST2006",
    "RussianICAO",
    "RussianInternationalPassport1997",
    "RussianDriverLicense",
)
_UKRAINIAN_SYSTEMS = (
    "UkrainianKMU",
    "UkrainianSimple",
    "UkrainianBGN",
    "UkrainianBritish",
    "UkrainianPassport2007",
    "UkrainianGerman",
)
# How much likelier than the Latin-script languages a message must be, per character of
# n-gram evidence, to be called transliterated; and too little text decides nothing.
MIN_LETTERS = 8
MARGIN_PER_GRAM = 0.35
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LETTERS = re.compile(r"[a-z]")
_NOT_LETTER = re.compile(r"[^a-z]+")


def _grams(text: str) -> Iterator[str]:
    """Character 1-4-grams of each word, with its boundaries marked."""
    for word in _NOT_LETTER.split(fold(text)):
        if not word:
            continue
        padded = f" {word} "
        for n in (1, 2, 3, 4):
            for i in range(len(padded) - n + 1):
                gram = padded[i : i + n]
                if gram.strip():
                    yield gram


def _messages(language: str) -> list[dict[str, str]]:
    path = resources.files("indexer").joinpath(f"data/training/intents/{language}.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _transliterated(language: str) -> Iterator[str]:
    import translitua

    systems = _RUSSIAN_SYSTEMS if language == "ru" else _UKRAINIAN_SYSTEMS
    for message in _messages(language):
        text = message["text"]
        if not _CYRILLIC.search(text):
            yield text  # written in Latin letters by the team
            continue
        for system in systems:
            yield translitua.translit(text, getattr(translitua, system))


def _latin(language: str) -> Iterator[str]:
    for message in _messages(language):
        yield message["text"]  # fold() drops the diacritics, as a hurried customer does


class _NaiveBayes:
    def __init__(self, examples: dict[str, Iterable[str]]) -> None:
        counts = {
            label: Counter(g for text in texts for g in _grams(text))
            for label, texts in examples.items()
        }
        vocabulary = set().union(*counts.values())
        self._log: dict[str, dict[str, float]] = {}
        self._unseen: dict[str, float] = {}
        for label, counter in counts.items():
            total = sum(counter.values()) + len(vocabulary)
            self._log[label] = {g: math.log((c + 1) / total) for g, c in counter.items()}
            self._unseen[label] = math.log(1 / total)

    def scores(self, grams: list[str]) -> dict[str, float]:
        return {
            label: sum(table.get(g, self._unseen[label]) for g in grams)
            for label, table in self._log.items()
        }


@lru_cache(maxsize=1)
def transliteration_model() -> _NaiveBayes:
    examples: dict[str, Iterable[str]] = {
        "ru": list(_transliterated("ru")),
        "uk": list(_transliterated("uk")),
        LATIN: [text for language in LATIN_LANGUAGES for text in _latin(language)],
    }
    return _NaiveBayes(examples)


def transliterated_language(text: str) -> str | None:
    """ "ru" or "uk" when `text` is Russian or Ukrainian written in Latin letters; None for
    anything else (Cyrillic text, a Latin-script language, too little to tell)."""
    if not text.isascii():
        return None  # Cyrillic, or a letter with a diacritic: the script says enough
    grams = list(_grams(text))
    if len(_LETTERS.findall(fold(text))) < MIN_LETTERS or not grams:
        return None
    scores = transliteration_model().scores(grams)
    best = max(CYRILLIC_LANGUAGES, key=lambda label: scores[label])
    if scores[best] - scores[LATIN] < MARGIN_PER_GRAM * len(grams):
        return None
    return best
