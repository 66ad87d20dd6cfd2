"""CPU time per question, stage by stage: `python -m benchmarks.answer_stages`.

The same calls the bot makes for one customer question, in this process, one question at a
time (each question made unique, so nothing is cached): embedding, intents, search (signals,
fusion, the practice labeller and the rerank), quote, the database write of the
conversation log (SQLite file), and rendering the Telegram message. Thread CPU time of the
calling thread (the embedding's own worker threads included for the embedding via process
time). Figures are printed, never asserted.

    python -m benchmarks.answer_stages [--questions 300] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.bot_webhook import QUESTIONS


def _load_questions(count: int) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    pairs = [(str(row["question"]), str(row["shop"])) for row in rows]
    out = []
    for i in range(count):
        text, shop = pairs[i % len(pairs)]
        out.append((f"{text} ({i})" if i >= len(pairs) else text, shop))
    return out


async def _measure(count: int) -> dict[str, dict[str, float]]:
    from aiogram.utils.i18n import I18n

    from backend.conversation_log import record_question
    from backend.database import Database
    from bot.answers import render_answer, render_silent, render_unanswered
    from bot.i18n import create_i18n
    from indexer.embedding import embedder_for
    from indexer.intents import IntentRecogniser
    from indexer.retriever import Retriever
    from indexer.settings import IndexerSettings

    settings = IndexerSettings()
    embedder = embedder_for(settings)
    retriever = Retriever(settings.index_dir, embedder)
    recogniser = IntentRecogniser(embedder)
    folder = Path(tempfile.mkdtemp(prefix="stages-"))
    database = Database(f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}")
    await database.migrate()
    i18n: I18n = create_i18n(folder / "locales")
    questions = _load_questions(count)
    # Warm-up: models loaded, first calls paid.
    for text, shop in questions[:5]:
        vector = retriever.embed_questions([text])[0]
        recogniser.recognise(text, vector)
        retriever.search(text, shop, 3, query_vector=vector)
    times: dict[str, list[float]] = defaultdict(list)

    def clock() -> tuple[float, float]:
        return time.process_time(), time.thread_time()

    with i18n.context(), i18n.use_locale("en"):
        for text, shop in questions:
            start_process, _ = clock()
            vector = retriever.embed_questions([text])[0]
            after_embed_process, t0 = clock()
            times["embedding"].append(after_embed_process - start_process)
            recognised = recogniser.recognise(text, vector)
            _, t1 = clock()
            times["intents"].append(t1 - t0)
            result = retriever.search(text, shop, 3, query_vector=vector)
            _, t2 = clock()
            times["search"].append(t2 - t1)
            quote = retriever.quote(result, result.hits[0], vector) if result.hits else []
            also = retriever.also_quote(result, vector)
            _, t3 = clock()
            times["quote"].append(t3 - t2)
            async with database.session() as session:
                await record_question(
                    session,
                    pseudonym="bench",
                    shop_id=result.shop_id,
                    question=text,
                    language=result.language,
                    intent=recognised.intent.value,
                    passage_key=result.hits[0].passage.key if result.hits else None,
                    section=None,
                    confidence=result.confidence,
                    answered=result.answered,
                    index_version=result.index_version,
                )
            _, t4 = clock()
            times["database"].append(t4 - t3)
            if result.answered:
                render_answer(result, quote, "en", also=also)
            elif result.silent:
                render_silent(result, "Shop", "privacy@example.com")
            else:
                render_unanswered(result, "en", "privacy@example.com")
            _, t5 = clock()
            times["rendering"].append(t5 - t4)
    await database.dispose()
    # Each question's own total: the sum of its stages.
    times["total"] = [sum(stages) for stages in zip(*times.values(), strict=True)]
    report = {}
    for stage, values in times.items():
        ms = sorted(v * 1000 for v in values)
        report[stage] = {
            "mean_ms": round(statistics.fmean(ms), 3),
            "p50_ms": round(ms[len(ms) // 2], 3),
            "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 3),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = asyncio.run(_measure(args.questions))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"CPU ms per question, {args.questions} questions, one at a time:")
    for stage, figures in report.items():
        print(
            f"  {stage:10s} mean {figures['mean_ms']:7.2f}  p50 {figures['p50_ms']:7.2f}"
            f"  p99 {figures['p99_ms']:7.2f}"
        )


if __name__ == "__main__":
    main()
