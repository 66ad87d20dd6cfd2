"""What a shop's policy covers, practice by practice, and which GDPR art. 13 disclosures it lacks.

One computation serves the customer's policy-at-a-glance card (bot), the admin's check after
every upload (chat, REST API, CLI) and `GET /api/v1/policies/{shop}/coverage`. A practice
of data/taxonomy.toml is covered when a passage of the policy is labelled with it at build
time: the same decision as the one that calls the policy silent on a question
(ShopIndex.covered), so the card never says "not covered" of a practice the bot answers
about, nor the reverse.

Art. 13 names what a controller must tell; each disclosure maps onto practices of the
taxonomy. The taxonomy has no practice of its own for withdrawing consent: its "rights"
include it, and so does "marketing" (withdrawing consent to marketing), so either counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from indexer.build import PASSAGE_VECTORS, PASSAGES_FILE, read_passages
from indexer.glossary import default_glossary
from indexer.linear_model import committed_model
from indexer.named_details import Detail, default_details, details_said
from indexer.passages import Passage
from indexer.publish import Manifest, current_version_dir, versions_dir
from indexer.topics import PASSAGE_MODEL_FILE, passage_probabilities, practice_ids


class ShopNotInIndexError(LookupError):
    """The index version holds no passage of that shop."""


@dataclass(frozen=True)
class Disclosure:
    """What GDPR art. 13 expects a policy to disclose, and the practices that disclose it:
    every clause needs one of its practices covered."""

    id: str
    article: str
    about: str
    clauses: tuple[tuple[str, ...], ...]
    where_applicable: bool = False  # required only when the shop does it (a DPO, transfers)

    def lacking(self, covered: frozenset[str]) -> tuple[str, ...]:
        """The practices of the clauses the covered practices leave unmet."""
        return tuple(
            practice
            for clause in self.clauses
            if not covered.intersection(clause)
            for practice in clause
        )


DISCLOSURES: tuple[Disclosure, ...] = (
    Disclosure(
        "controller",
        "13(1)(a)",
        "the identity and the contact details of the controller",
        (("identity",), ("contact",)),
    ),
    Disclosure(
        "dpo",
        "13(1)(b)",
        "the contact details of the data protection officer",
        (("dpo",),),
        where_applicable=True,
    ),
    Disclosure(
        "purposes",
        "13(1)(c)",
        "the purposes of the processing and its legal basis",
        (("purposes",), ("legal_basis",)),
    ),
    Disclosure("recipients", "13(1)(e)", "the recipients of the data", (("sharing",),)),
    Disclosure(
        "transfers",
        "13(1)(f)",
        "transfers to countries outside the EU/EEA and their safeguards",
        (("transfers",),),
        where_applicable=True,
    ),
    Disclosure("retention", "13(2)(a)", "how long the data is kept", (("retention",),)),
    Disclosure(
        "rights",
        "13(2)(b)",
        "the rights of access, rectification, erasure, restriction, objection and portability",
        (("rights",),),
    ),
    Disclosure(
        "withdraw_consent",
        "13(2)(c)",
        "the right to withdraw consent at any time",
        (("rights", "marketing"),),
    ),
    Disclosure(
        "complaints",
        "13(2)(d)",
        "the right to lodge a complaint with a supervisory authority",
        (("complaints",),),
    ),
    Disclosure(
        "automated_decisions",
        "13(2)(f)",
        "automated decision-making, including profiling",
        (("automated_decisions",),),
        where_applicable=True,
    ),
)


def section_of(passage: Passage) -> str:
    return passage.section or passage.document_title


@dataclass(frozen=True)
class PracticeCoverage:
    """One practice of the taxonomy in one policy: the passages labelled with it, in
    reading order (none: the policy does not cover it), and how surely each is about it."""

    practice: str
    passages: tuple[Passage, ...]
    strengths: tuple[float, ...] = ()

    @property
    def covered(self) -> bool:
        return bool(self.passages)

    def _in(self, language: str | None) -> tuple[Passage, ...]:
        """The passages in `language` when the policy has some (a translation, or one
        half of a two-language document), else all of them."""
        same = tuple(p for p in self.passages if language and p.language == language)
        return same or self.passages

    def sections(self, language: str | None = None) -> list[str]:
        """The titles of the sections that cover it, once each, in reading order."""
        return list(dict.fromkeys(section_of(p) for p in self._in(language)))

    def quote(self, language: str | None = None) -> Passage | None:
        """The passage to show for it: the one the labeller is surest of (the section on
        it rather than a passage that touches it in passing), the first of equals."""
        candidates = set(self._in(language))
        strengths = self.strengths or tuple(1.0 / len(p.topics) for p in self.passages)
        ranked = [
            (-strength, row)
            for row, (passage, strength) in enumerate(zip(self.passages, strengths, strict=True))
            if passage in candidates
        ]
        return self.passages[min(ranked)[1]] if ranked else None


@dataclass(frozen=True)
class PolicyCoverage:
    shop_id: str
    index_version: int
    practices: tuple[PracticeCoverage, ...]  # every practice, in the taxonomy's order
    # Details customers ask about (data/details.toml) that the policy speaks around but never
    # gives: the bot answers those questions "the policy does not say" (named_details.py).
    details_left_out: tuple[Detail, ...] = ()

    @property
    def covered(self) -> frozenset[str]:
        return frozenset(p.practice for p in self.practices if p.covered)

    def practice(self, practice: str) -> PracticeCoverage | None:
        return next((p for p in self.practices if p.practice == practice), None)

    def missing(self) -> list[tuple[Disclosure, tuple[str, ...]]]:
        """The art. 13 disclosures the policy lacks, with the practices that would give them."""
        covered = self.covered
        found = [(disclosure, disclosure.lacking(covered)) for disclosure in DISCLOSURES]
        return [(disclosure, lacking) for disclosure, lacking in found if lacking]

    def summary(self) -> dict[str, Any]:
        """As JSON: for the REST API and the record of a policy change."""
        return {
            "shop": self.shop_id,
            "index_version": self.index_version,
            "covered": [
                {"practice": p.practice, "sections": p.sections()}
                for p in self.practices
                if p.covered
            ],
            "not_covered": [p.practice for p in self.practices if not p.covered],
            "missing_disclosures": [
                {
                    "disclosure": disclosure.id,
                    "article": disclosure.article,
                    "about": disclosure.about,
                    "where_applicable": disclosure.where_applicable,
                    "practices": list(lacking),
                }
                for disclosure, lacking in self.missing()
            ],
            "details_left_out": [
                {"detail": detail.name, "about": detail.about} for detail in self.details_left_out
            ],
        }

    def check_lines(self) -> list[str]:
        """The admin's check, in a few English lines."""
        missing = self.missing()
        lines = [
            f"Disclosure check (GDPR art. 13): {len(DISCLOSURES) - len(missing)} of "
            f"{len(DISCLOSURES)} found."
        ]
        for disclosure, lacking in missing:
            applicable = ", if it applies to you" if disclosure.where_applicable else ""
            topics = " or ".join(practice.replace("_", " ") for practice in lacking)
            lines.append(
                f"Missing: {disclosure.about} (art. {disclosure.article}{applicable}; "
                f"no passage on {topics})."
            )
        covered = [p.practice.replace("_", " ") for p in self.practices if p.covered]
        lines.append(f"Topics covered: {', '.join(covered) or 'none'}.")
        if self.details_left_out:
            # One a line: a policy can leave out a dozen or more.
            lines.append("Customers ask, and the policy does not say:")
            lines.extend(f"• {detail.about}" for detail in self.details_left_out)
        return lines


