"""Each Telegram update handled once, whichever replica it reaches.

Telegram delivers an update again when a delivery fails or times out; behind a load
balancer the retry may reach another replica, possibly while the first one is still
working on it or after it died mid-way. Before handling, a replica claims the update:

- ``new``: nobody has it; this replica handles it, holding a lease (`lease_seconds`);
- ``busy``: another replica holds a live lease; the webhook answers 503 so that
  Telegram retries later, and the update is taken over once the lease runs out (its
  holder died) or found done;
- ``done``: it was answered already; the webhook answers 200 and does nothing.

The claim turns ``done`` the moment the first reply to the customer has been sent
(see `mark_answered_after_send`), not only when the handler returns: a replica killed
between its reply and the end of its handler leaves a finished claim, so the retry
does not answer a second time. The remaining window, a kill between Telegram's
accepting the reply and Redis's recording it (one Redis round trip), cannot be closed
without an idempotency key on Telegram's side.

Without Redis (one process), the claims live in memory: they still absorb Telegram's
own re-deliveries to the same process.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, Protocol

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

if TYPE_CHECKING:
    from redis.asyncio import Redis

Claim = Literal["new", "busy", "done"]
# Calls that are not a reply a customer would see twice.
_NOT_REPLIES = frozenset(
    {"getMe", "getChat", "getChatMember", "getFile", "sendChatAction", "answerCallbackQuery"}
)
DONE_SECONDS = 24 * 3600


class UpdateClaims(Protocol):
    async def claim(self, update_id: int) -> Claim: ...

    async def finish(self, update_id: int) -> None: ...

    async def release(self, update_id: int) -> None: ...


class MemoryUpdateClaims:
    """One process's claims: the most recent `capacity` updates."""

    def __init__(self, lease_seconds: float = 30.0, capacity: int = 50_000) -> None:
        self._lease = lease_seconds
        self._capacity = capacity
        self._claims: OrderedDict[int, float | None] = OrderedDict()  # None: done

    async def claim(self, update_id: int) -> Claim:
        now = time.monotonic()
        if update_id in self._claims:
            until = self._claims[update_id]
            if until is None:
                return "done"
            if until > now:
                return "busy"
        self._claims[update_id] = now + self._lease
        self._claims.move_to_end(update_id)
        while len(self._claims) > self._capacity:
            self._claims.popitem(last=False)
        return "new"

    async def finish(self, update_id: int) -> None:
        self._claims[update_id] = None

    async def release(self, update_id: int) -> None:
        if self._claims.get(update_id, 0.0) is not None:  # a finished one stays finished
            self._claims.pop(update_id, None)


class RedisUpdateClaims:
    """Claims shared by every replica: one key per update, ``busy`` with a lease TTL,
    ``done`` kept a day (Telegram stops retrying long before)."""

    def __init__(self, redis: Redis, bot_id: int, lease_seconds: float = 30.0) -> None:
        self._redis = redis
        self._prefix = f"privacy-assistant:update:{bot_id}:"
        self._lease_ms = int(lease_seconds * 1000)

    async def claim(self, update_id: int) -> Claim:
        key = self._prefix + str(update_id)
        if await self._redis.set(key, b"busy", nx=True, px=self._lease_ms):
            return "new"
        state = await self._redis.get(key)
        if state is None:  # the lease ran out between the two calls
            return await self.claim(update_id)
        return "done" if state == b"done" else "busy"

    async def finish(self, update_id: int) -> None:
        await self._redis.set(self._prefix + str(update_id), b"done", ex=DONE_SECONDS)

    async def release(self, update_id: int) -> None:
        key = self._prefix + str(update_id)
        # Only a claim still being worked on: a finished one stays finished.
        if await self._redis.get(key) == b"busy":
            await self._redis.delete(key)


class _Handling:
    def __init__(self, claims: UpdateClaims, update_id: int) -> None:
        self.claims = claims
        self.update_id = update_id
        self.answered = False


_HANDLING: contextvars.ContextVar[_Handling | None] = contextvars.ContextVar(
    "handling_update", default=None
)


@contextlib.contextmanager
def handling(claims: UpdateClaims, update_id: int) -> Iterator[None]:
    """Within the block, the first reply sent finishes the update's claim."""
    token = _HANDLING.set(_Handling(claims, update_id))
    try:
        yield
    finally:
        _HANDLING.reset(token)


class mark_answered_after_send(BaseRequestMiddleware):  # noqa: N801 (reads as what it does)
    """A Bot session middleware: after the first successful reply within `handling`,
    the update is recorded as answered. (aiogram annotates the chain as returning a
    Response; what it passes along is the method's result, and a refusal raises.)"""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        result = await make_request(bot, method)  # raises when Telegram refused it
        current = _HANDLING.get()
        name: Any = getattr(method, "__api_method__", "")
        if current is not None and not current.answered and name not in _NOT_REPLIES:
            current.answered = True
            await current.claims.finish(current.update_id)
        return result
