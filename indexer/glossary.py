"""Cross-lingual lexical matching through a glossary of privacy concepts.

A question in Ukrainian about a Czech policy shares no word with it, but both mention the
concept "delete" ("видалити", "smazat"). Each text is mapped to the concepts its words
name; matching concepts is a lexical signal that works across languages.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from indexer.tokens import fold, words

CONCEPTS_REMEMBERED = 8192  # texts whose concepts a glossary keeps (a few MiB at most)


@dataclass(frozen=True)
class _Term:
    parts: tuple[tuple[str, bool], ...]  # (folded word, is prefix)

    def matches_at(self, tokens: Sequence[str], start: int) -> bool:
        if start + len(self.parts) > len(tokens):
            return False
        for (word, prefix), token in zip(self.parts, tokens[start:], strict=False):
            if not (token.startswith(word) if prefix else token == word):
                return False
        return True


class Glossary:
    def __init__(self, concepts: dict[str, list[str]]) -> None:
        self._by_first: dict[str, list[tuple[_Term, str]]] = {}
        for concept, terms in concepts.items():
            for term in terms:
                parts = _parse(term)
                if parts:
                    key = parts[0][0][:2]
                    self._by_first.setdefault(key, []).append((_Term(parts), concept))
        self.concepts = sorted(concepts)
        # A reply asks for the concepts of its quoted sentences, which come from a finite set
        # and recur all day, and of the question more than once (rights, corrections).
        self._remembered = lru_cache(maxsize=CONCEPTS_REMEMBERED)(self._concepts_in)

    def concepts_in(self, text: str) -> list[str]:
        """The concepts the text names, once per mention, in order of appearance."""
        return list(self._remembered(text))

    def _concepts_in(self, text: str) -> tuple[str, ...]:
        tokens = words(text)
        found: list[str] = []
        for index, token in enumerate(tokens):
            here = {
                concept
                for term, concept in self._by_first.get(token[:2], ())
                if term.matches_at(tokens, index)
            }
            found.extend(sorted(here))
        return tuple(found)


def _parse(term: str) -> tuple[tuple[str, bool], ...]:
    parts: list[tuple[str, bool]] = []
    for raw in fold(term).split():
        prefix = raw.endswith("*")
        word = raw.rstrip("*")
        if word:
            parts.append((word, prefix))
    return tuple(parts)


@lru_cache(maxsize=1)
def default_glossary() -> Glossary:
    data = resources.files("indexer").joinpath("data/glossary.toml").read_text(encoding="utf-8")
    concepts = tomllib.loads(data)["concepts"]
    return Glossary({name: list(entry["terms"]) for name, entry in concepts.items()})