def policy_coverage(
    shop_id: str,
    passages: list[Passage],
    index_version: int = 0,
    probabilities: np.ndarray | None = None,
) -> PolicyCoverage:
    """The coverage of one shop's policy from its labelled passages (in reading order);
    `probabilities` (passages x practices), the labeller's, rank the passages to quote."""
    practices = []
    # How much of a passage's labelling is this practice: the section on it beats a
    # passage on three things that names it too (the labeller is sure of both).
    specific = None
    if probabilities is not None:
        specific = probabilities / np.maximum(probabilities.sum(axis=1, keepdims=True), 1e-9)
    for column, practice in enumerate(practice_ids()):
        rows = [row for row, passage in enumerate(passages) if practice in passage.topics]
        strengths = () if specific is None else tuple(specific[rows, column].tolist())
        practices.append(PracticeCoverage(practice, tuple(passages[r] for r in rows), strengths))
    return PolicyCoverage(shop_id, index_version, tuple(practices), details_left_out(passages))


def details_left_out(
    passages: list[Passage], details: tuple[Detail, ...] | None = None
) -> tuple[Detail, ...]:
    """The details the policy speaks around (one of their practices is covered) but never
    gives, in data/details.toml's order: the same test as the bot's (ShopIndex). A detail
    named in words of its own (no practices: a fingerprint, a takeover) is not listed; most
    policies leave most of those out, and the list would drown what the policy speaks around."""
    details = default_details() if details is None else details
    covered = {topic for passage in passages for topic in passage.topics}
    given = details_said(((p.embedding_text, p.topics) for p in passages), details)
    return tuple(
        detail
        for detail in details
        if detail.name not in given and covered.intersection(detail.practices)
    )


def _probabilities(folder: Path, rows: list[int], passages: list[Passage]) -> np.ndarray | None:
    """The committed passage labeller's probabilities for the passages (rows of the index
    version in `folder`), when it is the one for the version's embedding model."""
    model = committed_model(PASSAGE_MODEL_FILE)
    if model is None or model.meta.get("model_id") != Manifest.read(folder).model_id:
        return None
    if model.classes != practice_ids():
        return None
    vectors = np.load(folder / PASSAGE_VECTORS, mmap_mode="r")[rows]
    texts = [passage.embedding_text for passage in passages]
    return passage_probabilities(model, texts, vectors, default_glossary())


@lru_cache(maxsize=256)
def _coverage(folder: Path, shop_id: str, version: int, created_at: str) -> PolicyCoverage:
    # A published version folder never changes (the manifest's time tells a folder rebuilt
    # under the same name), so its coverage is read once.
    everything = read_passages(folder / PASSAGES_FILE)
    rows = [row for row, passage in enumerate(everything) if passage.shop_id == shop_id]
    if not rows:
        raise ShopNotInIndexError(shop_id)
    passages = [everything[row] for row in rows]
    return policy_coverage(shop_id, passages, version, _probabilities(folder, rows, passages))


def folder_coverage(folder: Path, shop_id: str) -> PolicyCoverage:
    """The coverage of the shop's policy in one published index version folder;
    ShopNotInIndexError when that version has no passage of the shop."""
    manifest = Manifest.read(folder)
    return _coverage(folder, shop_id, manifest.version, manifest.created_at)


def version_coverage(index_dir: Path, version: str, shop_id: str) -> PolicyCoverage:
    """The same for the version of that name (Manifest.name) under `index_dir`."""
    return folder_coverage(versions_dir(index_dir) / version, shop_id)


def serving_coverage(index_dir: Path, shop_id: str) -> PolicyCoverage:
    """The same for the version being served (IndexNotFoundError: nothing published)."""
    return folder_coverage(current_version_dir(index_dir), shop_id)
