"""The schema comes from the migrations alone, and matches the models exactly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from backend.database import Database, alembic_config
from backend.settings import PROJECT_ROOT

TABLES = {
    "alembic_version",
    "customer_profile",
    "conversation_record",
    "privacy_request",
    "privacy_audit_event",
    "suppression_entry",
    "verification_challenge",
    "webhook_endpoint",
    "outbox_event",
    "webhook_delivery",
    "inbound_webhook_id",
    "api_key",
    "idempotency_record",
    "access_export",
    "customer_notice",
    "support_topic",
    "handoff",
    "relayed_message",
    "support_outbox",
    "canned_reply",
    "staff_member",
    "policy_subscription",
    "policy_change",
    "request_card",
}
HEAD = "0005"


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences: list[Any] = compare_metadata(context, SQLModel.metadata)
    return differences


async def test_migrate_creates_the_tables_on_a_new_database(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        await database.migrate()
        await database.migrate()  # a second run finds nothing to do
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_tables) == TABLES
            assert await connection.run_sync(_revision) == HEAD
    finally:
        await database.dispose()


async def test_models_and_migrated_schema_do_not_differ(db: Database) -> None:
    async with db.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_downgrade_to_nothing_and_back(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        await database.migrate()
        config = alembic_config(database.url)
        await asyncio.to_thread(command.downgrade, config, "base")
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_tables) == {"alembic_version"}
        await database.migrate()
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await database.dispose()


def test_migrate_command_on_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "assistant.sqlite3"
    result = subprocess.run(
        [sys.executable, "-m", "backend", "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            "DATABASE_URL": f"sqlite:///{path}",
            "PSEUDONYM_KEY": "k" * 64,
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and HEAD in result.stdout
    assert path.is_file()


@pytest.mark.postgres
def test_replicas_migrating_at_once_take_turns(tmp_path: Path) -> None:
    """Four `python -m backend migrate` processes on one new PostgreSQL database at the same
    moment (replicas starting together): the advisory lock lets one create the schema and
    the others find it done."""
    from tests.backend.conftest import fresh_postgres_database

    with fresh_postgres_database() as url:
        env = {**os.environ, "DATABASE_URL": url, "PSEUDONYM_KEY": "k" * 40}
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "backend", "migrate"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [run.communicate(timeout=120)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0, 0], outputs
        database = Database(url)

        async def check() -> tuple[set[str], str | None]:
            try:
                async with database.engine.connect() as connection:
                    return (
                        await connection.run_sync(_tables),
                        await connection.run_sync(_revision),
                    )
            finally:
                await database.dispose()

        assert asyncio.run(check()) == (TABLES, HEAD)
