"""Shared test set-up: optional backends skip on a user's machine, and fail in CI.

`.ci/run` sets REQUIRE_OPTIONAL_BACKENDS=1, which turns every "not available" skip of
PostgreSQL, Redis or sentence-transformers into a failure.
"""

from __future__ import annotations

import os

import pytest


def optional_backend_missing(what: str) -> None:
    """Skip the test, or fail it where the backend is mandatory (CI)."""
    if os.environ.get("REQUIRE_OPTIONAL_BACKENDS") == "1":
        pytest.fail(f"{what} is required here (REQUIRE_OPTIONAL_BACKENDS=1) but not available")
    pytest.skip(f"{what} not available")
