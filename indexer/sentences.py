"""Sentence boundaries, good enough for policy prose in Latin and Cyrillic scripts."""

from __future__ import annotations

import re

# Abbreviations that end with a dot but rarely end a sentence in policies.
_ABBREVIATIONS = (
    "e.g",
    "i.e",
    "e,g",
    "etc",
    "vs",
    "no",
    "nr",
    "co",
    "reg",
    "rev",
    "inc",
    "ltd",
    "art",
    "mr",
    "mrs",
    "dr",
    "tzn",
    "tj",
    "např",
    "apod",
    "atd",
    "resp",
    "č",
    "str",
    "т.д",
    "т.п",
    "т.е",
    "напр",
    "див",
    "з.б",
    "bl.a",
    "t.ex",
    "z.b",
    "d.h",
    "usw",
    "np",
    "itp",
    "m.in",
)
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"”»)]?\s+(?=[\"„“«(\[]?[A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЇІЄҐ0-9•])")


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences; a line break always ends one (list items, headings)."""
    sentences: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        start = 0
        for match in _BOUNDARY.finditer(line):
            candidate = line[start : match.start()].rstrip()
            last_word = candidate.rsplit(maxsplit=1)[-1].lower().rstrip(".") if candidate else ""
            if last_word in _ABBREVIATIONS or len(last_word) == 1:
                continue
            sentences.append(line[start : match.end()].strip())
            start = match.end()
        tail = line[start:].strip()
        if tail:
            sentences.append(tail)
    return sentences
