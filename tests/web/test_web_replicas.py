"""Two replicas on one PostgreSQL database and one Redis: a visitor's tabs on both see one
conversation, messages sent at once from both are each taken and answered once, in one
order, and whatever one replica sends (an operator's reply, a notice) reaches a socket the
other holds."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from backend.database import Database
from bot.web.settings import WebChatSettings
from bot.web.visitors import COOKIE_NAME
from tests.backend.conftest import (
    empty_postgres_tables,
    migrated_postgres,  # noqa: F401  (the session's database)
)
from tests.support.web_visitor import WebVisitor
from tests.web.conftest import WebChat, web_chat_running

QUESTIONS = [
    "Do you sell my data?",
    "How long do you keep my personal data?",
    "Which cookies do you use?",
    "Who is your data protection officer?",
    "Can I get a copy of my data?",
    "Do you send my data outside the EU?",
]


@contextlib.asynccontextmanager
async def tabs_on_two_replicas(
    tmp_path: Path,
    corpus_index: Path,
    database_url: str,
    redis_url: str,
    *,
    address: str | None = None,
    **settings: Any,
) -> AsyncIterator[tuple[WebChat, WebChat, WebVisitor, WebVisitor]]:
    """Two replicas on the emptied PostgreSQL database and Redis, and one visitor with a
    tab open on each (from `address` on loopback when given): first, second, here, there."""
    database = Database(database_url)
    await empty_postgres_tables(database)
    await database.dispose()
    common = {"database_url": database_url, "redis_url": redis_url, **settings}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        web_chat_running(tmp_path / "a", corpus_index, **common) as first,
        web_chat_running(tmp_path / "b", corpus_index, **common) as second,
    ):
        jar = aiohttp.CookieJar(
            unsafe=True, treat_as_secure_origin=[URL(first.base_url), URL(second.base_url)]
        )
        connector = aiohttp.TCPConnector(local_addr=(address, 0)) if address else None
        async with aiohttp.ClientSession(cookie_jar=jar, connector=connector) as session:
            here = WebVisitor(first.base_url, "webstore", session=session)
            await here.open_page()
            there = WebVisitor(second.base_url, "webstore", session=session)
            for tab in (here, there):
                await tab.connect()
                await tab.wait(tab.ready.is_set)
            try:
                yield first, second, here, there
            finally:
                for tab in (here, there):
                    await tab.disconnect()


async def test_tabs_on_two_replicas_share_one_conversation(
    tmp_path: Path,
    corpus_index: Path,
    redis_url: str,
    migrated_postgres: str,  # noqa: F811
) -> None:
    async with tabs_on_two_replicas(
        tmp_path, corpus_index, migrated_postgres, redis_url, throttle_messages=1000
    ) as (first, second, here, there):
        # One welcome, however many tabs open at once.
        await here.next_bot_message(0)
        await there.next_bot_message(0)

        # Both tabs send at once: every message is echoed once and answered once.
        await asyncio.gather(
            *(
                (here if number % 2 else there).send_frame(
                    {"type": "message", "text": question, "nonce": f"q{number}"}
                )
                for number, question in enumerate(QUESTIONS)
            )
        )

        def settled(tab: WebVisitor) -> bool:
            customer = [e for e in tab.events if e.get("from") == "customer"]
            return len(customer) == len(QUESTIONS) and len(tab.bot_messages()) >= 1 + len(QUESTIONS)

        await here.wait(lambda: settled(here), seconds=60)
        await there.wait(lambda: settled(there) and there.last_seq == here.last_seq, 60)
        assert here.events == there.events
        numbers = [event["seq"] for event in here.events]
        assert numbers == list(range(1, len(numbers) + 1))
        nonces = [e["nonce"] for e in here.events if e.get("from") == "customer"]
        assert sorted(nonces) == sorted(f"q{number}" for number in range(len(QUESTIONS)))
        # Each question answered once (the chat's updates are handled one at a time,
        # across replicas): the welcome and one answer per question, nothing more.
        await asyncio.sleep(0.5)
        assert len(here.bot_messages()) == 1 + len(QUESTIONS)

        # Sent by the replica that holds no socket of this visitor (as the hand-off
        # relay does when an operator's reply reaches that replica): shown live.
        cookie = next(c.value for c in here.session.cookie_jar if c.key == COOKIE_NAME)
        chat_id = first.door.cookies.chat_id(first.door.cookies.visitor(cookie) or "", "webstore")
        await there.disconnect()
        before = here.last_seq
        assert second.door.bot is not None
        await second.door.bot.send_message(chat_id, "Olga from the shop: found it!")
        reply = await here.next_bot_message(before)
        assert reply["html"] == "Olga from the shop: found it!"
        # The tab that was away catches up from Redis, on the other replica.
        await there.connect()
        await there.wait(lambda: there.last_seq == here.last_seq)
        assert there.events == here.events


async def test_an_address_meets_one_limit_across_replicas(
    tmp_path: Path,
    corpus_index: Path,
    redis_url: str,
    migrated_postgres: str,  # noqa: F811
) -> None:
    # An address of its own on loopback, so that no other test's frames count here.
    address = (
        f"127.{random.randrange(1, 255)}.{random.randrange(1, 255)}.{random.randrange(2, 255)}"
    )
    limits = WebChatSettings(frames_per_address=4, frames_window_seconds=60)
    async with tabs_on_two_replicas(
        tmp_path, corpus_index, migrated_postgres, redis_url, address=address, web=limits
    ) as (_first, _second, here, there):
        for number in range(3):
            for tab in (here, there):
                await tab.send_frame(
                    {
                        "type": "message",
                        "text": f"hello {number}",
                        "nonce": f"{tab.base_url}{number}",
                    }
                )

        def refused() -> int:
            return sum(
                f.get("reason") == "too_fast" for tab in (here, there) for f in tab.transient
            )

        def taken() -> int:
            return len([e for e in here.events if e.get("from") == "customer"])

        async with asyncio.timeout(30):
            while refused() < 2 or taken() < 4:  # noqa: ASYNC110 (frames of two sockets)
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert (refused(), taken()) == (2, 4)
