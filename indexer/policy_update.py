"""A new version of one shop's policy document, from an upload to the index that serves
it; and back again (rollback).

An upload, under a lock that every process publishing policies takes:

1. the file is checked (`policy_check`): nothing below happens to a refused one;
2. it is written into the shop's folder under a new name, beside the old file, which is
   kept for a rollback, and the shop.toml entry of that language points at it (an
   original's translations, which name it by its path, are pointed at the new file too);
3. the index is built and published (`build_index`: staged, then switched atomically);
4. the document's passages are compared with those served before it: the diff;
5. the change is noted in the shop's `.policy-history.jsonl`, which rollback reads.

A translation (`translation_of`) is uploaded like any document, naming its original by path
or language; the answer reports how its sections align to the original's (and, for a new
original, how its translations align to it), flagging an out-of-date translation.

Should anything fail before the publish, shop.toml is put back and the new file removed;
the serving index was never touched. A rollback restores the entry the latest upload
replaced and serves the index version from before it again, when that version still
matches the knowledge folder; otherwise it builds one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from indexer.alignment import Alignment
from indexer.alignment import describe as describe_alignment
from indexer.build import PASSAGES_FILE, build_index, read_passages
from indexer.changes import PolicyDiff, describe, diff_passages
from indexer.coverage import PolicyCoverage, ShopNotInIndexError, version_coverage
from indexer.embedding import Embedder
from indexer.errors import IndexNotFoundError, PolicyError
from indexer.passages import Passage
from indexer.policy_check import check_name_and_size, check_policy, read_upload
from indexer.publish import (
    Manifest,
    build_lock,
    current_version_dir,
    switch_current,
    version_name,
    versions_dir,
)
from indexer.settings import IndexerSettings
from indexer.shop_toml import (
    restore_shop_file,
    with_document,
    with_translation_of,
    write_shop_file,
)
from indexer.shops import LANGUAGE_CODE, SHOP_FILE, PolicyDocument, Shop, load_shop

POLICY_LOCK = ".policy.lock"
HISTORY_FILE = ".policy-history.jsonl"
# ASCII, as the OpenAPI document states it (JSON Schema patterns know no Unicode \w).
VERSION_FORM = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .:/+-]{0,39}$")

Action = Literal["upload", "rollback"]


class ShopNotFoundError(LookupError):
    """No shop folder by that id in the knowledge folder."""


class NothingToRollBackError(Exception):
    """The shop has no upload left that a rollback could undo."""


class PolicyUnchangedError(PolicyError):
    """The upload is the very file the shop's entry names already."""


class TranslationOfError(PolicyError):
    """An upload's `translation_of` names no original of the shop (nothing, the document the
    upload replaces, a translation), or the document it makes a translation has its own."""


@dataclass(frozen=True)
class PolicyUpdate:
    """What an upload or a rollback did."""

    shop_id: str
    action: Action
    language: str
    document: str  # the file the shop's entry names now
    version: str  # the document's version now
    previous_version: str | None
    index_version: int
    previous_index_version: int | None
    diff: PolicyDiff
    warnings: tuple[str, ...] = ()  # the upload check's (policy_check.CheckedPolicy)
    # What the shop's policy covers now, with the art. 13 check (None: no passage is left).
    coverage: PolicyCoverage | None = None
    translation_of: str | None = None  # the original's path, when the document translates one
    # An upload's translations as aligned at its build: the document's own to its original,
    # or, for an original, each of its translations' to it.
    alignments: tuple[Alignment, ...] = ()

    def describe(self) -> list[str]:
        """In a few English lines, for admins and the CLI."""
        was = f" (was {self.previous_version})" if self.previous_version else ""
        verb = "Restored" if self.action == "rollback" else "Published"
        of = f", a translation of {self.translation_of}" if self.translation_of else ""
        return [
            f"{verb} {self.shop_id}'s policy ({self.language}) version {self.version}{was}{of}, "
            f"index v{self.index_version}.",
            *describe(self.diff),
            *(
                line
                for alignment in self.alignments
                # Section by section for the document itself; in one line for each of an
                # original's translations.
                for line in _alignment_lines(alignment, alignment.translation == self.document)
            ),
            *(f"Note: {warning}" for warning in self.warnings),
            *(self.coverage.check_lines() if self.coverage is not None else ()),
        ]

    def summary(self) -> dict[str, Any]:
        """What changed, as JSON: recorded with the change, and in every answer to it."""
        return {
            **self.diff.summary(),
            "version": self.version,
            "previous_version": self.previous_version,
            "warnings": list(self.warnings),
            "coverage": self.coverage.summary() if self.coverage else None,
            "translation_of": self.translation_of,
            "alignments": [alignment.summary() for alignment in self.alignments],
        }

    def report(self) -> dict[str, Any]:
        """The whole update as JSON, for the command lines' --json."""
        return {
            "shop": self.shop_id,
            "action": self.action,
            "language": self.language,
            "document": self.document,
            "index_version": self.index_version,
            "previous_index_version": self.previous_index_version,
            **self.summary(),
        }


