"""Text a shop or a customer hands us to keep: no characters that hide or disguise it.

Control characters, bidirectional overrides and isolates (U+202A-202E, U+2066-2069),
zero-width spaces and joiners, private-use and unassigned code points can make a stored
text read differently from what it is ("a\u202eb" shows as "ab" reversed) or break the
chats and pages that show it. Line breaks and tabs are ordinary text.
"""

from __future__ import annotations

import unicodedata

_ALLOWED_CONTROLS = frozenset("\n\t")
# Format (Cf), control (Cc), line and paragraph separators, private use, surrogates,
# unassigned.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def hidden_character(text: str) -> str | None:
    """The first character of `text` that must not be stored, as U+XXXX; None if clean."""
    for character in text:
        if character in _ALLOWED_CONTROLS:
            continue
        if unicodedata.category(character) in _REFUSED_CATEGORIES:
            return f"U+{ord(character):04X}"
    return None
