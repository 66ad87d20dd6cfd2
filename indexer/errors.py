"""Errors the indexer reports to the people who feed it policies."""

from __future__ import annotations

from pathlib import Path


class PolicyError(Exception):
    """A knowledge-base input is unusable; the message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class IndexNotFoundError(Exception):
    """No published index exists yet in the index folder."""
