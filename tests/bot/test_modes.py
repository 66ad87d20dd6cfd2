"""Webhook mode, the local terminal chat, outgoing pacing and the retention purge."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from backend.conversation_log import record_question
from backend.database import Database
from backend.models import ConversationRecord
from bot.dispatcher import build_dispatcher
from bot.i18n import create_i18n
from bot.local_chat import LocalChat, TerminalSession
from bot.outgoing import TokenBucket
from tests.bot.conftest import assistant_running, webhook_assistant


async def test_webhook_mode_sets_the_webhook_and_refuses_forged_updates(
    tmp_path: Path, corpus_index: Path
) -> None:
    async with webhook_assistant(tmp_path, corpus_index) as (assistant, url):
        settings = assistant.services.settings
        [call] = await assistant.fake.wait_for("setWebhook")
        assert call.params["url"] == url
        assert call.params["secret_token"] == settings.secret_token()
        fake = assistant.fake
        status = await fake.deliver_webhook(fake.message_update("/start webstore"))
        assert status == 200
        [reply] = await fake.wait_for("sendMessage")
        assert "Online Store" in reply.params["text"]
        # An update without the right secret header is refused and never handled.
        fake.webhook = {**(fake.webhook or {}), "secret_token": "forged"}
        forged = await fake.deliver_webhook(fake.message_update("/help"))
        assert forged == 401
        await asyncio.sleep(0.3)
        assert len(fake.calls_to("sendMessage")) == 1


async def test_local_chat_runs_the_same_dispatcher(tmp_path: Path, corpus_index: Path) -> None:
    async with assistant_running(tmp_path, corpus_index, polling=False) as assistant:
        dispatcher = build_dispatcher(assistant.services, create_i18n(tmp_path / "local-locales"))
        out = io.StringIO()
        chat = LocalChat(dispatcher, TerminalSession(out), language="en")
        lines = iter(["How long do you keep my data?", "2", "what do brake pads cost?", "/quit"])
        await chat.run(lambda: next(lines), start_payload="webstore")
        shown = out.getvalue()
    assert "Online Store" in shown  # the greeting of /start webstore
    assert "Data retention" in shown and "  │ " in shown  # a quote, indented
    assert "[2] 👍 Helpful" in shown and "(Thank you for the feedback!)" in shown
    assert "could not find this" in shown
    assert "<b>" not in shown  # HTML is rendered for the terminal


def test_token_bucket_allows_a_burst_then_asks_to_wait() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    assert [bucket.wait_time() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.wait_time() > 0


async def test_sending_limits_pace_a_chat_without_losing_messages(
    tmp_path: Path, corpus_index: Path
) -> None:
    async with assistant_running(tmp_path, corpus_index, limits=True) as assistant:
        for _ in range(5):
            await assistant.bot.send_message(1001, "hello")
        calls = assistant.fake.calls_to("sendMessage")
        assert len(calls) == 5 and all(call.ok for call in calls)
        # A burst of three goes at once; the rest waited for the per-chat bucket.
        assert calls[3].at - calls[0].at > 0.5


async def test_expired_conversation_records_are_purged(tmp_path: Path, corpus_index: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'assistant.sqlite3'}")
    await database.migrate()
    async with database.session() as session:
        for days in (40, 2):
            await record_question(
                session,
                pseudonym="p" * 64,
                shop_id="webstore",
                question="q",
                language="en",
                intent="question",
                passage_key=None,
                section=None,
                confidence=0.9,
                answered=True,
                index_version=1,
                asked_at=datetime.now(UTC) - timedelta(days=days),
            )
    await database.dispose()
    async with assistant_running(tmp_path, corpus_index, polling=False) as assistant:
        await asyncio.sleep(0.5)  # the purge job runs at start, then hourly
        async with assistant.services.database.session() as session:
            left = (await session.exec(select(ConversationRecord))).all()
    assert len(left) == 1


async def test_a_newly_published_policy_is_answered_without_a_restart(
    tmp_path: Path, embedder: object
) -> None:
    import shutil

    from indexer.build import build_index
    from indexer.settings import IndexerSettings
    from tests.conftest import KNOWLEDGE

    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE / "webstore", knowledge / "webstore")
    settings = IndexerSettings(knowledge_dir=knowledge, index_dir=tmp_path / "index")
    build_index(settings, embedder)  # type: ignore[arg-type]
    async with assistant_running(
        tmp_path, settings.index_dir, knowledge=knowledge, index_check_seconds=0.2
    ) as assistant:
        before = await assistant.say("Do you have a data protection officer I can write to?")
        assert "Data Protection Officer" not in before.params["text"]
        policy = knowledge / "webstore" / "privacy-policy.txt"
        policy.write_text(
            policy.read_text(encoding="utf-8")
            + "\n\nData Protection Officer\n\nOur Data Protection Officer answers every "
            "question about your data at dpo@webstore.example.\n",
            encoding="utf-8",
        )
        await asyncio.to_thread(build_index, settings, embedder)
        for _ in range(50):  # bounded: the process checks for a new version every 0.2 s
            if assistant.services.engine.retriever.manifest.version == 2:
                break
            await asyncio.sleep(0.2)
        after = await assistant.say("Do you have a data protection officer I can write to?")
        assert "<b>Data Protection Officer</b>" in after.params["text"]


async def test_asking_for_a_person_without_a_support_group(
    tmp_path: Path, corpus_index: Path
) -> None:
    async with assistant_running(tmp_path, corpus_index) as assistant:
        await assistant.say("/start klingit")
        reply = await assistant.say("I want to talk to a real person please")
        assert "dpo@klingit.example" in reply.params["text"]
        assert "not connected a support team" in reply.params["text"]
