"""Alembic's entry point: runs the migrations on the async engine of this package.

The URL is the one the caller put into the config (`Database.migrate`, tests), else
DATABASE_URL through `BackendSettings`, so that `alembic upgrade head` from the
repository root migrates the same database the assistant uses.
"""

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from backend.database import async_driver_url
from backend.models import UTCDateTime  # also registers the tables on SQLModel.metadata
from backend.settings import BackendSettings

config = context.config
target_metadata = SQLModel.metadata

# Only the alembic command line has an ini file; a program that migrates keeps its logging.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    return async_driver_url(url) if url else BackendSettings().database_url


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # A migration must not import the models it froze: write the plain type instead.
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters a table by rebuilding it.
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
    )


# Replicas starting together each run the migrations: on PostgreSQL they take turns
# (a transaction-scoped advisory lock), and the later ones find nothing left to do.
MIGRATION_LOCK = 0x7072_6976_6163_7921  # "privacy!"


def run_on(connection: Connection) -> None:
    configure(connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def run_online() -> None:
    # A plain engine, not `Database`'s: SQLite must not enforce foreign keys while a
    # batch migration drops and rebuilds a table.
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


def run_offline() -> None:
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
