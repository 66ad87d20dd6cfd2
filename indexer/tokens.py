"""Tokens for lexical matching: case- and diacritic-folded words, cut to a short stem.

Czech, Ukrainian, Polish and Russian inflect heavily ("údaje", "údajů", "údajům"); cutting
every word to its first five letters (after folding) is a crude but language-free stemmer
that merges most inflections without a per-language dictionary.
"""

from __future__ import annotations

import re
import unicodedata

STEM_LENGTH = 5
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


# Letters with a stroke have no Unicode decomposition: NFKD leaves "ł" as it is.
_STROKED = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ħ": "h", "’": "'"})


def fold(text: str) -> str:
    """Lower case without diacritics; Cyrillic letters keep their base form (й -> и)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return bare.translate(_STROKED)


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def stem(word: str) -> str:
    return word[:STEM_LENGTH]


def lexical_tokens(text: str) -> list[str]:
    return [stem(word) for word in words(text) if len(word) > 1 or word.isdigit()]
