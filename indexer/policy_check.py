"""Whether an uploaded file can serve as a shop's privacy policy, and if not, why.

An admin's upload replaces what the bot tells every customer, so it is checked before it
goes anywhere: a supported type whose content matches its name, not too large (checked
before a byte is downloaded, when the size is known), text the loaders can read, enough
of it, in the language it was declared in, and about personal data. The last check uses
the embedding model: each passage is compared with the privacy and the shop-talk
prototypes of the confidence score (data/topics.toml); a recipe, delivery terms or a
project README score below policies in every language of the demo corpus.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.build import CACHE_FILE, TOPIC_VECTORS
from indexer.confidence import topic_margin, topic_prototypes
from indexer.embedding import Embedder, EmbeddingCache, Vectors
from indexer.errors import IndexNotFoundError, PolicyError
from indexer.hidden_emails import count_hidden_emails
from indexer.language import SUPPORTED, detect_language
from indexer.loaders import SUPPORTED_SUFFIXES, LoadedDocument, load_bytes
from indexer.passages import Passage, split_passages
from indexer.publish import Manifest, current_version_dir
from indexer.settings import IndexerSettings
from indexer.shops import PolicyDocument

MIN_TEXT_CHARS = 400
# Share of passages that must read in the declared language (a policy may quote another).
MIN_LANGUAGE_SHARE = 0.3
# Passages nearer a privacy prototype than a shop-talk one, and by how much on average:
# the five demo policies score 0.89-1.0 and 0.030-0.043; this project's README 0.58 and
# 0.004, its design notes 1.0 and 0.010, a recipe and delivery terms below zero.
MIN_PRIVACY_SHARE = 0.5
MIN_PRIVACY_MARGIN = 0.015

_MAGIC = {
    b"%PDF-": "a PDF",
    b"PK\x03\x04": "a ZIP archive (a Word or OpenDocument file?)",
    b"\xd0\xcf\x11\xe0": "an old Word or Excel file",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
}


class UnsupportedPolicyTypeError(PolicyError):
    """Not a type the loaders read, or the content is not what the name says."""


class PolicyTooLargeError(PolicyError):
    """Over the size limit (IndexerSettings.max_file_bytes)."""


class NotAPolicyError(PolicyError):
    """Readable, but empty, too short, in another language, or not about personal data."""


@dataclass(frozen=True)
class CheckedPolicy:
    passages: list[Passage]
    sha256: str
    # What is acceptable but worth the admin's attention, in a line each (English).
    warnings: tuple[str, ...] = ()


def hidden_email_warning(text: str) -> str | None:
    """The line that tells the admin about addresses the policy's web page hid."""
    count = count_hidden_emails(text)
    if not count:
        return None
    return (
        f'{count} e-mail address{"es" if count > 1 else ""} read "[email protected]": the web '
        "page the text was copied from hides addresses from scrapers. Customers are shown the "
        "shop's contact_email in their place; put the real addresses in the file to quote them."
    )


