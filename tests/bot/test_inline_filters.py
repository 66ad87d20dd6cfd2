"""The dispatcher's synchronous filters run on the event loop: aiogram would send each one
through a thread (`asyncio.to_thread`) for every handler it tries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiogram import F, Router
from aiogram.types import Chat, Message

from bot.inline_filters import run_filters_inline
from tests.bot.conftest import Assistant


def test_every_filter_of_a_router_becomes_a_coroutine() -> None:
    router, child = Router(), Router()
    router.include_router(child)
    router.message.filter(F.chat.type == "private")

    def long_text(message: Message) -> bool:
        return len(message.text or "") > 3

    async def already_async(message: Message) -> bool:
        return True

    child.message.register(lambda message: None, F.text, long_text, already_async)
    assert run_filters_inline(router) == 3
    assert run_filters_inline(router) == 0  # nothing left to change
    [handler] = child.message.handlers
    assert all(f.awaitable for f in handler.filters or ())


async def test_inline_filters_decide_as_before() -> None:
    router = Router()
    router.message.register(lambda message: None, F.chat.type == "private", F.text)
    run_filters_inline(router)
    [handler] = router.message.handlers

    def message(chat_type: str, text: str | None) -> Message:
        return Message.model_construct(
            message_id=1, date=0, chat=Chat(id=1, type=chat_type), text=text
        )

    assert (await handler.check(message("private", "hi")))[0]
    assert not (await handler.check(message("group", "hi")))[0]
    assert not (await handler.check(message("private", None)))[0]


async def test_a_question_is_answered_without_a_thread_hop(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await assistant.say("/start webstore")
    hops: list[Any] = []
    real = asyncio.to_thread

    async def counted(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counted)
    answer = await assistant.say("How long do you keep my personal data?")
    assert "5 years" in answer.params["text"]
    assert hops == []
