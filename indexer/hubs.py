"""Hub passages: the ones a search puts first for questions other passages answer.

A policy's introduction, or a paragraph that lists every use of the data, is near almost
any question: with a small embedding model it wins questions meant for the paragraph that
answers them (Klingit's Swedish introduction took questions on minors, retention and
passwords). The shop's example questions (examples.py) show which passages do this: each
is searched as a customer's question would be, without the examples' own lift, and a
passage's hub share is the share of the shop's examples it is put first for while another
passage holds their answer. The ranking takes that share off (ranking.FusionWeights.hub),
so a hub wins only where it is clearly the best. Measured at build time on the staged
index and kept beside it (`passage_hubs.npy`); a shop without examples has no hubs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexer.build import EXAMPLE_VECTORS, EXAMPLES_FILE, PASSAGES_FILE, read_passages
from indexer.embedding import Embedder
from indexer.examples import holds_any, load_examples
from indexer.ranking import FusionWeights
from indexer.retriever import Retriever
from indexer.settings import IndexerSettings
from indexer.topics import PracticeLabeller


def passage_hubs(
    folder: Path, settings: IndexerSettings, embedder: Embedder, labeller: PracticeLabeller
) -> np.ndarray:
    """Per passage of the index in `folder` (its rows), its hub share in its shop."""
    passages = read_passages(folder / PASSAGES_FILE)
    hubs = np.zeros(len(passages), dtype=np.float32)
    examples = load_examples(folder / EXAMPLES_FILE)
    if not examples:  # nothing to measure with: no index to load for it
        return hubs
    retriever = Retriever(
        settings.index_dir,
        embedder,
        approximate_above=settings.approximate_above,
        weights=FusionWeights(example=0.0, hub=0.0),
        labeller=labeller,
        version_dir=folder,
    )
    # A shop's passages keep the index's order: its i-th is its i-th row in the index.
    rows = {
        shop_id: np.array([row for row, p in enumerate(passages) if p.shop_id == shop_id])
        for shop_id in retriever.shop_ids
    }
    vectors = np.load(folder / EXAMPLE_VECTORS)
    asked: dict[str, int] = {}
    for example, vector in zip(examples, vectors, strict=True):
        asked[example.shop_id] = asked.get(example.shop_id, 0) + 1
        result = retriever.search(
            example.question, example.shop_id, 1, query_vector=vector, language=example.lang
        )
        if result.hits and not holds_any(result.hits[0].passage.text, example.answers):
            hubs[rows[example.shop_id][result.hits[0].row]] += 1.0
    for shop_id, count in asked.items():
        hubs[rows[shop_id]] /= count
    return hubs