def stale_example_notes(stale: dict[str, list[str]], shop_id: str) -> tuple[str, ...]:
    """A note for the shop's example questions whose answer the new text no longer holds:
    left out of the index until someone points them at the new wording."""
    questions = stale.get(shop_id, [])
    if not questions:
        return ()
    shown = "; ".join(repr(question) for question in questions[:3])
    more = f" and {len(questions) - 3} more" if len(questions) > 3 else ""
    return (
        f"{len(questions)} example question(s) no longer find their answer in the policy "
        f"and are left out until updated: {shown}{more}",
    )


def _alignment_lines(alignment: Alignment, sections: bool) -> list[str]:
    """A translation against its original: the sections paired (each, with `sections`),
    and a warning when the original has sections the translation lacks (out of date)."""
    paired, total = len(alignment.pairs), len(alignment.pairs) + len(alignment.missing)
    lines = [
        f"Translation {alignment.translation} of {alignment.original}: {paired} of the "
        f"original's {total} sections paired.",
        *(describe_alignment(alignment)[1:] if sections else ()),
    ]
    if alignment.missing:
        titles = ", ".join(repr(title) for title in alignment.missing)
        lines.append(
            f"Warning: {alignment.translation} is out of date: it has no counterpart of "
            f"{titles}; customers reading it are quoted the original there."
        )
    return lines


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    at: str
    action: Action
    language: str
    previous: dict[str, Any] | None  # the shop.toml entry before (None: there was none)
    current: dict[str, Any] | None  # the entry after (None: dropped)
    index_version: int
    previous_index_version: int | None
    undoes: int | None = None

    @staticmethod
    def entry(document: PolicyDocument | None) -> dict[str, Any] | None:
        return document.model_dump(mode="json") if document is not None else None

    @staticmethod
    def document(entry: dict[str, Any] | None) -> PolicyDocument | None:
        return PolicyDocument.model_validate(entry) if entry is not None else None