def check_name_and_size(filename: str, size: int | None, max_bytes: int) -> str:
    """The file's suffix, if the name and the announced size are acceptable; call it before
    downloading or reading the body."""
    suffix = Path(filename).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        found = f"'{suffix}'" if suffix else "no extension"
        raise UnsupportedPolicyTypeError(
            filename, f"unsupported file type ({found}); send {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if size is not None and size > max_bytes:
        raise PolicyTooLargeError(
            filename, f"the file is {readable_size(size)}; the limit is {readable_size(max_bytes)}"
        )
    return suffix


def readable_size(size: int) -> str:
    """Rounded up, so that a file just over the limit never reads as the limit."""
    if size < 1024 * 1024:
        return f"{math.ceil(size / 1024)} KB"
    return f"{math.ceil(size * 10 / (1024 * 1024)) / 10:.1f} MB"


def _check_content_type(filename: str, suffix: str, data: bytes) -> None:
    if not data.strip():
        raise NotAPolicyError(filename, "the file is empty")
    found = next((what for magic, what in _MAGIC.items() if data.startswith(magic)), None)
    if suffix == ".pdf":
        if found != "a PDF":
            raise UnsupportedPolicyTypeError(filename, "named .pdf, but it is not a PDF")
    elif found is not None:
        raise UnsupportedPolicyTypeError(filename, f"named {suffix}, but it is {found}")


def _prototype_vectors(settings: IndexerSettings, embedder: Embedder) -> Vectors:
    """The serving index's prototype vectors when they are this model's (free), else new."""
    try:
        folder = current_version_dir(settings.index_dir)
        if Manifest.read(folder).model_id == embedder.model_id:
            vectors: Vectors = np.load(folder / TOPIC_VECTORS)
            if len(vectors) == len(topic_prototypes()):
                return vectors
    except (IndexNotFoundError, OSError, ValueError):
        pass
    return embedder.embed_queries(topic_prototypes())


def _check_language(filename: str, passages: list[Passage], language: str) -> None:
    found = Counter(detect_language(passage.embedding_text) for passage in passages)
    if found[language] / len(passages) >= MIN_LANGUAGE_SHARE:
        return
    main, _ = found.most_common(1)[0]
    raise NotAPolicyError(
        filename,
        f"it was declared as {language}, but reads as {main} "
        f"({found[language]} of {len(passages)} passages in {language})",
    )


def _check_topic(
    filename: str, passages: list[Passage], settings: IndexerSettings, embedder: Embedder
) -> None:
    # Embedded through the index's cache: the build that follows finds these vectors.
    cache = EmbeddingCache(settings.index_dir / CACHE_FILE)
    try:
        vectors, _ = cache.embed_passages(embedder, [p.embedding_text for p in passages])
    finally:
        cache.close()
    prototypes = _prototype_vectors(settings, embedder)
    margins = np.array([topic_margin(vector, prototypes) for vector in vectors])
    share = float(np.mean(margins > 0))
    if share < MIN_PRIVACY_SHARE or float(np.mean(margins)) < MIN_PRIVACY_MARGIN:
        raise NotAPolicyError(
            filename,
            "this does not read like a privacy policy: "
            f"{int(np.sum(margins > 0))} of {len(passages)} passages are about personal data",
        )


def read_upload(
    filename: str, data: bytes, *, language: str, settings: IndexerSettings
) -> LoadedDocument:
    """The text of an upload, or NotAPolicyError. The slow part of a check (a PDF is read in
    a child process with CPU and memory limits): it needs no lock, so an upload being read
    holds up no other shop's publishing."""
    suffix = check_name_and_size(filename, len(data), settings.max_file_bytes)
    if language not in SUPPORTED:
        raise NotAPolicyError(
            filename, f"{language!r} is not a language the index knows ({', '.join(SUPPORTED)})"
        )
    _check_content_type(filename, suffix, data)
    try:
        loaded = load_bytes(f"upload{suffix}", data, settings.max_file_bytes)
    except PolicyError as exc:
        raise NotAPolicyError(filename, exc.reason) from exc
    if len(loaded.text) < MIN_TEXT_CHARS:
        raise NotAPolicyError(
            filename,
            f"only {len(loaded.text)} characters of text; a privacy policy is longer "
            f"(at least {MIN_TEXT_CHARS})",
        )
    return loaded


def check_policy(
    filename: str,
    loaded: LoadedDocument,
    *,
    shop_id: str,
    entry: PolicyDocument,
    language: str,
    settings: IndexerSettings,
    embedder: Embedder,
) -> CheckedPolicy:
    """Check an upload (read by `read_upload`) meant to become `entry` of the shop's
    shop.toml; its passages come out as the build will make them."""
    passages = split_passages(
        loaded.text,
        shop_id=shop_id,
        document=entry.path,
        document_title=entry.title,
        version=entry.version,
        max_chars=settings.passage_max_chars,
        overlap_sentences=settings.passage_overlap_sentences,
    )
    if not passages:
        raise NotAPolicyError(filename, "no passages could be made from its text")
    _check_language(filename, passages, language)
    _check_topic(filename, passages, settings, embedder)
    warning = hidden_email_warning(loaded.text)
    return CheckedPolicy(passages, loaded.sha256, (warning,) if warning else ())
