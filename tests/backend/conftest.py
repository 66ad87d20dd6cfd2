"""Every backend test runs on a SQLite file and on PostgreSQL.

PostgreSQL is the one at 127.0.0.1:5432 (trust auth, user `postgres`, database `test`);
this session gets its own database there, dropped at the end, so runs never collide.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from backend.database import Database, upgrade_to_head
from backend.privacy_requests import SmtpMailSender, SmtpSettings
from tests.backend.privacy_requests_support import ConsoleMailbox
from tests.conftest import optional_backend_missing
from tests.support.mail_server import HOLDING_CLIENT_TIMEOUT, Mailbox, mail_server

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
SQLITE = "sqlite"
POSTGRES = pytest.param("postgresql", marks=pytest.mark.postgres)


async def _on_postgres_server(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(f"{POSTGRES_SERVER}/test", timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for as long as the block runs; its async URL."""
    try:
        import asyncpg
    except ImportError:
        optional_backend_missing("PostgreSQL (asyncpg is not installed)")
    name = f"test_backend_{secrets.token_hex(6)}"
    try:
        asyncio.run(_on_postgres_server(f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        optional_backend_missing(f"PostgreSQL at {POSTGRES_SERVER}/test ({exc})")
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_on_postgres_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    """One migrated PostgreSQL database for the session (tests empty its tables)."""
    with fresh_postgres_database() as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture(params=[SQLITE, POSTGRES])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database no migration has touched yet (a SQLite file not yet there)."""
    if request.param == SQLITE:
        yield f"sqlite+aiosqlite:///{tmp_path / 'not-yet' / 'assistant.sqlite3'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture(params=[SQLITE, POSTGRES])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite: a file no migration has touched yet; PostgreSQL: the session's database."""
    if request.param == SQLITE:
        return f"sqlite+aiosqlite:///{tmp_path / 'assistant.sqlite3'}"
    # Set up here, outside the event loop: creating it runs a loop of its own.
    url: str = request.getfixturevalue("migrated_postgres")
    return url


async def empty_postgres_tables(database: Database) -> None:
    """Every table of the session's PostgreSQL database emptied, ids restarted."""
    async with database.engine.begin() as connection:
        await connection.exec_driver_sql(
            "TRUNCATE customer_profile, conversation_record, webhook_delivery, outbox_event, "
            "webhook_endpoint, inbound_webhook_id, api_key, idempotency_record, customer_notice, "
            "access_export, support_topic, handoff, relayed_message, support_outbox, canned_reply, "
            "staff_member, policy_subscription, policy_change, request_card, "
            "privacy_request, privacy_audit_event, suppression_entry, verification_challenge "
            "RESTART IDENTITY CASCADE"
        )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database with empty tables."""
    database = Database(database_url)
    if database.engine.dialect.name == "sqlite":
        await database.migrate()
    else:
        await empty_postgres_tables(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def mailbox() -> ConsoleMailbox:
    """One-time codes and notices mailed to the console, read back by the test."""
    return ConsoleMailbox()


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on loopback (aiosmtpd) and its port."""
    with mail_server() as running:
        yield running


@pytest.fixture
def inbox(smtp_server: tuple[Mailbox, int]) -> Mailbox:
    return smtp_server[0]


@pytest.fixture
def smtp(smtp_server: tuple[Mailbox, int]) -> SmtpMailSender:
    """Mail to `smtp_server`, waiting for it longer than it holds a message."""
    return SmtpMailSender(
        SmtpSettings(
            host="127.0.0.1",
            port=smtp_server[1],
            security="none",
            from_address="privacy@shop.test",
            timeout_seconds=HOLDING_CLIENT_TIMEOUT,
        )
    )
