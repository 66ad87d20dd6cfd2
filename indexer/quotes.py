"""Which sentences of a passage the answer quotes: the ones that hold the answer.

Similarity alone picks a passage's sentences that are *about* the question, often a
neighbour of the one that answers it, or a list's lead-in without the item. Here each
sentence gets evidence from three sides:

- its dense cosine with the question (sentences too short for a vector of their own take
  the passage's, a little lower);
- the question's words it holds, weighted by how rare they are in the shop's policy, so
  "SSL" or "cookies" count more than "data";
- the glossary concepts it shares with the question, and a figure (a number of years, an
  age) when the question asks for one.

Then the quote is built around the best sentence: a list item keeps its lead-in, a lead-in
takes its best item, a fragment takes its neighbour, and a second sentence joins only when
its evidence is close to the best. Sentences are never cut.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.passages import Passage, is_bullet
from indexer.tokens import lexical_tokens

# Weights of the evidence besides the dense cosine, fitted on the team's eval files
# (tests/eval/questions.jsonl and holdout.jsonl; never on tests/eval/unseen/).
LEXICAL_WEIGHT = 0.15
CONCEPT_WEIGHT = 0.03
FIGURE_WEIGHT = 0.03
# A sentence without its own vector: the passage's cosine, less this.
SHORT_SENTENCE_PENALTY = 0.02
# A second sentence joins the best one when its evidence is at least this close.
SECOND_SENTENCE_MARGIN = 0.06
FRAGMENT_CHARS = 40
# Questions whose answer is a figure: how long data is kept, from what age.
FIGURE_CONCEPTS = frozenset({"retention", "children"})
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class QuestionTerms:
    """What of the question the sentences are matched against."""

    stems: frozenset[str]
    concepts: frozenset[str]
    wants_figure: bool

    @classmethod
    def of(cls, question: str, concepts: Iterable[str]) -> QuestionTerms:
        found = frozenset(concepts)
        return cls(
            stems=frozenset(lexical_tokens(question)),
            concepts=found,
            wants_figure=bool(found & FIGURE_CONCEPTS) or bool(_DIGIT.search(question)),
        )


class TermRarity:
    """Inverse document frequency of word stems over one shop's passages."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        frequency: Counter[str] = Counter()
        for passage in passages:
            frequency.update(set(lexical_tokens(passage.embedding_text)))
        self._count = max(len(passages), 1)
        self._frequency = frequency

    def weight(self, stem: str) -> float:
        return math.log(1.0 + self._count / (1.0 + self._frequency.get(stem, 0)))


def is_lead_in(sentence: str) -> bool:
    return sentence.rstrip().endswith(":")


def is_item(sentence: str) -> bool:
    # The same test that made the list items when the passage was split.
    return is_bullet(sentence)


def sentence_evidence(
    sentences: Sequence[str],
    dense: np.ndarray,
    terms: QuestionTerms,
    rarity: TermRarity,
    sentence_concepts: Sequence[frozenset[str]],
    sentence_stems: Sequence[frozenset[str]],
) -> np.ndarray:
    """Evidence per sentence that it answers the question (dense cosine plus the rest)."""
    weights = {stem: rarity.weight(stem) for stem in terms.stems}
    total = sum(weights.values()) or 1.0
    out = np.asarray(dense, dtype=np.float64).copy()
    for i, sentence in enumerate(sentences):
        stems = sentence_stems[i]
        lexical = sum(w for stem, w in weights.items() if stem in stems) / total
        shared = len(terms.concepts & sentence_concepts[i])
        concept = shared / max(len(terms.concepts), 1)
        figure = 1.0 if terms.wants_figure and _DIGIT.search(sentence) else 0.0
        out[i] += LEXICAL_WEIGHT * lexical + CONCEPT_WEIGHT * concept + FIGURE_WEIGHT * figure
    return out


def _lead_in_before(sentences: Sequence[str], index: int) -> int | None:
    for j in range(index - 1, -1, -1):
        if is_lead_in(sentences[j]):
            return j
        if not is_item(sentences[j]):
            return None
    return None


def choose_quote(sentences: Sequence[str], evidence: np.ndarray, limit: int = 3) -> list[int]:
    """Indexes (in reading order) of the sentences to quote; all of a short passage."""
    count = len(sentences)
    if count <= limit + 1:
        return list(range(count))
    best = int(np.argmax(evidence))
    chosen = {best}
    if is_lead_in(sentences[best]):
        # A lead-in says what a list is about; the answer is one of its items (or, without
        # bullets, the sentence it introduces).
        items = [j for j in range(best + 1, count) if is_item(sentences[j])]
        if items:
            chosen.add(max(items, key=lambda j: evidence[j]))
        elif best + 1 < count:
            chosen.add(best + 1)
    elif is_item(sentences[best]):
        lead = _lead_in_before(sentences, best)
        if lead is not None:
            chosen.add(lead)
    elif len(sentences[best]) < FRAGMENT_CHARS:
        neighbour = best + 1 if best + 1 < count else best - 1
        chosen.add(neighbour)
    if len(chosen) < limit:
        runner_up = max(
            (j for j in range(count) if j not in chosen), key=lambda j: evidence[j], default=None
        )
        if runner_up is not None and evidence[runner_up] >= evidence[best] - SECOND_SENTENCE_MARGIN:
            chosen.add(runner_up)
    return sorted(chosen)
