"""A learned second stage: which of the top passages holds the answer.

Fusion (ranking.py) adds the signals with fixed weights. Here a logistic model looks at the
top `DEPTH` candidates of a question together, each described by how it compares with the
others (its cosine, best-sentence cosine and lexical scores against the best candidate's),
whether it is in the question's language, how well its practices match the practice asked
about, and how much its best sentence looks like an answer (quotes.py). It is trained on
questions the team wrote with the passage that answers them
(indexer/data/training/ranking.jsonl, `python -m indexer train-ranker`), never on the eval
files, and only reorders the top; the rest keep their fused order below it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer.quotes import QuestionTerms
from indexer.shop_index import Candidates, ShopIndex
from indexer.topics import AskedPractice

DEPTH = 8
MODEL_FILE = "data/models/ranker.npz"
FEATURES = (
    "fused_gap",
    "reciprocal_rank",
    "dense_gap",
    "sentence_gap",
    "dense",
    "sentence",
    "lexical_share",
    "concept_share",
    "same_language",
    "practice_match",
    "evidence_gap",
    "evidence",
)


@dataclass(frozen=True)
class RankingInput:
    """What the retriever knows about one question's candidates."""

    signals: Candidates
    fused: np.ndarray  # aligned with signals.rows
    same_language: np.ndarray  # bool, aligned with signals.rows
    practice: AskedPractice
    terms: QuestionTerms


def top_candidates(fused: np.ndarray, depth: int = DEPTH) -> np.ndarray:
    """Positions (into the candidate arrays) of the best `depth` by fused score, best first."""
    return np.argsort(-fused, kind="stable")[:depth]


def candidate_features(
    index: ShopIndex, vector: np.ndarray, given: RankingInput, top: np.ndarray
) -> np.ndarray:
    """One row of FEATURES per candidate in `top`."""
    s = given.signals
    fused = given.fused[top]
    dense = s.dense[top].astype(np.float64)
    sentence = s.sentence[top].astype(np.float64)
    lexical = s.lexical[top].astype(np.float64)
    concepts = s.concepts[top].astype(np.float64)
    probabilities = given.practice.probabilities
    practice = np.array(
        [sum(probabilities.get(t, 0.0) for t in index.topics[int(s.rows[i])]) for i in top]
    )
    evidence = np.array(
        [float(index.evidence(int(s.rows[i]), vector, given.terms).max()) for i in top]
    )
    return np.column_stack(
        [
            fused - fused.max(),
            1.0 / np.arange(1, len(top) + 1),
            dense - dense.max(),
            sentence - sentence.max(),
            dense,
            sentence,
            lexical / lexical.max() if lexical.max() > 0 else np.zeros(len(top)),
            concepts / concepts.max() if concepts.max() > 0 else np.zeros(len(top)),
            given.same_language[top].astype(np.float64),
            practice,
            evidence - evidence.max(),
            evidence,
        ]
    ).astype(np.float32)
