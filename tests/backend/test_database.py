"""The unit of work and the SQLite connection set-up."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from backend.conversation_log import purge_expired
from backend.database import Database


async def test_sqlite_connections_use_wal_and_enforce_foreign_keys(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'assistant.sqlite3'}")
    try:
        async with database.engine.connect() as connection:
            journal = await connection.exec_driver_sql("PRAGMA journal_mode")
            assert journal.scalar() == "wal"
            foreign_keys = await connection.exec_driver_sql("PRAGMA foreign_keys")
            assert foreign_keys.scalar() == 1
    finally:
        await database.dispose()


async def test_a_naive_time_is_refused(db: Database) -> None:
    async with db.session() as session:
        with pytest.raises(ValueError, match="naive"):
            await purge_expired(session, datetime(2026, 1, 1), retention_days=30)
