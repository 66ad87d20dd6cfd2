"""Russian and Ukrainian typed in Latin letters, read back into Cyrillic before a message is
understood ("udalite moi dannye" -> "удалите мои данные").

The embedding model and the glossary know these languages in their own script: a
transliterated request looked to them like some other language, and the intent classifier
missed a quarter of them (12 of 16 transliterated messages of tests/eval/unseen/chat.jsonl
recognised; 16 of 16 read back).

Each word is looked up among the Cyrillic words of the project's own Russian and
Ukrainian training messages, each written out by the transliteration systems people type
in (the same `translitua` systems that ascii_language.py learns from), so "vydalit" finds
"видаліть" and "pozhalujsta" "пожалуйста" with their soft signs, я/ю/ї and ы/и right. A
word not among them goes through `cyrtranslit`'s Russian scheme (zh, ch, sh, ya, yu read
as one letter; it takes "kh" for "кх", so such a word comes back a letter off, which the
embedding tolerates).

Only a message whose Latin letters read as transliterated Russian or Ukrainian is read back
(`readable`); the customer's own text is what the bot stores and shows.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from indexer.ascii_language import (
    CYRILLIC_LANGUAGES,
    MAX_CHARS,
    RUSSIAN_SYSTEMS,
    UKRAINIAN_SYSTEMS,
    ascii_language,
    likeliest_ascii_language,
)

_NOT_ASCII = re.compile(r"[^\x00-\x7f]")
_CYRILLIC_WORD = re.compile(r"[\u0400-\u04ff]+(?:['ʼ’][\u0400-\u04ff]+)*")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
_NOT_LETTER = re.compile(r"[^a-z]")


def _key(word: str) -> str:
    return _NOT_LETTER.sub("", word.lower())


@lru_cache(maxsize=len(CYRILLIC_LANGUAGES))
def _spellings(language: str) -> dict[str, str]:
    """Latin spelling -> the Cyrillic word it writes, for every word of the language's
    training messages (the commonest word first, where two are spelt alike)."""
    import translitua

    # Imported here: training.py reads its messages through `readable`.
    from indexer.training import texts_written_in

    counts = Counter(
        word.lower() for text in texts_written_in(language) for word in _CYRILLIC_WORD.findall(text)
    )
    systems = RUSSIAN_SYSTEMS if language == "ru" else UKRAINIAN_SYSTEMS
    spellings: dict[str, str] = {}
    for word in sorted(counts, key=lambda w: (-counts[w], w)):
        for system in systems:
            spellings.setdefault(_key(translitua.translit(word, getattr(translitua, system))), word)
    return spellings


def load_spellings() -> None:
    """Build the spellings now (a tenth of a second), not on the first such message."""
    for language in CYRILLIC_LANGUAGES:
        _spellings(language)


def _word(word: str, language: str) -> str:
    key = _key(word)
    for lookup in (language, *(other for other in CYRILLIC_LANGUAGES if other != language)):
        found = _spellings(lookup).get(key)
        if found is not None:
            return found
    import cyrtranslit

    return str(cyrtranslit.to_cyrillic(word.lower(), "ru"))


def _reads_cyrillic(plain: str) -> bool:
    # The first MAX_CHARS characters tell the language as well as 4,000 do, at a tenth.
    return likeliest_ascii_language(plain[:MAX_CHARS]) in CYRILLIC_LANGUAGES


def readable(text: str, language: str | None) -> str:
    """The text to understand: a Russian or Ukrainian message typed in Latin letters read
    back into Cyrillic, any other message as it is.

    A message with a letter outside plain ASCII (Cyrillic, or a diacritic of Czech or
    Polish) is never read back. Otherwise it is when the message itself is surely
    transliterated Russian or Ukrainian (`ascii_language`, with its margin: a first short
    message, while the conversation still counts as the customer's Telegram language), or
    when the conversation (`language`) is in Russian or Ukrainian and its letters read more
    like those than like English, Czech, Polish, Swedish or German typed plainly. An English
    sentence in a Russian chat, or the bot's own English question about a right, stays as
    it is."""
    if any(char.isalpha() and not char.isascii() for char in text):
        return text
    plain = _NOT_ASCII.sub(" ", text)
    own = ascii_language(plain)
    if own in CYRILLIC_LANGUAGES:
        reading = own
    elif language in CYRILLIC_LANGUAGES and _reads_cyrillic(plain):
        reading = language
    else:
        return text
    return _LATIN_WORD.sub(lambda match: _word(match.group(0), str(reading)), text)
