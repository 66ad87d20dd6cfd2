"""Knowledge folder -> passages -> embeddings -> a published index version."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from indexer.alignment import Alignment, align
from indexer.confidence import topic_prototypes
from indexer.embedding import Embedder, EmbeddingCache, Vectors
from indexer.errors import IndexNotFoundError, PolicyError
from indexer.examples import ShopExample, match_examples, read_examples, write_examples
from indexer.language import detect_language
from indexer.loaders import load_document
from indexer.passages import Passage, split_passages
from indexer.publish import (
    MANIFEST,
    Manifest,
    build_lock,
    current_version_dir,
    next_version,
    publish,
    staging_folder,
)
from indexer.settings import IndexerSettings
from indexer.shops import Shop, load_shops
from indexer.topics import PracticeLabeller, labeller_digest
from indexer.translit import readable

PASSAGES_FILE = "passages.jsonl"
PASSAGE_VECTORS = "passage_vectors.npy"
SENTENCE_VECTORS = "sentence_vectors.npy"
SENTENCE_OWNERS = "sentence_owners.npy"
TOPIC_VECTORS = "topic_vectors.npy"
EXAMPLES_FILE = "examples.jsonl"
EXAMPLE_VECTORS = "example_vectors.npy"
PASSAGE_HUBS = "passage_hubs.npy"
# What a version folder holds; a change rebuilds an index whose policies did not change
# (2: the passages' hub shares, hubs.py).
INDEX_FORMAT = 2
CACHE_FILE = "embedding-cache.sqlite3"
# Classifiers trained for an embedder the committed weights were not trained on.
TRAINED_MODELS_DIR = "trained-models"


@dataclass(frozen=True)
class BuildReport:
    manifest: Manifest
    seconds: float
    embedded: int
    published: bool = True
    # How each declared translation lines up with its original (empty when there is none).
    alignments: list[Alignment] = field(default_factory=list)
    examples: int = 0  # example questions matched to a passage
    # Per shop, the example questions whose answer the policy no longer holds (left out).
    stale_examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def passages_per_second(self) -> float:
        return self.manifest.passage_count / self.seconds if self.seconds else 0.0


def shop_passages(shop: Shop, settings: IndexerSettings) -> tuple[list[Passage], dict[str, str]]:
    """Every passage of one shop's documents, and each document's hash."""
    passages: list[Passage] = []
    hashes: dict[str, str] = {}
    for document in shop.documents:
        loaded = load_document(shop.folder / document.path, settings.max_file_bytes)
        hashes[f"{shop.id}/{document.path}"] = loaded.sha256
        pieces = split_passages(
            loaded.text,
            shop_id=shop.id,
            document=document.path,
            document_title=document.title,
            version=document.version,
            max_chars=settings.passage_max_chars,
            overlap_sentences=settings.passage_overlap_sentences,
        )
        if not pieces:
            raise PolicyError(shop.folder / document.path, "no passages could be made from it")
        passages.extend(
            piece.with_language(detect_language(piece.embedding_text, document.languages))
            for piece in pieces
        )
    return passages, hashes


def align_translations(
    shops: list[Shop], passages: list[Passage], vectors: Vectors
) -> tuple[list[Passage], list[Alignment]]:
    """Point every passage of a declared translation at the original passage it translates
    (`Passage.original`); `vectors` are the passages' own, row for row."""
    aligned = list(passages)
    alignments: list[Alignment] = []
    rows: dict[tuple[str, str], list[int]] = {}
    for row, passage in enumerate(passages):
        rows.setdefault((passage.shop_id, passage.document), []).append(row)
    for shop in shops:
        for document in shop.documents:
            if document.translation_of is None:
                continue
            source = rows[(shop.id, document.translation_of)]
            target = rows[(shop.id, document.path)]
            alignment = align(
                [passages[row] for row in source],
                vectors[source],
                [passages[row] for row in target],
                vectors[target],
            )
            alignments.append(alignment)
            for row, found in zip(target, alignment.passage_originals, strict=True):
                if found is not None:
                    aligned[row] = passages[row].translating(passages[source[found]].key)
    return aligned, alignments


def _example_hashes(shops: list[Shop]) -> dict[str, str]:
    """Each examples file's hash, for the corpus hash."""
    return {
        f"{shop.id}/{shop.examples}": hashlib.sha256(
            (shop.folder / shop.examples).read_bytes()
        ).hexdigest()
        for shop in shops
        if shop.examples is not None
    }


def shop_examples(
    shops: list[Shop], passages: list[Passage]
) -> tuple[list[ShopExample], dict[str, list[str]]]:
    """Every shop's example questions matched to its passages (rows of `passages`), and
    the stale ones per shop."""
    matched: list[ShopExample] = []
    stale: dict[str, list[str]] = {}
    for shop in shops:
        if shop.examples is None:
            continue
        texts = {row: p.text for row, p in enumerate(passages) if p.shop_id == shop.id}
        found, missing = match_examples(shop.id, read_examples(shop.folder / shop.examples), texts)
        matched.extend(found)
        if missing:
            stale[shop.id] = missing
    return matched, stale


def _translation_links(shops: list[Shop]) -> dict[str, str]:
    return {
        f"{shop.id}/{document.path}": document.translation_of
        for shop in shops
        for document in shop.documents
        if document.translation_of is not None
    }


