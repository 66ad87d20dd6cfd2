"""The "index changed" signal between app processes: PostgreSQL NOTIFY on the shared
database, and Redis pub/sub when REDIS_URL is set.

A signal only says "look at CURRENT now": the index folder stays the truth, so a lost
signal costs no more than the follower's next poll, and a duplicate costs one cheap
pointer read. The payload is the published version, for the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.engine import make_url

from backend.database import Database

INDEX_CHANNEL = "policy_index"
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)

log = logging.getLogger(__name__)

Wake = Callable[[str], None]


class SignalSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    # redis://host:6379/0; unset, processes learn of a new index through PostgreSQL (when
    # the database is PostgreSQL) and by polling the index folder.
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def asyncpg_dsn(database_url: str) -> str:
    """The database's URL as asyncpg takes it (without SQLAlchemy's driver name)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


async def send_index_signal(database: Database, version: int, redis_url: str | None) -> None:
    """Tell the other processes that index `version` was published; never raises, since
    the publish itself already succeeded and polling catches up anyway."""
    if database.engine.dialect.name == "postgresql":
        try:
            async with database.engine.begin() as connection:
                await connection.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": INDEX_CHANNEL, "payload": str(version)},
                )
        except Exception as exc:
            log.warning("could not NOTIFY %s: %s", INDEX_CHANNEL, type(exc).__name__)
    if redis_url:
        try:
            import redis.asyncio as redis

            client = redis.from_url(redis_url)
            try:
                await client.publish(INDEX_CHANNEL, str(version))
            finally:
                await client.aclose()
        except Exception as exc:
            log.warning("could not publish to Redis %s: %s", INDEX_CHANNEL, type(exc).__name__)


CLOSE_SECONDS = 2.0


async def _reconnecting(name: str, listen_once: Callable[[], Awaitable[None]]) -> None:
    """Run a listener for good: after a lost connection, again, with growing pauses."""
    attempt = 0
    while True:
        try:
            await listen_once()
            attempt = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s listener lost (%s); reconnecting", name, type(exc).__name__)
        await asyncio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
        attempt += 1


async def listen_postgres(
    database_url: str, wake: Wake, ready: asyncio.Event | None = None
) -> None:
    """LISTEN on the channel until cancelled; `wake` gets each payload. On every
    (re)connection `wake` is called too: a signal may have been missed meanwhile."""
    import asyncpg  # type: ignore[import-untyped]

    async def once() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
        lost = asyncio.Event()
        try:
            await connection.add_listener(
                INDEX_CHANNEL, lambda _conn, _pid, _channel, payload: wake(str(payload))
            )
            connection.add_termination_listener(lambda _conn: lost.set())
            wake("listening")
            if ready is not None:
                ready.set()
            while not lost.is_set() and not connection.is_closed():
                # asyncpg notices a dead server only when it talks to it.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=30)
                if not lost.is_set():
                    await connection.execute("SELECT 1")
        finally:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)

    await _reconnecting("PostgreSQL", once)


async def listen_redis(redis_url: str, wake: Wake, ready: asyncio.Event | None = None) -> None:
    """SUBSCRIBE to the channel until cancelled; `wake` gets each payload."""
    import redis.asyncio as redis

    async def once() -> None:
        client = redis.from_url(redis_url, health_check_interval=30)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(INDEX_CHANNEL)
            wake("listening")
            if ready is not None:
                ready.set()
            async for message in pubsub.listen():
                data = message.get("data")
                wake(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            # Bounded: cancelled mid-subscribe, redis-py's close can wait for good on the
            # connection the cancelled call held, and the process would never stop.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), CLOSE_SECONDS)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), CLOSE_SECONDS)

    await _reconnecting("Redis", once)
