"""Each web conversation's events, numbered, kept and fanned out to the visitor's sockets.

A socket may be held by any replica, and the bot's reply (or an operator's, or a request's
notice) may be sent by any other: events are appended where they are sent and reach every
socket of that chat wherever it is. In one process that is a dict and queues; with several
it is Redis: a script numbers, stores and publishes an event in one step (so numbers and
the stored order agree), and every replica listens on one channel and hands each event to
the sockets it holds. A socket that missed something (a lost subscription, a slow reader)
catches up from the stored list by number: nothing is lost, nothing shown twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("bot.web.transcript")

KEEP_EVENTS = 300  # a conversation's last events, what a reload shows
QUEUE_FRAMES = 256  # a socket further behind than this catches up from the store
NONCE_SECONDS = 24 * 3600
NONCES_PER_CHAT = 64  # a page resends only what it sent since its last reconnect
SWEEP_SECONDS = 60.0
FILE_SECONDS = 3600
Frame = dict[str, Any]


class Listeners:
    """The sockets of this process, by chat: each a queue of frames."""

    def __init__(self) -> None:
        self._queues: dict[int, set[asyncio.Queue[Frame]]] = defaultdict(set)

    @contextlib.contextmanager
    def listen(self, chat_id: int) -> Iterator[asyncio.Queue[Frame]]:
        queue: asyncio.Queue[Frame] = asyncio.Queue(QUEUE_FRAMES)
        self._queues[chat_id].add(queue)
        try:
            yield queue
        finally:
            self._queues[chat_id].discard(queue)
            if not self._queues[chat_id]:
                del self._queues[chat_id]

    def deliver(self, chat_id: int, frame: Frame) -> None:
        for queue in self._queues.get(chat_id, ()):
            try:
                queue.put_nowait(frame)
            except asyncio.QueueFull:
                # The socket reads too slowly: it is told to catch up from the store.
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait({"type": "behind"})

    def __contains__(self, chat_id: int) -> bool:
        return chat_id in self._queues


class Transcript:
    """The interface; `MemoryTranscript` for one process, `RedisTranscript` for replicas."""

    def __init__(self) -> None:
        self.listeners = Listeners()

    async def append(self, chat_id: int, event: Frame) -> Frame:
        """Number, keep and fan out an event; a new message's id is its number."""
        raise NotImplementedError

    async def since(self, chat_id: int, after: int) -> list[Frame]:
        raise NotImplementedError

    async def announce(self, chat_id: int, frame: Frame) -> None:
        """A transient frame (typing, a toast) to every socket of the chat; not kept."""
        raise NotImplementedError

    async def first_time(self, chat_id: int, nonce: str) -> bool:
        """True once per (chat, nonce): a message resent after a reconnect is taken once."""
        raise NotImplementedError

    async def release_nonce(self, chat_id: int, nonce: str) -> None:
        """Undo `first_time` for a message that could not be taken after all."""
        raise NotImplementedError

    async def forget(self, chat_id: int) -> None:
        raise NotImplementedError

    async def put_file(self, token: str, chat_id: int, name: str, data: bytes) -> None:
        raise NotImplementedError

    async def file(self, token: str) -> tuple[int, str, bytes] | None:
        raise NotImplementedError

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


def numbered(event: Frame, seq: int) -> Frame:
    numbered_event = dict(event, seq=seq)
    if event.get("type") == "message":
        numbered_event["message_id"] = seq
    return numbered_event


class MemoryTranscript(Transcript):
    """One process's conversations. Bounded: at most `max_conversations` (the longest
    untouched go first), each with its last KEEP_EVENTS events and NONCES_PER_CHAT nonces;
    expired ones are dropped at most once a minute."""

    def __init__(
        self, retention_seconds: float = 30 * 86400, max_conversations: int = 20_000
    ) -> None:
        super().__init__()
        self._events: dict[int, list[Frame]] = {}
        self._numbers: dict[int, int] = defaultdict(int)
        self._touched: dict[int, float] = {}  # in order of last touch: oldest first
        self._nonces: dict[int, OrderedDict[str, None]] = {}
        self._files: dict[str, tuple[float, int, str, bytes]] = {}
        self._retention = retention_seconds
        self._max = max_conversations
        self._swept = time.monotonic()

    def _touch(self, chat_id: int, now: float) -> None:
        self._touched.pop(chat_id, None)
        self._touched[chat_id] = now
        if now - self._swept > SWEEP_SECONDS:
            self._swept = now
            self._sweep(now)
        while len(self._touched) > self._max:
            self._drop(next(iter(self._touched)))

    def _sweep(self, now: float) -> None:
        for chat_id, at in list(self._touched.items()):
            if now - at <= self._retention:
                break  # the rest were touched later
            self._drop(chat_id)
        self._files = {k: v for k, v in self._files.items() if now - v[0] < FILE_SECONDS}

    def _drop(self, chat_id: int) -> None:
        self._touched.pop(chat_id, None)
        self._events.pop(chat_id, None)
        self._nonces.pop(chat_id, None)
        # The numbering stays: a tab still open must not take new events for old ones.

    async def append(self, chat_id: int, event: Frame) -> Frame:
        self._numbers[chat_id] += 1
        stored = numbered(event, self._numbers[chat_id])
        events = self._events.setdefault(chat_id, [])
        events.append(stored)
        del events[:-KEEP_EVENTS]
        self._touch(chat_id, time.monotonic())
        self.listeners.deliver(chat_id, stored)
        return stored

    async def since(self, chat_id: int, after: int) -> list[Frame]:
        return [event for event in self._events.get(chat_id, ()) if event["seq"] > after]

    async def announce(self, chat_id: int, frame: Frame) -> None:
        self.listeners.deliver(chat_id, frame)

    async def first_time(self, chat_id: int, nonce: str) -> bool:
        seen = self._nonces.setdefault(chat_id, OrderedDict())
        if nonce in seen:
            return False
        seen[nonce] = None
        while len(seen) > NONCES_PER_CHAT:
            seen.popitem(last=False)
        self._touch(chat_id, time.monotonic())
        return True

    async def release_nonce(self, chat_id: int, nonce: str) -> None:
        self._nonces.get(chat_id, OrderedDict()).pop(nonce, None)

    async def forget(self, chat_id: int) -> None:
        self._events.pop(chat_id, None)

    async def put_file(self, token: str, chat_id: int, name: str, data: bytes) -> None:
        self._files[token] = (time.monotonic(), chat_id, name, data)

    async def file(self, token: str) -> tuple[int, str, bytes] | None:
        found = self._files.get(token)
        if found is None or time.monotonic() - found[0] > FILE_SECONDS:
            return None
        return found[1], found[2], found[3]


