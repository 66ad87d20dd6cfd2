"""Canonical form of policy text, shared by the index and the eval set's gold strings.

Both sides must go through the same function, so it is deterministic and
idempotent: ``normalize_text(normalize_text(x)) == normalize_text(x)``.
"""

from __future__ import annotations

import re
import unicodedata

# Every Unicode "space separator" (category Zs) other than the plain space.
_UNICODE_SPACES = "\u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u202f\u205f\u3000"

# Invisible characters that split words for matching while showing nothing:
# zero-width space/joiners, BOM, soft hyphen, word joiner, Mongolian vowel separator.
_INVISIBLE = "\u200b\u200c\u200d\ufeff\u00ad\u2060\u180e"

# Line breaks other than "\n"; "\r\n" is handled before this table.
_LINE_BREAKS = {"\r": "\n", "\v": "\n", "\f": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n\n"}

# Control characters left over from PDFs and bad copy-paste carry no text.
_CONTROLS = [
    code
    for code in (*range(0x20), *range(0x7F, 0xA0))
    if chr(code) not in "\t\n" and chr(code) not in _LINE_BREAKS
]

_TRANSLATION: dict[int, str | None] = {
    **{ord(space): " " for space in _UNICODE_SPACES},
    **dict.fromkeys(map(ord, _INVISIBLE)),
    **dict.fromkeys(_CONTROLS),
    **{ord(char): repl for char, repl in _LINE_BREAKS.items()},
}

_BACKSLASH_BEFORE_VISIBLE = re.compile(r"\\(?=(\S))")
_SPACE_RUN = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_WHITESPACE_RUN = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Return ``text`` in the canonical form used for indexing and for gold strings.

    NFC; unified line breaks; unicode spaces made plain and invisible characters
    dropped; backslash-escaped punctuation repaired (``\\„`` -> ``„``); spaces
    folded and lines stripped; at most one blank line between paragraphs.
    Typographic quotes and dashes are kept as they are.
    """
    text = text.replace("\r\n", "\n").translate(_TRANSLATION)
    # NFC after dropping invisibles: a zero-width character between a letter and
    # its combining mark would otherwise block composition until a second pass.
    text = unicodedata.normalize("NFC", text)
    text = _BACKSLASH_BEFORE_VISIBLE.sub(_repair_escape, text)
    text = _SPACE_RUN.sub(" ", text)
    text = "\n".join(line.strip(" ") for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip(" \n")


def fold_for_match(text: str) -> str:
    """Normalize, then collapse all whitespace (newlines too) to single spaces.

    For matching a gold substring against a passage that may wrap it across lines.
    """
    return _WHITESPACE_RUN.sub(" ", normalize_text(text))


def _repair_escape(match: re.Match[str]) -> str:
    """Drop a backslash that escapes punctuation; keep it before letters and digits.

    Scraped policies carry escapes such as ``\\„`` or ``\\"``, while a backslash
    before a letter is more likely real (``C:\\Users``). A backslash before a
    combining mark is kept too: dropping it would let the mark compose with the
    previous letter, which NFC has already run past.
    """
    following = match.group(1)
    if following.isalnum() or unicodedata.category(following).startswith("M"):
        return match.group(0)
    return ""
