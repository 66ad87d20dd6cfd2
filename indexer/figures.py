"""The figures a policy passage states, verbatim: durations, ages, amounts, e-mail addresses,
web addresses and company names.

A customer who cannot read the language of a quote still reads "5 let", "13 months",
"privacy@shop.example" or "Prospect Global Ltd"; the gist line above a foreign quote repeats
them as written. Matching is by shape and by a small multilingual list of units (folded:
lower case, no diacritics), so it works in the seven languages of the bot and degrades to
"no figure" in others rather than to noise.
"""

from __future__ import annotations

import re
import unicodedata

from indexer.tokens import fold

# Units of time and age, folded, in en cs uk ru sv de pl: a number followed by one of these
# is a duration or an age ("10 let", "13 місяців", "18 years").
_TIME_UNITS = (
    r"years?|yrs?|months?|weeks?|days?|hours?|"
    r"let|roku|roky|rok|mesic\w*|tyd\w*|dn[uyi]|den|dni|hodin\w*|"
    r"рок\w*|рік|міс\w*|тиж\w*|дн\w*|день|годин\w*|"
    r"год\w*|лет|месяц\w*|недел\w*|час\w*|"
    r"ar|aret|manad\w*|veck\w*|dag\w*|timm\w*|"
    r"jahr\w*|monat\w*|woche\w*|tag\w*|stunde\w*|"
    r"lat|lata|miesi\w*|tygod\w*|tydz\w*|dzien|godzin\w*"
)
_CURRENCY = r"€|\$|£|eur|usd|gbp|kc|czk|грн|uah|kr|sek|zl|pln|руб\w*|rub"
_NUMBER = r"\d{1,3}(?:[ \u00a0.,]\d{3})*(?:[.,]\d+)?|\d+"

_DURATION = re.compile(rf"\b(?:{_NUMBER})\s*(?:{_TIME_UNITS})\b", re.IGNORECASE)
_AMOUNT = re.compile(
    rf"(?:(?:{_CURRENCY})\s?(?:{_NUMBER})|(?:{_NUMBER})\s?(?:{_CURRENCY}))(?!\w)|\d+\s?%",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'«»“”]+", re.IGNORECASE)
_LEGAL_FORM = (
    r"s\.\s?r\.\s?o\.|a\.\s?s\.|spol\. s r\. o\.|ltd\.?|limited|llc|inc\.?|gmbh|ag|ab|plc|"
    r"oy|aps|sp\. z o\.\s?o\.|s\.a\.|ооо|тов|фоп"
)
# A name of capitalised words (or quoted) with a legal form after or before it.
_COMPANY = re.compile(
    rf"(?:[„“\"«]?(?:[A-ZÀ-ÖØ-ÞА-ЯІЇЄҐĀ-Ž][\w&.'-]*\s){{1,5}}(?i:{_LEGAL_FORM})(?!\w)"
    rf"|(?<!\w)(?i:{_LEGAL_FORM})\s+[„“\"«][^„“”\"«»]{{2,60}}[”“\"»])",
)


def _strip(found: str, pattern: re.Pattern[str]) -> str:
    """Without the punctuation around it (a company's "s.r.o." keeps its full stop)."""
    tail = ",;:)" if pattern is _COMPANY else ".,;:)"
    return found.strip().rstrip(tail).lstrip("(").strip()


def _fold_keeping_length(text: str) -> str:
    """Lower case without diacritics, one character for one, so spans map back."""
    return "".join(unicodedata.normalize("NFKD", c)[:1].lower() or c for c in text)


def figures(text: str, limit: int = 6) -> list[str]:
    """The figures in `text`, verbatim and in reading order, each once (at most `limit`)."""
    folded = _fold_keeping_length(text)
    spans: list[tuple[int, int, re.Pattern[str]]] = []
    for pattern, source in (
        (_EMAIL, text),
        (_URL, text),
        (_COMPANY, text),
        (_AMOUNT, folded),
        (_DURATION, folded),
    ):
        for match in pattern.finditer(source):
            start, end = match.span()
            if any(start < e and s < end for s, e, _ in spans):
                continue  # inside an address or a name already taken
            spans.append((start, end, pattern))
    seen: set[str] = set()
    found: list[str] = []
    for start, end, pattern in sorted(spans, key=lambda span: span[0]):
        value = _strip(text[start:end], pattern)
        if not value or fold(value) in seen:
            continue
        seen.add(fold(value))
        found.append(value)
    return found[:limit]
