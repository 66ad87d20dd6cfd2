"""`python -m indexer bench`: query latency, build throughput and memory.

Latency: a synthetic shop of N passages (text made of the demo corpus's own words, so BM25
and the glossary do real work; vectors random, because embedding 100k passages would take
hours on two cores), loaded through the normal Retriever; every query is a question of the
eval set, embedded for real, then searched and fused exactly as in service.

Build: the demo corpus built cold (empty embedding cache), then rebuilt after one policy
changed, which must embed only that policy's changed passages and sentences.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from indexer.build import (
    PASSAGE_VECTORS,
    PASSAGES_FILE,
    SENTENCE_OWNERS,
    SENTENCE_VECTORS,
    TOPIC_VECTORS,
    build_index,
    write_passages,
)
from indexer.confidence import topic_prototypes
from indexer.embedding import Embedder, embedder_for
from indexer.passages import Passage
from indexer.publish import Manifest, publish, staging_folder
from indexer.retriever import Retriever
from indexer.settings import PROJECT_ROOT, IndexerSettings
from indexer.tokens import words

BENCH_SHOP = "bench"
SENTENCES_PER_PASSAGE = 2
QUESTIONS = PROJECT_ROOT / "tests" / "eval" / "questions.jsonl"


def resident_mb() -> float:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _vocabulary(settings: IndexerSettings) -> list[str]:
    text = " ".join(p.read_text(encoding="utf-8") for p in settings.knowledge_dir.glob("*/*.txt"))
    return words(text)


def _synthetic_index(folder: Path, size: int, embedder: Embedder, vocabulary: list[str]) -> None:
    rng = random.Random(size)
    passages = []
    for ordinal in range(size):
        text = " ".join(rng.choices(vocabulary, k=rng.randint(40, 90))).capitalize() + "."
        passages.append(
            Passage(
                BENCH_SHOP,
                "bench.txt",
                "Bench",
                "1",
                f"Section {ordinal % 97}",
                text,
                ordinal,
                language=rng.choice(["en", "cs", "uk", "sv"]),
            )
        )
    generator = np.random.default_rng(size)

    def unit_vectors(count: int) -> np.ndarray:
        vectors = generator.standard_normal((count, embedder.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors

    with staging_folder(folder) as staging:
        write_passages(staging / PASSAGES_FILE, passages)
        np.save(staging / PASSAGE_VECTORS, unit_vectors(size))
        np.save(staging / SENTENCE_VECTORS, unit_vectors(size * SENTENCES_PER_PASSAGE))
        owners = np.repeat(np.arange(size, dtype=np.int32), SENTENCES_PER_PASSAGE)
        np.save(staging / SENTENCE_OWNERS, owners)
        np.save(staging / TOPIC_VECTORS, embedder.embed_queries(topic_prototypes()))
        manifest = Manifest(
            version=1,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            model_id=embedder.model_id,
            dimension=embedder.dimension,
            corpus_hash="synthetic",
            documents={},
            passage_count=size,
            sentence_count=size * SENTENCES_PER_PASSAGE,
            shops={BENCH_SHOP: size},
        )
        publish(folder, staging, manifest)


def _questions(count: int) -> list[str]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    return [questions[i % len(questions)] for i in range(count)]


def _percentile(values: list[float], share: float) -> float:
    return round(float(np.percentile(values, share)), 2)


def query_latency(
    settings: IndexerSettings, embedder: Embedder, sizes: list[int], queries: int
) -> list[dict[str, Any]]:
    vocabulary = _vocabulary(settings)
    questions = _questions(queries)
    rows = []
    for size in sizes:
        folder = Path(tempfile.mkdtemp(prefix="indexer-bench-"))
        try:
            started = time.perf_counter()
            _synthetic_index(folder, size, embedder, vocabulary)
            retriever = Retriever(folder, embedder, approximate_above=settings.approximate_above)
            load_seconds = time.perf_counter() - started
            for question in questions[:10]:  # warm caches and BLAS threads
                retriever.search(question, BENCH_SHOP)
            timings = []
            for question in questions:
                begin = time.perf_counter()
                retriever.search(question, BENCH_SHOP)
                timings.append((time.perf_counter() - begin) * 1000)
            rows.append(
                {
                    "passages": size,
                    "queries": len(timings),
                    "p50_ms": _percentile(timings, 50),
                    "p99_ms": _percentile(timings, 99),
                    "mean_ms": round(float(np.mean(timings)), 2),
                    "resident_mb": round(resident_mb(), 1),
                    "build_and_load_s": round(load_seconds, 1),
                }
            )
            del retriever
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return rows


def build_throughput(settings: IndexerSettings, embedder: Embedder) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="indexer-bench-build-"))
    try:
        knowledge = work / "knowledge"
        shutil.copytree(settings.knowledge_dir, knowledge)
        local = settings.model_copy(
            update={"knowledge_dir": knowledge, "index_dir": work / "index"}
        )
        cold = build_index(local, embedder)
        # One policy of the five changes: a paragraph reworded and one added.
        policy = knowledge / "webstore" / "privacy-policy.txt"
        text = policy.read_text(encoding="utf-8")
        text = text.replace("for a period up to 5 years", "for a period of up to 3 years")
        text += "\n\nContact\n\nWrite to our privacy team about any question on your data.\n"
        policy.write_text(text, encoding="utf-8")
        warm = build_index(local, embedder)
        return {
            "cold": {
                "passages": cold.manifest.passage_count,
                "embedded": cold.embedded,
                "seconds": round(cold.seconds, 2),
                "passages_per_second": round(cold.passages_per_second, 1),
            },
            "one_policy_changed": {
                "passages": warm.manifest.passage_count,
                "embedded": warm.embedded,
                "seconds": round(warm.seconds, 2),
                "passages_per_second": round(warm.passages_per_second, 1),
            },
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_bench(
    settings: IndexerSettings, *, sizes: list[int], queries: int, build: bool = True
) -> dict[str, Any]:
    embedder = embedder_for(settings)
    report: dict[str, Any] = {
        "model": embedder.model_id,
        "latency": [],
        "build": None,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    if build:
        report["build"] = build_throughput(settings, embedder)
    report["latency"] = query_latency(settings, embedder, sizes, queries)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    lines = [
        f"model {embedder.model_id}; query = embed + dense (passages and sentences) + BM25 "
        f"+ concepts + fusion + confidence"
    ]
    for row in report["latency"]:
        lines.append(
            f"{row['passages']:>7d} passages: p50 {row['p50_ms']:6.2f} ms  p99 "
            f"{row['p99_ms']:6.2f} ms  ({row['queries']} queries)  resident {row['resident_mb']} MB"
        )
    if report["build"]:
        cold, warm = report["build"]["cold"], report["build"]["one_policy_changed"]
        lines.append(
            f"build, cold: {cold['passages']} passages in {cold['seconds']} s = "
            f"{cold['passages_per_second']} passages/s ({cold['embedded']} texts embedded)"
        )
        lines.append(
            f"re-index after one policy changed: {warm['seconds']} s = "
            f"{warm['passages_per_second']} passages/s; embedded {warm['embedded']} texts "
            f"(passages and sentences of the changed policy only)"
        )
    lines.append(
        f"load average (1, 5, 15 min) before {report['load_average_before']}, after "
        f"{report['load_average_after']}: other work on this 2-core machine skews the figures"
    )
    report["_human"] = "\n".join(lines)
    return report
