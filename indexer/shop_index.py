"""One shop's passages, searchable densely, lexically (BM25) and by concept.

Search runs in two stages. Every passage is scored by the dense cosine of its text and by
both BM25 signals; the best `depth` of each signal form the candidates; only candidates
are then scored sentence by sentence. That keeps the sentence signal (a passage whose one
sentence answers the question) without scanning every sentence of a large shop.

Exact dense search is a BLAS matrix-vector product over a contiguous float32 matrix. For
one query at a time it is faster than FAISS's flat index (measured here at 100k x 384:
6.6 ms against 15.5 ms, because FAISS scans a single query without BLAS); FAISS's HNSW
index takes over above `approximate_above` passages, where even that product gets slow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import faiss
import numpy as np

from indexer.build import scored_sentences
from indexer.embedding import Vectors
from indexer.examples import EXAMPLE_FLOOR, ExampleMemory, answering_sentences
from indexer.glossary import Glossary
from indexer.named_details import Detail, default_details, details_said
from indexer.named_rights import rights_a_passage_names
from indexer.passages import Passage
from indexer.quotes import (
    SHORT_SENTENCE_PENALTY,
    QuestionTerms,
    TermRarity,
    choose_quote,
    sentence_evidence,
)
from indexer.tokens import lexical_tokens

HNSW_NEIGHBOURS = 32
HNSW_SEARCH_DEPTH = 128


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


class _Dense:
    """Cosine of a query with every passage (exact), or with the nearest ones (HNSW)."""

    def __init__(self, vectors: Vectors, approximate: bool) -> None:
        self.size = len(vectors)
        self._matrix: Vectors | None = None
        self._hnsw: faiss.Index | None = None
        if approximate:
            self._hnsw = faiss.IndexHNSWFlat(
                vectors.shape[1], HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT
            )
            self._hnsw.hnsw.efSearch = HNSW_SEARCH_DEPTH
            self._hnsw.add(np.ascontiguousarray(vectors, dtype=np.float32))
        else:
            self._matrix = np.ascontiguousarray(vectors, dtype=np.float32)

    def one(self, row: int, query: Vectors) -> float:
        """The cosine of the query and one passage."""
        if self._matrix is not None:
            return float(self._matrix[row] @ query)
        assert self._hnsw is not None
        return float(self._hnsw.reconstruct(row) @ query)

    def scores(self, query: Vectors, depth: int) -> np.ndarray:
        """Scores for all passages; with HNSW the ones it did not reach score zero."""
        if self._matrix is not None:
            scores: np.ndarray = self._matrix @ query
            return scores
        assert self._hnsw is not None
        found, rows = self._hnsw.search(query.reshape(1, -1), min(depth, self.size))
        scores = np.zeros(self.size, dtype=np.float32)
        valid = rows[0] >= 0
        scores[rows[0][valid]] = found[0][valid]
        return scores


@dataclass
class Candidates:
    """The signals of the candidate passages for one question (`rows` index the shop)."""

    rows: np.ndarray
    dense: np.ndarray  # cosine of the question and the passage text (with its section title)
    sentence: np.ndarray  # the best cosine of the question and one of the passage's sentences
    lexical: np.ndarray  # BM25 over word stems
    concepts: np.ndarray  # BM25 over glossary concepts
    # The cosine of the question with the passage's nearest example question (examples.py;
    # 0 for a passage without any).
    example: np.ndarray | None = None


def _version_groups(passages: list[Passage]) -> dict[int, list[int]]:
    """Each passage of an original with translations, and each translation passage, mapped
    to the group of rows that say the same thing (the original's row first)."""
    row_of = {passage.key: row for row, passage in enumerate(passages)}
    groups: dict[int, list[int]] = {}
    for row, passage in enumerate(passages):
        original = row_of.get(passage.original) if passage.original else None
        if original is not None:
            groups.setdefault(original, [original]).append(row)
    return {row: group for group in groups.values() for row in group}


def _top(scores: np.ndarray, depth: int) -> np.ndarray:
    if len(scores) <= depth:
        return np.arange(len(scores))
    return np.argpartition(-scores, depth)[:depth]


class ShopIndex:
    def __init__(
        self,
        passages: list[Passage],
        passage_vectors: Vectors,
        sentence_vectors: Vectors,
        sentence_owners: np.ndarray,
        glossary: Glossary,
        approximate_above: int,
        details: tuple[Detail, ...] | None = None,
        examples: ExampleMemory | None = None,
        hubs: np.ndarray | None = None,
    ) -> None:
        self.passages = passages
        # Per passage, its hub share (hubs.py); zeros for an index built without it.
        self.hubs = (
            np.asarray(hubs, dtype=np.float64)
            if hubs is not None
            else np.zeros(len(passages), dtype=np.float64)
        )
        self.examples = examples if examples is not None and len(examples) else None
        self.glossary = glossary
        self.languages = np.array([passage.language for passage in passages])
        # A policy in more than one language (a document mixing two, or translations).
        self.multilingual = len(set(self.languages.tolist())) > 1
        self.topics = [frozenset(passage.topics) for passage in passages]
        self._versions = _version_groups(passages)
        # Practices the policy covers; None for an index built before passages had labels.
        labelled = set().union(*self.topics) if passages else set()
        self.covered: frozenset[str] | None = frozenset(labelled) if labelled else None
        self.rarity = TermRarity(passages)
        self._sentence_terms_memo: dict[int, tuple[list[frozenset[str]], list[frozenset[str]]]] = {}
        self._dense = _Dense(passage_vectors, len(passages) > approximate_above)
        # Sentences are read only for candidates: half precision halves their memory.
        order = np.argsort(sentence_owners, kind="stable")
        self._sentences = np.ascontiguousarray(sentence_vectors[order], dtype=np.float16)
        owners = np.asarray(sentence_owners)[order]
        self._sentence_start = np.searchsorted(owners, np.arange(len(passages)), side="left")
        self._sentence_end = np.searchsorted(owners, np.arange(len(passages)), side="right")
        self._lexical = _Lexical([lexical_tokens(p.embedding_text) for p in passages])
        passage_concepts = [glossary.concepts_in(p.embedding_text) for p in passages]
        self.concepts = [frozenset(found) for found in passage_concepts]
        self._concepts = _Lexical(passage_concepts)
        # The rights (a copy, correction, deletion, unsubscribing) the passages name where
        # they speak of them.
        self.rights_named: frozenset[str] = frozenset().union(
            *(
                rights_a_passage_names(passage.embedding_text, concepts, topics)
                for passage, topics, concepts in zip(
                    passages, self.topics, self.concepts, strict=True
                )
            )
        )
        # The details (data/details.toml) some passage names: a breach notice, a date.
        self.details = default_details() if details is None else details
        self.details_said = details_said(
            ((p.embedding_text, topics) for p, topics in zip(passages, self.topics, strict=True)),
            self.details,
        )

    def __len__(self) -> int:
        return len(self.passages)

    def versions(self, row: int) -> list[int]:
        """The rows that say the same as `row` in other versions of the policy (declared
        translations aligned to their original), the original's first; `[row]` alone when
        the passage has none."""
        return self._versions.get(row, [row])

    def original_of(self, row: int) -> int | None:
        """The row of the original passage a translated passage was made from."""
        group = self._versions.get(row)
        return group[0] if group and group[0] != row else None

    def _best_sentences(self, query: Vectors, rows: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        starts, ends = self._sentence_start[rows], self._sentence_end[rows]
        counts = ends - starts
        # A passage's own text counts as one of its sentences (and is the only one of a
        # passage too short to have sentence vectors).
        best = fallback.copy()
        has = counts > 0
        if not has.any():
            return best
        starts, counts = starts[has], counts[has]
        offsets = np.cumsum(counts) - counts
        # Every sentence row of every candidate, without a Python loop over candidates.
        index = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))
        sims = self._sentences[index].astype(np.float32) @ query
        best[has] = np.maximum(best[has], np.maximum.reduceat(sims, offsets))
        return best

    def dense_one(self, row: int, query: Vectors) -> float:
        return self._dense.one(row, query)

    def sentence_dense(self, row: int, query: Vectors) -> np.ndarray:
        """The cosine of the question and each sentence of a passage (in order); a sentence
        without a vector of its own takes the passage's, a little lower."""
        passage = self.passages[row]
        scored = scored_sentences(passage)
        start, end = int(self._sentence_start[row]), int(self._sentence_end[row])
        whole = self._dense.one(row, query)
        sims = np.full(len(passage.sentences), whole - SHORT_SENTENCE_PENALTY)
        if scored and end - start == len(scored):
            own = self._sentences[start:end].astype(np.float32) @ query
            sims[scored] = own
        return sims

    def _sentence_terms(self, row: int) -> tuple[list[frozenset[str]], list[frozenset[str]]]:
        """The concepts and word stems of each sentence of a passage, memoised: the same
        passages come up for question after question."""
        found = self._sentence_terms_memo.get(row)
        if found is None:
            if len(self._sentence_terms_memo) > 4096:  # a bounded memo for large shops
                self._sentence_terms_memo.clear()
            sentences = self.passages[row].sentences
            found = (
                [frozenset(self.glossary.concepts_in(sentence)) for sentence in sentences],
                [frozenset(lexical_tokens(sentence)) for sentence in sentences],
            )
            self._sentence_terms_memo[row] = found
        return found

    def evidence(self, row: int, query: Vectors, terms: QuestionTerms) -> np.ndarray:
        """How much each sentence of the passage looks like the answer (quotes.py)."""
        concepts, stems = self._sentence_terms(row)
        return sentence_evidence(
            self.passages[row].sentences,
            self.sentence_dense(row, query),
            terms,
            self.rarity,
            concepts,
            stems,
        )

    def quote(
        self,
        row: int,
        query: Vectors,
        terms: QuestionTerms,
        limit: int = 3,
        *,
        examples: bool = True,
    ) -> list[str]:
        """The passage's sentences that hold the answer, in reading order. With `examples`,
        the sentence a near example question names as the answer joins them, if there is
        room and they lack it."""
        passage = self.passages[row]
        if not passage.sentences:
            return [passage.text]
        evidence = self.evidence(row, query, terms)
        chosen = choose_quote(passage.sentences, evidence, limit)
        if examples and self.examples is not None and len(chosen) < limit:
            answers = self.examples.answers_for(row, query)
            taught = answering_sentences(passage.sentences, answers)
            if taught and not set(taught) & set(chosen):
                chosen = sorted({*chosen, max(taught, key=lambda i: evidence[i])})
        return [passage.sentences[i] for i in chosen]

    def signals(
        self, query: Vectors, tokens: Sequence[str], concepts: Sequence[str], depth: int = 100
    ) -> Candidates:
        dense = self._dense.scores(query, depth)
        lexical = self._lexical.scores(tokens)
        concept = self._concepts.scores(concepts)
        tops = [_top(dense, depth), _top(lexical, depth), _top(concept, depth)]
        example = None
        if self.examples is not None:
            example = self.examples.best(query, len(self.passages))
            tops.append(np.flatnonzero(example >= EXAMPLE_FLOOR))
        rows = np.unique(np.concatenate(tops))
        passage_dense = dense[rows]
        return Candidates(
            rows=rows,
            dense=passage_dense,
            sentence=self._best_sentences(query, rows, passage_dense),
            lexical=lexical[rows],
            concepts=concept[rows],
            example=None if example is None else example[rows],
        )
