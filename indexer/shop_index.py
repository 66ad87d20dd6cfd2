"""One shop's passages, searchable densely (FAISS), lexically (BM25) and by concept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import faiss
import numpy as np

from indexer.embedding import Vectors
from indexer.glossary import Glossary
from indexer.passages import Passage
from indexer.tokens import lexical_tokens

# Exact inner-product search is the default: at 100k passages it takes ~8 ms on two cores,
# inside the latency budget, and it never misses. HNSW trades a little recall for speed
# above the size set in IndexerSettings.approximate_above.
HNSW_NEIGHBOURS = 32


def dense_index(vectors: Vectors, approximate: bool) -> faiss.Index:
    dimension = vectors.shape[1]
    index: faiss.Index
    if approximate:
        index = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


class _Lexical:
    """BM25 over pre-tokenised documents; empty documents and queries score zero."""

    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        self.size = len(documents)
        self._bm25: bm25s.BM25 | None = None
        if any(documents):
            self._bm25 = bm25s.BM25()
            self._bm25.index([list(doc) or ["\x00"] for doc in documents], show_progress=False)

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        if self._bm25 is None or not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(list(tokens)), dtype=np.float32)


@dataclass
class Candidates:
    """Raw per-passage signals for a question, over the passages of one shop."""

    dense: np.ndarray  # cosine of the question and the passage text (with its section title)
    sentence: np.ndarray  # the best cosine of the question and one of the passage's sentences
    lexical: np.ndarray  # BM25 over word stems
    concepts: np.ndarray  # BM25 over glossary concepts


class ShopIndex:
    def __init__(
        self,
        passages: list[Passage],
        passage_vectors: Vectors,
        sentence_vectors: Vectors,
        sentence_owners: np.ndarray,
        glossary: Glossary,
        approximate_above: int,
    ) -> None:
        self.passages = passages
        self.languages = [passage.language for passage in passages]
        approximate = len(passages) > approximate_above
        self._passage_index = dense_index(passage_vectors, approximate)
        self._sentence_index = dense_index(sentence_vectors, approximate)
        self._sentence_owners = sentence_owners
        self._lexical = _Lexical([lexical_tokens(p.embedding_text) for p in passages])
        self._concepts = _Lexical([glossary.concepts_in(p.embedding_text) for p in passages])

    def __len__(self) -> int:
        return len(self.passages)

    def signals(
        self, query: Vectors, tokens: Sequence[str], concepts: Sequence[str], depth: int = 100
    ) -> Candidates:
        size = len(self.passages)
        dense = np.zeros(size, dtype=np.float32)
        k = min(depth, size)
        if k:
            scores, rows = self._passage_index.search(query.reshape(1, -1), k)
            valid = rows[0] >= 0
            dense[rows[0][valid]] = scores[0][valid]
        # A passage without sentence vectors (one sentence only) is its own best sentence.
        sentence = dense.copy()
        sentences = self._sentence_index.ntotal
        if sentences:
            scores, rows = self._sentence_index.search(query.reshape(1, -1), min(depth, sentences))
            valid = rows[0] >= 0
            np.maximum.at(sentence, self._sentence_owners[rows[0][valid]], scores[0][valid])
        return Candidates(
            dense, sentence, self._lexical.scores(tokens), self._concepts.scores(concepts)
        )