@contextlib.contextmanager
def policy_lock(index_dir: Path) -> Iterator[None]:
    """One policy change at a time per index folder, across processes (the build inside
    takes its own lock)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / POLICY_LOCK).open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_history(folder: Path) -> list[HistoryEntry]:
    path = folder / HISTORY_FILE
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return [HistoryEntry(**json.loads(line)) for line in handle if line.strip()]


def _append_history(folder: Path, entry: HistoryEntry) -> None:
    with (folder / HISTORY_FILE).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(entry), ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def load_policy_shop(settings: IndexerSettings, shop_id: str) -> Shop:
    folder = settings.knowledge_dir / shop_id
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,40}", shop_id) or not folder.is_dir():
        raise ShopNotFoundError(shop_id)
    return load_shop(folder)


def entry_for_language(shop: Shop, language: str) -> int | None:
    """The documents entry an upload in `language` replaces: the one written in it first,
    else one that contains it; None when the shop has no document in that language."""
    for index, document in enumerate(shop.documents):
        if document.languages[0] == language:
            return index
    for index, document in enumerate(shop.documents):
        if language in document.languages:
            return index
    return None


def _original_for(shop: Shop, named: str, replaced: int | None, filename: str) -> PolicyDocument:
    """The original document an upload's `translation_of` names: by its path, or by its
    language (the shop's original in it); TranslationOfError when it names none, the
    document the upload replaces (documents[replaced]) or a translation, or when that
    document is the original of others."""
    found = next((d for d in shop.documents if d.path == named), None)
    language = named.lower()
    if found is None and re.fullmatch(LANGUAGE_CODE, language):
        written = [d for d in shop.documents if d.languages[0] == language]
        holding = written + [d for d in shop.documents if language in d.languages[1:]]
        found = next((d for d in holding if d.translation_of is None), None) or next(
            iter(holding), None
        )
    if found is None:
        originals = ", ".join(
            f"{d.path} ({', '.join(d.languages)})"
            for d in shop.documents
            if d.translation_of is None
        )
        raise TranslationOfError(
            filename,
            f"translation_of: {named!r} is neither a document nor a language of {shop.id}'s "
            f"policy; name the original by its file or its language: {originals}",
        )
    if replaced is not None and found == shop.documents[replaced]:
        raise TranslationOfError(
            filename,
            f"translation_of: {named!r} names {found.path}, the very document this upload "
            "replaces; a translation is a document of its own, in another language",
        )
    if found.translation_of is not None:
        raise TranslationOfError(
            filename,
            f"translation_of: {found.path} is itself a translation (of "
            f"{found.translation_of}); name the original",
        )
    replacing = shop.documents[replaced].path if replaced is not None else None
    translated = _translations_of(list(shop.documents), replacing) if replacing else []
    if translated:
        raise TranslationOfError(
            filename,
            f"{replacing} is the original of "
            f"{', '.join(shop.documents[i].path for i in translated)}; a translation has no "
            "translations of its own",
        )
    return found


def _translations_of(documents: list[PolicyDocument], path: str) -> list[int]:
    """The entries that declare themselves translations of the document at `path`."""
    return [index for index, document in enumerate(documents) if document.translation_of == path]


def _relinked(
    documents: list[PolicyDocument], text: str, old_path: str, new_path: str
) -> tuple[list[PolicyDocument], str]:
    """The documents and shop.toml text with every translation of `old_path` naming
    `new_path` instead."""
    documents = list(documents)
    for index in _translations_of(documents, old_path):
        documents[index] = documents[index].model_copy(update={"translation_of": new_path})
        text = with_translation_of(text, index, documents[index])
    return documents, text


def _serving(settings: IndexerSettings) -> Manifest | None:
    try:
        return Manifest.read(current_version_dir(settings.index_dir))
    except IndexNotFoundError:
        return None


def _document_passages(
    settings: IndexerSettings, manifest: Manifest | None, shop_id: str, path: str
) -> list[Passage]:
    if manifest is None:
        return []
    folder = versions_dir(settings.index_dir) / manifest.name
    return [
        passage
        for passage in read_passages(folder / PASSAGES_FILE)
        if passage.shop_id == shop_id and passage.document == path
    ]


def _coverage(settings: IndexerSettings, manifest: Manifest, shop_id: str) -> PolicyCoverage | None:
    try:
        return version_coverage(settings.index_dir, manifest.name, shop_id)
    except ShopNotInIndexError:
        return None


def _next_version(previous: PolicyDocument | None, today: date) -> str:
    """Today's date; a second upload the same day is "<date>.2", and so on."""
    stamp = today.isoformat()
    if previous is None or not previous.version.startswith(stamp):
        return stamp
    _, _, count = previous.version.partition(stamp + ".")
    return f"{stamp}.{int(count) + 1 if count.isdigit() else 2}"


def _new_path(folder: Path, language: str, suffix: str, now: datetime) -> str:
    stem = f"policy-{language}-{now:%Y%m%dT%H%M%S}"
    name, count = f"{stem}{suffix}", 1
    while (folder / name).exists():
        count += 1
        name = f"{stem}-{count}{suffix}"
    return name


def _write_new_file(path: Path, data: bytes) -> None:
    draft = path.with_name(f".{path.name}.tmp")
    with draft.open("xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    draft.rename(path)


def add_policy(
    settings: IndexerSettings,
    embedder: Embedder,
    shop_id: str,
    language: str,
    filename: str,
    data: bytes,
    *,
    version: str | None = None,
    effective_date: date | None = None,
    now: datetime | None = None,
    translation_of: str | None = None,
    original: bool = False,
) -> PolicyUpdate:
    """Check, install, index and publish a new version of the shop's document in
    `language`; PolicyError (or a subclass) says why an upload was refused.

    `translation_of` (a document's path, or a language: the shop's original in it) makes
    the document a translation of that original; without it, a translation stays one, and
    `original` makes it an original of its own again (its text binds the shop)."""
    suffix = check_name_and_size(filename, len(data), settings.max_file_bytes)
    if original and translation_of is not None:
        raise PolicyError(filename, "a document is an original or a translation, not both")
    if version is not None and not VERSION_FORM.fullmatch(version):
        raise PolicyError(filename, "a version is 1-40 letters, digits, spaces or . : / + -")
    now = now or datetime.now(UTC)
    # Read before taking the lock that covers every shop: a slow PDF holds up nobody else.
    # (The shop first, so that a shop that does not exist or a broken shop.toml is said
    # before anything about the file.)
    load_policy_shop(settings, shop_id)
    loaded = read_upload(filename, data, language=language, settings=settings)
    with policy_lock(settings.index_dir):
        shop = load_policy_shop(settings, shop_id)
        index = entry_for_language(shop, language)
        old = shop.documents[index] if index is not None else None
        found = (
            _original_for(shop, translation_of, index, filename)
            if translation_of is not None
            else None
        )
        if original:
            original_path = None
        else:
            original_path = found.path if found else old.translation_of if old else None
        if (
            old is not None
            and original_path == old.translation_of
            and _file_hash(shop.folder / old.path) == hashlib.sha256(data).hexdigest()
        ):
            raise PolicyUnchangedError(filename, f"it is version {old.version}, published already")
        entry = PolicyDocument(
            path=_new_path(shop.folder, language, suffix, now),
            title=old.title if old else (found or shop.documents[0]).title,
            languages=list(old.languages) if old else [language],
            version=version or _next_version(old, now.date()),
            effective_date=effective_date or now.date(),
            translation_of=original_path,
        )
        checked = check_policy(
            filename,
            loaded,
            shop_id=shop.id,
            entry=entry,
            language=language,
            settings=settings,
            embedder=embedder,
        )
        serving = _serving(settings)
        before = _document_passages(settings, serving, shop.id, old.path) if old else []
        documents = list(shop.documents)
        if index is None:
            documents.append(entry)
        else:
            documents[index] = entry
        text_before = (shop.folder / SHOP_FILE).read_text(encoding="utf-8")
        text = with_document(text_before, index, entry)
        if old is not None and entry.translation_of is None:
            # The original's file is a new one: its translations must name it.
            documents, text = _relinked(documents, text, old.path, entry.path)
        target = shop.folder / entry.path
        _write_new_file(target, data)
        try:
            write_shop_file(shop.folder, text, documents)
            report = build_index(settings, embedder, force=True)
        except BaseException:
            restore_shop_file(shop.folder, text_before)
            target.unlink(missing_ok=True)
            raise
        manifest = report.manifest
        update = PolicyUpdate(
            shop_id=shop.id,
            action="upload",
            language=language,
            document=entry.path,
            version=entry.version,
            previous_version=old.version if old else None,
            index_version=manifest.version,
            previous_index_version=serving.version if serving else None,
            diff=diff_passages(before, checked.passages),
            warnings=(*checked.warnings, *stale_example_notes(report.stale_examples, shop.id)),
            coverage=_coverage(settings, manifest, shop.id),
            translation_of=entry.translation_of,
            alignments=tuple(
                alignment
                for alignment in report.alignments
                if alignment.shop == shop.id
                and entry.path in (alignment.translation, alignment.original)
            ),
        )
        _append_history(
            shop.folder,
            HistoryEntry(
                id=len(read_history(shop.folder)) + 1,
                at=now.isoformat(timespec="seconds"),
                action="upload",
                language=language,
                previous=HistoryEntry.entry(old),
                current=HistoryEntry.entry(entry),
                index_version=update.index_version,
                previous_index_version=update.previous_index_version,
            ),
        )
        return update


def _latest_upload(history: list[HistoryEntry]) -> HistoryEntry | None:
    """The newest upload not yet rolled back: rollbacks unwind uploads like a stack."""
    undone = {entry.undoes for entry in history if entry.action == "rollback"}
    for entry in reversed(history):
        if entry.action == "upload" and entry.id not in undone:
            return entry
    return None


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _switch_back(
    settings: IndexerSettings,
    serving: Manifest | None,
    upload: HistoryEntry,
    shop: Shop,
    previous: PolicyDocument | None,
    model_id: str,
) -> Manifest | None:
    """Serve the version from before the upload again, if it is exactly what the restored
    knowledge folder would build (nothing else was published since); else None."""
    if serving is None or upload.previous_index_version is None:
        return None
    if serving.version != upload.index_version:
        return None
    try:
        older = Manifest.read(
            versions_dir(settings.index_dir) / version_name(upload.previous_index_version)
        )
    except (OSError, ValueError, TypeError):
        return None
    current = HistoryEntry.document(upload.current)
    expected = dict(serving.documents)
    if current is not None:
        expected.pop(f"{shop.id}/{current.path}", None)
    if previous is not None:
        expected[f"{shop.id}/{previous.path}"] = _file_hash(shop.folder / previous.path)
    passage_settings = {
        "passage_max_chars": settings.passage_max_chars,
        "passage_overlap_sentences": settings.passage_overlap_sentences,
    }
    if (
        older.documents != expected
        or older.model_id != model_id
        or older.settings != passage_settings
    ):
        return None
    with build_lock(settings.index_dir):
        switch_current(settings.index_dir, older.name)
    return older


def rollback_policy(
    settings: IndexerSettings, embedder: Embedder, shop_id: str, *, now: datetime | None = None
) -> PolicyUpdate:
    """Undo the shop's latest upload: its shop.toml entry as it was, and an index that
    serves it. NothingToRollBackError when every upload was undone already."""
    now = now or datetime.now(UTC)
    with policy_lock(settings.index_dir):
        shop = load_policy_shop(settings, shop_id)
        history = read_history(shop.folder)
        upload = _latest_upload(history)
        if upload is None:
            raise NothingToRollBackError(shop_id)
        current = HistoryEntry.document(upload.current)
        previous = HistoryEntry.document(upload.previous)
        manifest_path = shop.folder / SHOP_FILE
        index = next((i for i, d in enumerate(shop.documents) if d == current), None)
        if current is None or index is None:
            raise PolicyError(
                manifest_path,
                "its documents no longer list the upload to roll back; shop.toml was edited "
                "by hand since, so restore the entry by hand too",
            )
        if previous is not None and not (shop.folder / previous.path).is_file():
            raise PolicyError(shop.folder / previous.path, "the previous file is gone")
        translated = _translations_of(list(shop.documents), current.path)
        if translated and (previous is None or previous.translation_of is not None):
            raise PolicyError(
                manifest_path,
                f"{', '.join(shop.documents[i].path for i in translated)} translate "
                f"{current.path}, which the rollback would make no original; roll back or "
                "edit them first",
            )
        documents = list(shop.documents)
        if previous is not None:
            documents[index] = previous
        else:
            del documents[index]
        serving = _serving(settings)
        before = _document_passages(settings, serving, shop.id, current.path)
        text_before = manifest_path.read_text(encoding="utf-8")
        text = with_document(text_before, index, previous)
        if previous is not None:
            # The upload pointed the original's translations at its file: back they go.
            documents, text = _relinked(documents, text, current.path, previous.path)
        write_shop_file(shop.folder, text, documents)
        try:
            manifest = (
                _switch_back(settings, serving, upload, shop, previous, embedder.model_id)
                or build_index(settings, embedder, force=True).manifest
            )
        except BaseException:
            restore_shop_file(shop.folder, text_before)
            raise
        after = _document_passages(settings, manifest, shop.id, previous.path) if previous else []
        update = PolicyUpdate(
            shop_id=shop.id,
            action="rollback",
            language=upload.language,
            document=previous.path if previous else "",
            version=previous.version if previous else "",
            previous_version=current.version,
            index_version=manifest.version,
            previous_index_version=serving.version if serving else None,
            diff=diff_passages(before, after),
            coverage=_coverage(settings, manifest, shop.id),
            translation_of=previous.translation_of if previous else None,
        )
        _append_history(
            shop.folder,
            HistoryEntry(
                id=len(history) + 1,
                at=now.isoformat(timespec="seconds"),
                action="rollback",
                language=upload.language,
                previous=upload.current,
                current=upload.previous,
                index_version=update.index_version,
                previous_index_version=update.previous_index_version,
                undoes=upload.id,
            ),
        )
        return update
