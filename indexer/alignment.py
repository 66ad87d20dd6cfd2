"""A translated policy aligned to its original: section to section, passage to passage.

A shop may declare a document a translation of another (`translation_of` in shop.toml).
Sections are paired in reading order by the multilingual embedding: a monotone alignment
(the order of a policy is kept by its translations) that pairs two sections when their
similarity stands out from what each has with the other side's sections. Raw cosines do not
do: every section of a privacy policy is "about privacy", so an unrelated pair of sections
may score 0.86 while a true pair scores 0.88. A section of the original without a
counterpart is what an out-of-date translation lacks; the report flags it.

Within a pair of sections, each passage of the translation points to the original passage
it is closest to; the retriever then quotes the version in the customer's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from indexer.embedding import Vectors
from indexer.passages import Passage

# A pair must stand this far above the mean similarity of the two sections with the rest.
MARGIN = 0.015
# With nothing to compare against (a one-section document), the plain cosine must reach this.
FLOOR = 0.8


@dataclass(frozen=True)
class SectionPair:
    original: str
    translation: str
    similarity: float


@dataclass(frozen=True)
class Alignment:
    """How one translation lines up with its original."""

    original: str  # document paths
    translation: str
    pairs: tuple[SectionPair, ...]
    missing: tuple[str, ...]  # sections of the original the translation lacks
    extra: tuple[str, ...]  # sections of the translation the original lacks
    # For each passage of the translation (in order): the index (within the original's
    # passages) of the passage it translates, or None.
    passage_originals: tuple[int | None, ...]
    shop: str = ""  # the shop's id (the paths are its documents')

    @property
    def complete(self) -> bool:
        return not self.missing and not self.extra

    def summary(self) -> dict[str, object]:
        """As JSON: the build's report and a policy upload's answer."""
        return {
            "translation": self.translation,
            "original": self.original,
            "pairs": [
                {"translation": p.translation, "original": p.original, "similarity": p.similarity}
                for p in self.pairs
            ],
            # A section of the original without a counterpart: the translation is out of date.
            "missing": list(self.missing),
            "extra": list(self.extra),
        }


def _sections(
    passages: Sequence[Passage], vectors: Vectors
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Section titles in reading order (a title repeated later is a section of its own),
    per section the normalised mean of its passages' vectors, and per passage the index of
    its section."""
    titles: list[str] = []
    owners: list[int] = []
    for passage in passages:
        if not titles or passage.section != titles[-1]:
            titles.append(passage.section)
        owners.append(len(titles) - 1)
    section_of = np.asarray(owners, dtype=np.int64)
    means = np.stack([vectors[section_of == i].mean(axis=0) for i in range(len(titles))])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    return titles, means, section_of


def _gains(similarity: np.ndarray) -> np.ndarray:
    """How much each pairing stands out: the cosine less the mean similarity of the two
    sections with the other side's other sections (and a margin)."""
    rows, columns = similarity.shape
    row_sum = similarity.sum(axis=1, keepdims=True)
    column_sum = similarity.sum(axis=0, keepdims=True)
    others = np.zeros_like(similarity)
    count = np.zeros_like(similarity)
    if columns > 1:
        others += (row_sum - similarity) / (columns - 1)
        count += 1
    if rows > 1:
        others += (column_sum - similarity) / (rows - 1)
        count += 1
    baseline = np.where(count > 0, others / np.maximum(count, 1) + MARGIN, FLOOR)
    gains: np.ndarray = similarity - baseline
    return gains


def _monotone_pairs(gains: np.ndarray) -> list[tuple[int, int]]:
    """The order-keeping one-to-one pairing with the largest total positive gain."""
    rows, columns = gains.shape
    best = np.zeros((rows + 1, columns + 1))
    for i in range(1, rows + 1):
        for j in range(1, columns + 1):
            take = best[i - 1, j - 1] + gains[i - 1, j - 1] if gains[i - 1, j - 1] > 0 else -1.0
            best[i, j] = max(best[i - 1, j], best[i, j - 1], take)
    pairs: list[tuple[int, int]] = []
    i, j = rows, columns
    while i > 0 and j > 0:
        if gains[i - 1, j - 1] > 0 and best[i, j] == best[i - 1, j - 1] + gains[i - 1, j - 1]:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif best[i, j] == best[i - 1, j]:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def align(
    original: Sequence[Passage],
    original_vectors: Vectors,
    translation: Sequence[Passage],
    translation_vectors: Vectors,
) -> Alignment:
    """Align a translation's passages to its original's (both in reading order)."""
    original_titles, original_means, original_section = _sections(original, original_vectors)
    translated_titles, translated_means, translated_section = _sections(
        translation, translation_vectors
    )
    similarity = original_means @ translated_means.T
    pairs = _monotone_pairs(_gains(similarity))
    paired_original = {i for i, _ in pairs}
    paired_translation = {j for _, j in pairs}
    counterpart = dict((j, i) for i, j in pairs)
    passage_originals: list[int | None] = []
    for row, section in enumerate(translated_section.tolist()):
        source = counterpart.get(section)
        if source is None:
            passage_originals.append(None)
            continue
        candidates = np.flatnonzero(original_section == source)
        scores = original_vectors[candidates] @ translation_vectors[row]
        passage_originals.append(int(candidates[int(np.argmax(scores))]))
    return Alignment(
        original=original[0].document if original else "",
        translation=translation[0].document if translation else "",
        pairs=tuple(
            SectionPair(original_titles[i], translated_titles[j], round(float(similarity[i, j]), 3))
            for i, j in pairs
        ),
        missing=tuple(t for i, t in enumerate(original_titles) if i not in paired_original),
        extra=tuple(t for j, t in enumerate(translated_titles) if j not in paired_translation),
        passage_originals=tuple(passage_originals),
        shop=(original or translation)[0].shop_id if original or translation else "",
    )


def describe(alignment: Alignment) -> list[str]:
    """The alignment as report lines: each pair, then what has no counterpart."""
    lines = [f"{alignment.translation} -> {alignment.original}"]
    lines += [
        f"  {pair.translation!r} = {pair.original!r} ({pair.similarity:.2f})"
        for pair in alignment.pairs
    ]
    lines += [f"  missing in the translation: {title!r}" for title in alignment.missing]
    lines += [f"  not in the original: {title!r}" for title in alignment.extra]
    return lines