def _corpus_hash(
    documents: dict[str, str],
    settings: IndexerSettings,
    model_id: str,
    labeller: str,
    translations: dict[str, str],
    examples: dict[str, str],
) -> str:
    material = json.dumps(
        {
            "documents": documents,
            "translations": translations,
            "examples": examples,
            "model": model_id,
            "labeller": labeller,
            "max_chars": settings.passage_max_chars,
            "overlap": settings.passage_overlap_sentences,
            "format": INDEX_FORMAT,
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def write_passages(path: Path, passages: list[Passage]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for passage in passages:
            record = asdict(passage)
            record["sentences"] = list(passage.sentences)
            record["topics"] = list(passage.topics)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_passages(path: Path) -> list[Passage]:
    passages = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            record["sentences"] = tuple(record["sentences"])
            record["topics"] = tuple(record.get("topics", ()))
            passages.append(Passage(**record))
    return passages


MIN_SENTENCE_CHARS = 25


def scored_sentences(passage: Passage) -> list[int]:
    """Which of a passage's sentences get a vector of their own, in order.

    A passage of one sentence needs no second vector, and a fragment ("Types:") says
    too little to be matched alone.
    """
    if len(passage.sentences) < 2:
        return []
    return [i for i, s in enumerate(passage.sentences) if len(s) >= MIN_SENTENCE_CHARS]


def sentence_units(passages: list[Passage]) -> tuple[list[str], list[int]]:
    texts: list[str] = []
    owners: list[int] = []
    for row, passage in enumerate(passages):
        for index in scored_sentences(passage):
            texts.append(passage.sentences[index])
            owners.append(row)
    return texts, owners


def _serving_manifest(settings: IndexerSettings) -> Manifest | None:
    try:
        return Manifest.read(current_version_dir(settings.index_dir))
    except IndexNotFoundError:
        return None


def build_index(
    settings: IndexerSettings,
    embedder: Embedder,
    *,
    show_progress: bool = False,
    force: bool = True,
) -> BuildReport:
    """Build every shop of the knowledge folder and publish it; on any error nothing changes.

    With `force=False` an unchanged corpus (same documents, model and passage settings)
    publishes nothing and reports the version already serving.
    """
    started = time.perf_counter()
    shops = load_shops(settings.knowledge_dir)
    passages: list[Passage] = []
    documents: dict[str, str] = {}
    for shop in shops:
        found, hashes = shop_passages(shop, settings)
        passages.extend(found)
        documents.update(hashes)
    sentences, owners = sentence_units(passages)
    serving = _serving_manifest(settings)
    labeller = PracticeLabeller(
        embedder,
        cache=settings.index_dir / CACHE_FILE,
        trained_dir=settings.index_dir / TRAINED_MODELS_DIR,
    )
    corpus_hash = _corpus_hash(
        documents,
        settings,
        embedder.model_id,
        labeller_digest(labeller),
        _translation_links(shops),
        _example_hashes(shops),
    )
    if not force and serving is not None and serving.corpus_hash == corpus_hash:
        return BuildReport(serving, time.perf_counter() - started, 0, published=False)
    examples, stale = shop_examples(shops, passages)

    with build_lock(settings.index_dir), staging_folder(settings.index_dir) as staging:
        cache = EmbeddingCache(settings.index_dir / CACHE_FILE)
        try:
            texts = [passage.embedding_text for passage in passages] + sentences
            with tqdm(
                total=len(texts), unit="text", desc="embedding", disable=not show_progress
            ) as bar:
                vectors, embedded = cache.embed_passages(embedder, texts, progress=bar.update)
            example_vectors = cache.embed_queries(
                embedder, [readable(example.question, example.lang) for example in examples]
            )
        finally:
            cache.close()
        topics = labeller.label_passages(
            [passage.embedding_text for passage in passages], vectors[: len(passages)]
        )
        passages = [
            passage.with_topics(found) for passage, found in zip(passages, topics, strict=True)
        ]
        passages, alignments = align_translations(shops, passages, vectors[: len(passages)])
        write_passages(staging / PASSAGES_FILE, passages)
        np.save(staging / PASSAGE_VECTORS, vectors[: len(passages)])
        np.save(staging / SENTENCE_VECTORS, vectors[len(passages) :])
        np.save(staging / SENTENCE_OWNERS, np.asarray(owners, dtype=np.int32))
        np.save(staging / TOPIC_VECTORS, embedder.embed_queries(topic_prototypes()))
        write_examples(staging / EXAMPLES_FILE, examples)
        np.save(staging / EXAMPLE_VECTORS, example_vectors)
        manifest = Manifest(
            version=next_version(settings.index_dir),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            model_id=embedder.model_id,
            dimension=embedder.dimension,
            corpus_hash=corpus_hash,
            documents=documents,
            passage_count=len(passages),
            sentence_count=len(sentences),
            shops={shop.id: sum(p.shop_id == shop.id for p in passages) for shop in shops},
            settings={
                "passage_max_chars": settings.passage_max_chars,
                "passage_overlap_sentences": settings.passage_overlap_sentences,
            },
            embedded=embedded,
            aliases={alias: shop.id for shop in shops for alias in shop.aliases},
        )
        # The hubs are measured by searching the staged index itself (hubs.py).
        from indexer.hubs import passage_hubs

        (staging / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        np.save(staging / PASSAGE_HUBS, passage_hubs(staging, settings, embedder, labeller))
        publish(settings.index_dir, staging, manifest)
    return BuildReport(
        manifest,
        time.perf_counter() - started,
        embedded,
        alignments=alignments,
        examples=len(examples),
        stale_examples=stale,
    )
