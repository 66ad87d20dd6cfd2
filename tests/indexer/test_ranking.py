"""The fusion of dense, lexical and concept signals (indexer/ranking.py)."""

from __future__ import annotations

import numpy as np

from indexer.ranking import FusionWeights, fuse
from indexer.shop_index import Candidates


def _candidates(concepts: list[float]) -> Candidates:
    n = len(concepts)
    return Candidates(
        rows=np.arange(n),
        dense=np.full(n, 0.8, dtype=np.float32),
        sentence=np.full(n, 0.8, dtype=np.float32),
        lexical=np.zeros(n, dtype=np.float32),
        concepts=np.array(concepts, dtype=np.float32),
    )


def test_a_weak_concept_match_counts_weakly_and_a_strong_one_saturates() -> None:
    weights = FusionWeights()
    languages = np.array(["en", "en", "en", "en"])
    scores = fuse(_candidates([0.0, 0.3, 3.0, 9.0]), "en", languages, weights=weights)
    bonus = scores - scores[0]
    assert abs(bonus[1] - weights.concepts * 0.3 / weights.concept_full) < 1e-5
    assert abs(bonus[2] - weights.concepts) < 1e-5
    assert abs(bonus[3] - weights.concepts) < 1e-5  # no more than a full match


def test_the_only_weak_concept_match_does_not_take_the_whole_bonus() -> None:
    """A question whose one concept is generic ("why" -> purpose) and a passage that names
    it once: scaled to the best candidate, that passage used to get the full bonus and beat
    a passage the dense signal prefers."""
    candidates = _candidates([0.0, 0.4])
    candidates.dense[0] = candidates.sentence[0] = 0.82  # the better passage by meaning
    scores = fuse(candidates, "en", np.array(["en", "en"]))
    assert scores[0] > scores[1]
