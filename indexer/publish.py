"""Versioned index folders with a manifest, switched into service atomically.

Layout of the index folder::

    CURRENT                 the name of the version being served, replaced atomically
    versions/v000007/       one complete index: manifest.json, passages.jsonl, *.npy
    versions/.building-*/   a build in progress; never read, removed if the build fails
    embedding-cache.sqlite3 passage vectors by (model, text hash)

A build writes everything into a `.building-*` folder, renames it to its version, and only
then replaces CURRENT, so a failed or interrupted build never touches what is served.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from indexer.errors import IndexNotFoundError

CURRENT = "CURRENT"
VERSIONS = "versions"
MANIFEST = "manifest.json"
KEEP_VERSIONS = 5


@dataclass(frozen=True)
class Manifest:
    version: int
    created_at: str
    model_id: str
    dimension: int
    corpus_hash: str
    documents: dict[str, str]  # "shop/document" -> sha256 of the raw file
    passage_count: int
    sentence_count: int
    shops: dict[str, int]  # shop id -> passages
    settings: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> shop id
    embedded: int = 0  # passages and sentences embedded by this build (not from the cache)

    @property
    def name(self) -> str:
        return version_name(self.version)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, sort_keys=True)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        return cls(**json.loads((folder / MANIFEST).read_text(encoding="utf-8")))


def version_name(version: int) -> str:
    return f"v{version:06d}"


def versions_dir(index_dir: Path) -> Path:
    return index_dir / VERSIONS


def current_version_dir(index_dir: Path) -> Path:
    """The folder being served; IndexNotFoundError if nothing was ever published."""
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexNotFoundError(
            f"no index published in {index_dir}; run `python -m indexer build`"
        ) from None
    folder = versions_dir(index_dir) / name
    if not (folder / MANIFEST).is_file():
        raise IndexNotFoundError(f"{pointer} names {name!r}, which has no manifest")
    return folder


def published_versions(index_dir: Path) -> list[int]:
    folder = versions_dir(index_dir)
    if not folder.is_dir():
        return []
    return sorted(
        int(entry.name[1:])
        for entry in folder.iterdir()
        if entry.name.startswith("v") and entry.name[1:].isdigit() and (entry / MANIFEST).is_file()
    )


def next_version(index_dir: Path) -> int:
    return max(published_versions(index_dir), default=0) + 1


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index folder, also across processes."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".build.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def staging_folder(index_dir: Path) -> Iterator[Path]:
    """A fresh folder to build into; removed unless `publish` moved it into place."""
    root = versions_dir(index_dir)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def switch_current(index_dir: Path, name: str) -> None:
    """Point CURRENT at an existing version; readers see the old or the new name, never half."""
    if not (versions_dir(index_dir) / name / MANIFEST).is_file():
        raise IndexNotFoundError(f"version {name} is not published in {index_dir}")
    pointer_tmp = index_dir / f".{CURRENT}.{os.getpid()}"
    pointer_tmp.write_text(name + "\n", encoding="utf-8")
    pointer_tmp.replace(index_dir / CURRENT)


def publish(index_dir: Path, staging: Path, manifest: Manifest) -> Path:
    """Seal a staged build as `manifest.version` and serve it."""
    (staging / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    _fsync_tree(staging)
    final = versions_dir(index_dir) / manifest.name
    staging.rename(final)
    switch_current(index_dir, manifest.name)
    _prune(index_dir, keep=manifest.version)
    return final


def _prune(index_dir: Path, keep: int) -> None:
    """Keep the newest few versions, so an admin can roll back."""
    for version in published_versions(index_dir)[:-KEEP_VERSIONS]:
        if version != keep:
            shutil.rmtree(versions_dir(index_dir) / version_name(version), ignore_errors=True)
