"""Details a customer asks about that a policy may leave out while covering the practice
around them (data/details.toml): whether the shop tells customers about a breach, trains AI
on their data or stores card numbers, when the policy was last updated, how to refuse
cookies and how long they last, how long data is kept.

The practice check (topics.py) calls a policy silent on a practice none of its passages is
labelled with. Klingit's policy speaks of security, so "will you tell me if my data leaks?"
was answered with its security measures, quoted with confidence; it never says. A question
that names a detail, at a shop none of whose passages names it, is answered "the policy does
not say" instead, like a right the policy never names (named_rights.py); the admin's check
of an upload lists the details the policy leaves out (coverage.py).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from indexer.glossary import Glossary
from indexer.topics import NONE

# How sure the question must be about the detail's practices, their probabilities together
# (as named_rights.RIGHTS_ASKED_AT). On the dev files no answerable question names a detail
# its shop's policy leaves out.
DETAIL_ASKED_AT = 0.5


@dataclass(frozen=True)
class Detail:
    name: str
    practices: tuple[str, ...]
    asked: Glossary  # one concept per term group: "0", "1", ...
    said: Glossary
    # The practices of the passages that can give it (empty: any passage): a period named in
    # a paragraph on orders is not how long the cookies last.
    passages: frozenset[str] = frozenset()
    about: str = ""  # for the admin: "whether you tell customers about a breach of their data"

    @staticmethod
    def _groups(groups: list[list[str]]) -> Glossary:
        return Glossary({str(i): list(terms) for i, terms in enumerate(groups)})

    @classmethod
    def parse(cls, name: str, entry: Mapping[str, Any]) -> Detail:
        return cls(
            name,
            tuple(entry.get("practices", ())),
            cls._groups(entry["asked"]),
            cls._groups(entry["said"]),
            frozenset(entry.get("passages", ())),
            str(entry.get("about", name)),
        )

    @staticmethod
    def _names(glossary: Glossary, text: str) -> bool:
        return set(glossary.concepts_in(text)) >= set(glossary.concepts)

    def asked_in(self, text: str) -> bool:
        return self._names(self.asked, text)

    def kind_of_passage(self, topics: Iterable[str]) -> bool:
        """Whether a passage with these practices is of a kind that could give the detail."""
        return not self.passages or bool(self.passages.intersection(topics))

    def said_in(self, text: str, topics: Iterable[str] = ()) -> bool:
        """Whether a passage (its text and practices) gives the detail."""
        return self.kind_of_passage(topics) and self._names(self.said, text)

    def context_in(self, topics: Iterable[str]) -> bool:
        """Whether a passage with these practices is context for the detail left out: one
        of the kind that would give it, and the detail one a policy speaks around (a detail
        named in words of its own, a fingerprint or recorded calls, has nothing around it)."""
        return bool(self.practices) and self.kind_of_passage(topics)


def parse_details(data: Mapping[str, Any]) -> tuple[Detail, ...]:
    return tuple(Detail.parse(name, entry) for name, entry in data["details"].items())


@lru_cache(maxsize=1)
def default_details() -> tuple[Detail, ...]:
    raw = resources.files("indexer").joinpath("data/details.toml").read_text(encoding="utf-8")
    return parse_details(tomllib.loads(raw))


def details_said(
    passages: Iterable[tuple[str, Iterable[str]]], details: Iterable[Detail]
) -> frozenset[str]:
    """The details some of the policy's passages (text, practices) name."""
    listed = [(text, frozenset(topics)) for text, topics in passages]
    return frozenset(
        d.name for d in details if any(d.said_in(text, topics) for text, topics in listed)
    )


def silent_detail(
    question: str,
    probabilities: Mapping[str, float],
    policy_says: frozenset[str],
    details: Iterable[Detail],
) -> str:
    """The first detail the question asks about that the policy never names ("" if none)."""
    for detail in details:
        if detail.name in policy_says:
            continue
        # The probabilities first: the question's words are read only for a detail it is
        # likely about (every search passes here). A detail named in words no other question
        # uses (a fingerprint, a takeover) needs the question to be about privacy at all.
        if detail.practices:
            likely = sum(probabilities.get(p, 0.0) for p in detail.practices)
        else:
            likely = 1.0 - probabilities.get(NONE, 0.0)
        if likely >= DETAIL_ASKED_AT and detail.asked_in(question):
            return detail.name
    return ""