# Number, keep (the last KEEP_EVENTS, for the retention period) and publish in one step.
APPEND_SCRIPT = """
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local line = seq .. ' ' .. ARGV[1]
redis.call('RPUSH', KEYS[2], line)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', KEYS[3], ARGV[4] .. ' ' .. line)
return seq
"""
PREFIX = "privacy-assistant:web"
CHANNEL = f"{PREFIX}:events"


class RedisTranscript(Transcript):
    def __init__(self, redis: Redis, retention_seconds: float = 30 * 86400) -> None:
        super().__init__()
        self._redis = redis
        self._retention = int(retention_seconds)
        self._append = redis.register_script(APPEND_SCRIPT)
        self._listening: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._listening = asyncio.create_task(self._listen(), name="web-transcript")
        # Events appended from here on reach this replica's sockets.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 5)

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self._subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                # The sockets catch up from the store when they notice a gap.
                log.warning("web events subscription lost; subscribing again", exc_info=True)
                await asyncio.sleep(1)

    def _dispatch(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        chat, _, rest = text.partition(" ")
        chat_id = int(chat)
        if chat_id not in self.listeners:
            return  # every replica hears every event: only those with its sockets read it
        if rest.startswith("- "):
            self.listeners.deliver(chat_id, json.loads(rest[2:]))
            return
        self.listeners.deliver(chat_id, _parse(rest))

    def _keys(self, chat_id: int) -> tuple[str, str]:
        return f"{PREFIX}:{chat_id}:seq", f"{PREFIX}:{chat_id}:log"

    async def append(self, chat_id: int, event: Frame) -> Frame:
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        seq = await self._append(
            keys=[*self._keys(chat_id), CHANNEL],
            args=[body, KEEP_EVENTS, self._retention, chat_id],
        )
        return numbered(event, int(seq))

    async def since(self, chat_id: int, after: int) -> list[Frame]:
        lines = await self._redis.lrange(self._keys(chat_id)[1], 0, -1)
        events = [_parse(line.decode() if isinstance(line, bytes) else line) for line in lines]
        return [event for event in events if event["seq"] > after]

    async def announce(self, chat_id: int, frame: Frame) -> None:
        await self._redis.publish(CHANNEL, f"{chat_id} - {json.dumps(frame)}")

    async def first_time(self, chat_id: int, nonce: str) -> bool:
        key = f"{PREFIX}:{chat_id}:nonce:{nonce}"
        return bool(await self._redis.set(key, 1, nx=True, ex=NONCE_SECONDS))

    async def release_nonce(self, chat_id: int, nonce: str) -> None:
        await self._redis.delete(f"{PREFIX}:{chat_id}:nonce:{nonce}")

    async def forget(self, chat_id: int) -> None:
        await self._redis.delete(self._keys(chat_id)[1])

    async def put_file(self, token: str, chat_id: int, name: str, data: bytes) -> None:
        key = f"{PREFIX}:file:{token}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"chat": chat_id, "name": name, "data": data})
            pipe.expire(key, FILE_SECONDS)
            await pipe.execute()

    async def file(self, token: str) -> tuple[int, str, bytes] | None:
        found: dict[Any, Any] = await self._redis.hgetall(f"{PREFIX}:file:{token}")
        if not found:
            return None
        return int(found[b"chat"]), bytes(found[b"name"]).decode(), bytes(found[b"data"])


def _parse(line: str) -> Frame:
    seq, _, body = line.partition(" ")
    return numbered(json.loads(body), int(seq))
