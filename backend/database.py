"""The database: one async engine and its sessions, and the migrations that shape it."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Deployment platforms hand out URLs without a driver; the engine needs the async one.
_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def async_driver_url(url: str) -> str:
    """`url` with the async driver this package uses, when it names none."""
    scheme, separator, rest = url.partition("://")
    if separator and scheme in _ASYNC_DRIVERS:
        return f"{_ASYNC_DRIVERS[scheme]}://{rest}"
    return url


class Database:
    """An async engine on `url` (SQLite file or PostgreSQL) and the sessions over it."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = async_driver_url(url)
        options: dict[str, Any] = {}
        if make_url(self.url).get_backend_name() == "sqlite":
            # SQLite takes one writer at a time. Several pooled connections writing at once
            # make it busy-wait, unfairly: under load one waits past its timeout and the
            # customer gets an error. One connection queues the sessions, in order, in the
            # pool instead. A deployment under real load runs on PostgreSQL.
            options = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60}
        self.engine: AsyncEngine = create_async_engine(self.url, echo=echo, **options)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _configure_sqlite_connection)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends normally, rolled back otherwise."""
        async with self._sessions.begin() as session:
            yield session

    async def migrate(self) -> None:
        """Bring the schema up to the newest migration."""
        # Alembic is synchronous and its env.py runs its own event loop: a worker thread
        # keeps both away from the caller's loop.
        await asyncio.to_thread(upgrade_to_head, self.url)

    async def dispose(self) -> None:
        await self.engine.dispose()


def upgrade_to_head(url: str) -> None:
    """Run every pending migration against `url` (blocking)."""
    parsed = make_url(async_driver_url(url))
    sqlite_file = _sqlite_file(parsed)
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(parsed), "head")


def alembic_config(url: str | URL) -> Config:
    """Alembic's configuration for `url`, independent of any alembic.ini on disk."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    # `%` would be read as interpolation by configparser; a password may contain it.
    rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.query.get("uri") in ("true", "1") or str(url.database).startswith("file:"):
        return None
    return Path(str(url.database))


def _configure_sqlite_connection(connection: Any, _record: Any) -> None:
    # WAL lets the bot read while a write is in progress; SQLite enforces foreign keys
    # only when asked to, on every connection.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def advisory_lock_key(name: str) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for `name`, the same in every process."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def lock_for_transaction(session: AsyncSession, name: str) -> None:
    """Wait until no other transaction holds the lock `name`, and hold it until this one
    ends: for work that reads, decides and inserts, where no row exists yet to lock.
    SQLite needs none: its one pooled connection runs one transaction at a time."""
    if session.get_bind().dialect.name == "postgresql":
        connection = await session.connection()
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_lock_key(name)}
        )


def insert_for(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT in the dialect of `session`'s database, so that the caller can add
    ON CONFLICT: one statement instead of read-then-write, which two callers racing on
    the same key would both pass."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no INSERT ... ON CONFLICT for {dialect}")
