"""An update re-delivered by Telegram is answered once, in one process or across replicas."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.update_claims import (
    MemoryUpdateClaims,
    RedisUpdateClaims,
    UpdateClaims,
    handling,
    mark_answered_after_send,
)
from tests.bot.conftest import webhook_assistant
from tests.support.fake_bot_api import FakeBotAPI


@pytest.fixture(params=["memory", "redis"])
async def claims(request: pytest.FixtureRequest) -> AsyncIterator[UpdateClaims]:
    if request.param == "memory":
        yield MemoryUpdateClaims(lease_seconds=0.3)
        return
    from redis.asyncio import Redis

    client = Redis.from_url(request.getfixturevalue("redis_url"))
    # A bot id of its own: parallel test workers share the Redis database.
    yield RedisUpdateClaims(client, bot_id=random.randrange(10**9), lease_seconds=0.3)
    await client.aclose()


async def test_a_claim_is_new_then_busy_then_done(claims: UpdateClaims) -> None:
    assert await claims.claim(1) == "new"
    assert await claims.claim(1) == "busy"
    assert await claims.claim(2) == "new"
    await claims.finish(1)
    assert await claims.claim(1) == "done"
    await claims.release(1)  # a finished update stays finished
    assert await claims.claim(1) == "done"


async def test_a_released_claim_is_taken_again(claims: UpdateClaims) -> None:
    assert await claims.claim(7) == "new"
    await claims.release(7)
    assert await claims.claim(7) == "new"


async def test_the_lease_of_a_dead_holder_runs_out(claims: UpdateClaims) -> None:
    assert await claims.claim(9) == "new"
    assert await claims.claim(9) == "busy"
    await asyncio.sleep(0.45)
    assert await claims.claim(9) == "new"


async def test_a_redelivered_update_is_answered_once_and_a_busy_one_is_retried_later(
    tmp_path: Path, corpus_index: Path
) -> None:
    claims = MemoryUpdateClaims()
    async with webhook_assistant(tmp_path, corpus_index, claims) as (assistant, _):
        fake = assistant.fake
        await fake.wait_for("setWebhook")
        update = fake.message_update("/start webstore", user_id=501)
        assert await fake.deliver_webhook(update) == 200
        [reply] = await fake.wait_for("sendMessage")
        # Telegram did not see the answer (a timeout) and delivers the update again.
        assert await fake.deliver_webhook(dict(update)) == 200
        # Another replica holds the next update: this one asks for a retry.
        held = fake.message_update("/help", user_id=502)
        held["update_id"] = update["update_id"] + 1
        assert await claims.claim(held["update_id"]) == "new"
        assert await fake.deliver_webhook(held) == 503
        await claims.release(held["update_id"])  # its holder died without an answer
        assert await fake.deliver_webhook(held) == 200
        await fake.wait_for("sendMessage", count=2)
        await asyncio.sleep(0.3)
        sent = fake.calls_to("sendMessage")
        assert [call.params["chat_id"] for call in sent] == [501, 502]
        assert "Online Store" in reply.params["text"]


async def test_an_update_that_is_not_one_is_refused_and_a_poison_one_dropped(
    tmp_path: Path, corpus_index: Path
) -> None:
    async with (
        webhook_assistant(tmp_path, corpus_index) as (assistant, url),
        aiohttp.ClientSession() as client,
    ):
        headers = {"X-Telegram-Bot-Api-Secret-Token": assistant.services.settings.secret_token()}
        async with client.post(url, data=b'{"no": "update"}', headers=headers) as response:
            assert response.status == 400
        # Issue 12, defect 7: these answered 500.
        for body in (
            b'{"update_id": Infinity}',
            b'{"update_id": 1e400}',
            b'{"update_id": 2002.7}',
            b'{"update_id": true}',
            b"[" * 100_000,
        ):
            async with client.post(url, data=body, headers=headers) as response:
                assert response.status == 400, body[:30]
        # A poison update in Telegram's shape: 200, so that Telegram stops sending it.
        for body in (
            b'{"update_id": 7001, "message": [1, 2]}',
            b'{"update_id": 7002, "message": {"message_id": "x"}}',
            b'{"update_id": 7003, "callback_query": {"id": "1", "data": '
            + b"[" * 500
            + b"]" * 500
            + b"}}",
        ):
            async with client.post(url, data=body, headers=headers) as response:
                assert response.status == 200, body[:40]
        assert assistant.fake.calls_to("sendMessage") == []
        # ...and the bot still answers the next real update.
        assert (
            await assistant.fake.deliver_webhook(
                assistant.fake.message_update("/start webstore", user_id=503)
            )
            == 200
        )
        [reply] = await assistant.fake.wait_for("sendMessage")
        assert "Online Store" in reply.params["text"]


async def test_the_first_reply_finishes_the_claim_before_the_handler_ends() -> None:
    claims = MemoryUpdateClaims()
    async with FakeBotAPI() as fake:
        bot = fake.make_bot()
        bot.session.middleware(mark_answered_after_send())
        try:
            assert await claims.claim(77) == "new"
            with handling(claims, 77):
                await bot.send_chat_action(501, "typing")  # not a reply
                assert await claims.claim(77) == "busy"
                await bot.send_message(501, "the answer")
                # Were the process killed now, a re-delivery would not answer again.
                assert await claims.claim(77) == "done"
            # Outside a handler (a notice sent by a background task) nothing is claimed.
            await bot.send_message(501, "a notice")
            assert await claims.claim(78) == "new"
        finally:
            await bot.session.close()


async def test_an_update_whose_apology_could_not_be_sent_comes_again(
    tmp_path: Path, corpus_index: Path
) -> None:
    """benchmarks.faults found this: with Redis silent, a handler failed, its apology could
    not be sent either, and the update was recorded as answered: the customer got nothing
    and Telegram's next delivery was told "handled already". A failed apology now leaves
    the update unanswered (a 5xx), so that Telegram delivers it again; a refusal (the
    customer blocked the bot) still ends it, or Telegram would send it for ever."""
    async with webhook_assistant(tmp_path, corpus_index, MemoryUpdateClaims()) as (assistant, _):
        fake, engine = assistant.fake, assistant.services.engine
        await fake.wait_for("setWebhook")
        assert (
            await fake.deliver_webhook(fake.message_update("/start webstore", user_id=601)) == 200
        )
        await fake.wait_for("sendMessage")
        original = engine.understand

        async def broken(*args: object, **kwargs: object) -> object:
            engine.understand = original  # type: ignore[method-assign]
            raise TimeoutError("Redis did not answer")

        engine.understand = broken  # type: ignore[method-assign]
        fake.fail_next(
            "sendMessage", error_code=500, description="Internal Server Error", retry_after=None
        )
        question = fake.message_update("Do you sell my data?", user_id=601)
        assert await fake.deliver_webhook(question) >= 500  # 504: the TimeoutError
        # Telegram delivers it again, and this time it is answered.
        assert await fake.deliver_webhook(dict(question)) == 200
        replies = [c for c in fake.calls_to("sendMessage") if c.params["chat_id"] == 601]
        assert len(replies) == 3 and replies[1].status == 500 and replies[2].ok
        assert "went wrong" not in replies[2].params["text"]

        engine.understand = broken  # type: ignore[method-assign]
        fake.fail_next(
            "sendMessage",
            error_code=403,
            description="Forbidden: bot was blocked by the user",
            retry_after=None,
        )
        blocked = fake.message_update("Do you keep my data?", user_id=601)
        assert await fake.deliver_webhook(blocked) == 200
        assert await fake.deliver_webhook(dict(blocked)) == 200  # "handled already"
        assert len([c for c in fake.calls_to("sendMessage") if c.params["chat_id"] == 601]) == 4
