"""The concurrency suite runs on PostgreSQL: SQLite's one pooled connection hides races.
Every test gets the session's migrated database with its tables emptied."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from backend.database import Database
from tests.backend.conftest import (  # noqa: F401  (fixtures shared with the backend tests)
    empty_postgres_tables,
    fresh_postgres_database,
    mailbox,
    migrated_postgres,
)


@pytest.fixture
async def pg(migrated_postgres: str) -> AsyncIterator[Database]:  # noqa: F811
    database = Database(migrated_postgres)
    await empty_postgres_tables(database)
    try:
        yield database
    finally:
        await database.dispose()
