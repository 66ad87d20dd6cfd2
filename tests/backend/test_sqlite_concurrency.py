"""Many customers at once on the embedded SQLite database: no "database is locked"."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import func, select

from backend.conversation_log import record_question
from backend.database import Database
from backend.models import ConversationRecord


async def test_concurrent_writers_all_succeed(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'busy.sqlite3'}")
    await database.migrate()

    async def customer(number: int) -> None:
        for question in range(5):
            async with database.session() as session:
                await record_question(
                    session,
                    pseudonym=f"{number:064d}",
                    shop_id="webstore",
                    question=f"question {question}",
                    language="en",
                    intent="question",
                    passage_key=None,
                    section=None,
                    confidence=0.9,
                    answered=True,
                    index_version=1,
                )

    try:
        await asyncio.gather(*(customer(n) for n in range(40)))
        async with database.session() as session:
            count = await session.scalar(select(func.count()).select_from(ConversationRecord))
        assert count == 200
    finally:
        await database.dispose()
