"""Every state-changing chat action fired 20 times at once, on PostgreSQL (issue 12): the
way Telegram delivers a button tapped over and over, or a message a client sends again and
again, each copy its own update, handled at the same time by the real dispatcher polling
the fake Bot API. Afterwards the request, its audit trail, the outbox and the mail agree:
one change, nothing duplicated, nothing lost; every update was answered sensibly (no
error, no apology, every button press answered once), and the customer got one
confirmation.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from sqlmodel import col, select

from backend.database import Database
from backend.models import (
    AccessExport,
    AuditEvent,
    CustomerNotice,
    OutboxEvent,
    PrivacyRequest,
)
from backend.privacy_requests import PrivacyRequestSettings, SmtpSettings
from backend.staff import grant
from backend.webhooks.events import (
    REQUEST_CANCELED,
    REQUEST_COMPLETED,
    REQUEST_CREATED,
    REQUEST_DENIED,
    REQUEST_VERIFIED,
)
from bot.keyboards import CardCallback
from bot.request_cards.worker import RequestCardWorker
from tests.bot.conftest import Assistant, assistant_running
from tests.bot.test_privacy_request_flows import start_until_code
from tests.bot.test_request_cards import button_data, shops_with_groups
from tests.support.fake_bot_api import ApiCall
from tests.support.mail_server import Mailbox, mail_server

pytestmark = pytest.mark.postgres

TIMES = 20
CUSTOMER = 1001
ADDRESS = "ann@example.com"
GROUP = -1_005_550_000_777
ADMIN = 7001  # Online Store's admin in its shop.toml
APOLOGY = "Sorry, something went wrong"
STALE = "This button is no longer valid."
EXPORT = b'{"orders": [{"id": 17}]}'
ALREADY_SENT = (
    "I already sent a code by e-mail for this request. Type the code here, or ask for a new one."
)
USED = "This code was used already: your request is confirmed. You can follow it with /requests."
# A guard against a hang, not a measure: a burst takes a second or two.
BURST_GUARD_SECONDS = 120.0


class Handled(BaseMiddleware):
    """Notes each update the dispatcher is done with, however it ended."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self._changed = asyncio.Event()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        finally:
            assert isinstance(event, Update)
            self.ids.add(event.update_id)
            self._changed.set()

    async def wait(self, ids: list[int]) -> None:
        async with asyncio.timeout(BURST_GUARD_SECONDS):
            while not set(ids) <= self.ids:
                self._changed.clear()
                await self._changed.wait()


@dataclass
class Burst:
    """What the bot did while it handled one burst of updates."""

    calls: list[ApiCall]
    query_ids: list[str]

    def messages(self, chat_id: int = CUSTOMER) -> list[str]:
        return [
            str(call.params["text"])
            for call in self.calls
            if call.method == "sendMessage" and call.params["chat_id"] == chat_id
        ]

    def answers(self) -> list[ApiCall]:
        return [call for call in self.calls if call.method == "answerCallbackQuery"]

    def check_sensible(self) -> None:
        """Every call Telegram took, no apology, and each press answered exactly once."""
        refused = [
            (call.method, call.description) for call in self.calls if call.status not in (200, None)
        ]
        assert refused == [], refused
        texts = [str(call.params.get("text", "")) for call in self.calls]
        assert not [text for text in texts if APOLOGY in text], texts
        answered = Counter(str(call.params["callback_query_id"]) for call in self.answers())
        assert answered == Counter(self.query_ids), answered


@dataclass
class Chat:
    assistant: Assistant
    handled: Handled
    mailbox: Mailbox
    database: Database

    async def burst(self, updates: list[dict[str, Any]]) -> Burst:
        fake = self.assistant.fake
        start = len(fake.calls)
        ids = [fake.push_update(update) for update in updates]
        await self.handled.wait(ids)
        query_ids = [str(u["callback_query"]["id"]) for u in updates if "callback_query" in u]
        burst = Burst(list(fake.calls[start:]), query_ids)
        burst.check_sensible()
        return burst

    async def taps(
        self, call: ApiCall | dict[str, Any], label: str, *, user_id: int = CUSTOMER
    ) -> Burst:
        """The button `label` under the bot's message tapped TIMES times at once."""
        message = call.result if isinstance(call, ApiCall) else call
        data = button_data(message, label)
        fake = self.assistant.fake
        return await self.burst(
            [
                fake.callback_update(
                    data,
                    user_id=user_id,
                    chat_id=message["chat"]["id"],
                    message_id=message["message_id"],
                )
                for _ in range(TIMES)
            ]
        )

    async def sends(self, text: str, **where: Any) -> Burst:
        """The customer's (or, with `where`, a staff member's) message sent TIMES times."""
        fake = self.assistant.fake
        return await self.burst([fake.message_update(text, **where) for _ in range(TIMES)])

    async def say(self, text: str) -> ApiCall:
        return await self.assistant.say(text, user_id=CUSTOMER)

    async def press(self, call: ApiCall, label: str) -> ApiCall:
        """One tap, and the bot's next message to the customer."""
        before = len(self.assistant.sent_to(CUSTOMER))
        await self.assistant.press(call, label, user_id=CUSTOMER)
        calls = await self.assistant.fake.wait_for(
            "sendMessage", count=before + 1, predicate=lambda c: c.params["chat_id"] == CUSTOMER
        )
        return calls[before]

    async def request(self) -> PrivacyRequest:
        async with self.database.session() as session:
            [request] = (await session.exec(select(PrivacyRequest))).all()
        return request

    async def trail(self, request_id: str) -> Counter[str]:
        async with self.database.session() as session:
            events = await session.exec(
                select(AuditEvent).where(col(AuditEvent.request_id) == request_id)
            )
            return Counter(event.action for event in events)

    async def outbox(self) -> Counter[str]:
        async with self.database.session() as session:
            return Counter(event.type for event in await session.exec(select(OutboxEvent)))

    async def notices(self, request_id: str) -> list[str]:
        async with self.database.session() as session:
            rows = await session.exec(
                select(CustomerNotice).where(col(CustomerNotice.request_id) == request_id)
            )
            return [notice.event for notice in rows]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, SmtpSettings]]:
    with mail_server() as (box, port):
        yield box, SmtpSettings(host="127.0.0.1", port=port, security="none", timeout_seconds=5)


@pytest.fixture
async def chat(
    pg: Database, tmp_path: Path, corpus_index: Path, smtp: tuple[Mailbox, SmtpSettings]
) -> AsyncIterator[Chat]:
    mailbox, settings = smtp
    async with assistant_running(
        tmp_path,
        corpus_index,
        smtp=settings,
        # A new code at once: the resend itself is what is tapped many times.
        requests=PrivacyRequestSettings(code_resend_seconds=0),
        database_url=pg.url,
        throttle_messages=1000,  # flood control would drop most of a burst
    ) as assistant:
        assistant.services.shops = shops_with_groups(GROUP, GROUP - 1)
        handled = Handled()
        assistant.dispatcher.update.outer_middleware(handled)
        yield Chat(assistant, handled, mailbox, pg)


async def offered(chat: Chat) -> ApiCall:
    menu = await chat.say("/start webstore")
    offer = await chat.press(menu, "Delete my data")
    assert "Shall I start it?" in offer.params["text"]
    return offer


async def waiting_for_code(chat: Chat, kind: str = "deletion") -> ApiCall:
    return await start_until_code(chat.assistant, kind, user_id=CUSTOMER, address=ADDRESS)


# ---- The customer's chat -----------------------------------------------------------------


async def test_confirm_tapped_many_times_asks_for_the_address_once(chat: Chat) -> None:
    burst = await chat.taps(await offered(chat), "Confirm")
    [ask] = burst.messages()
    assert ask.startswith("Which e-mail address does Online Store know you by?")
    # The other taps are told the button did its work already.
    assert sorted(str(a.params.get("text", "")) for a in burst.answers()) == sorted(
        [""] + [STALE] * (TIMES - 1)
    )
    # And the flow goes on from there, once.
    sent = await chat.say(ADDRESS)
    assert "I sent a 6-digit code" in sent.params["text"]
    request = await chat.request()
    assert await chat.trail(request.id) == Counter({"created": 1, "code_sent": 1})


async def test_the_address_sent_many_times_starts_one_request_with_one_code(chat: Chat) -> None:
    ask = await chat.press(await offered(chat), "Confirm")
    assert "Which e-mail address" in ask.params["text"]
    burst = await chat.sends(ADDRESS)
    request = await chat.request()
    assert request.status == "identity_pending"
    assert await chat.trail(request.id) == Counter({"created": 1, "code_sent": 1})
    assert await chat.outbox() == Counter({REQUEST_CREATED: 1})
    assert len(chat.mailbox.sent_to(ADDRESS)) == 1
    replies = burst.messages()
    assert len(replies) == TIMES
    assert sum(text.startswith("I sent a 6-digit code") for text in replies) == 1
    # The copies after it are told the code is on its way.
    assert {text for text in replies if not text.startswith("I sent a 6-digit code")} == {
        ALREADY_SENT
    }
    done = await chat.say(await chat.mailbox.code_for(ADDRESS))
    assert done.params["text"].startswith("Confirmed:")


async def test_the_code_sent_many_times_verifies_once(chat: Chat) -> None:
    await waiting_for_code(chat)
    code = await chat.mailbox.code_for(ADDRESS)
    burst = await chat.sends(code)
    request = await chat.request()
    assert request.status == "verified"
    assert await chat.trail(request.id) == Counter({"created": 1, "code_sent": 1, "verified": 1})
    assert await chat.outbox() == Counter({REQUEST_CREATED: 1, REQUEST_VERIFIED: 1})
    assert await chat.notices(request.id) == []  # the chat said it; no notice again
    replies = burst.messages()
    assert len(replies) == TIMES
    assert sum(text.startswith("Confirmed: Online Store must delete") for text in replies) == 1
    assert {text for text in replies if not text.startswith("Confirmed:")} == {USED}


async def test_resend_tapped_many_times_sends_one_new_code(chat: Chat) -> None:
    sent = await waiting_for_code(chat)
    first = await chat.mailbox.code_for(ADDRESS)
    burst = await chat.taps(sent, "Send the code again")
    [ask] = burst.messages()
    assert ask.startswith("Type the e-mail address again")
    burst = await chat.sends(ADDRESS)
    replies = burst.messages()
    assert replies.count("I sent a new code. Type it here.") == 1
    assert set(replies) == {"I sent a new code. Type it here.", ALREADY_SENT}
    request = await chat.request()
    assert await chat.trail(request.id) == Counter({"created": 1, "code_sent": 2})
    assert await chat.outbox() == Counter({REQUEST_CREATED: 1})
    assert len(chat.mailbox.sent_to(ADDRESS)) == 2
    second = await chat.mailbox.code_for(ADDRESS, count=2)
    if second != first:
        wrong = await chat.say(first)
        assert "not right" in wrong.params["text"]
    done = await chat.say(second)
    assert done.params["text"].startswith("Confirmed:")


@pytest.mark.parametrize("how", ["button", "command"])
async def test_cancel_many_times_cancels_once(chat: Chat, how: str) -> None:
    sent = await waiting_for_code(chat)
    burst = await (chat.taps(sent, "Cancel") if how == "button" else chat.sends("/cancel"))
    request = await chat.request()
    assert request.status == "canceled"
    assert await chat.trail(request.id) == Counter({"created": 1, "code_sent": 1, "canceled": 1})
    assert await chat.outbox() == Counter({REQUEST_CREATED: 1, REQUEST_CANCELED: 1})
    assert await chat.notices(request.id) == []
    replies = burst.messages()
    assert replies.count("Canceled. Your request is closed and will not be processed.") == 1
    if how == "command":
        assert len(replies) == TIMES
        assert set(replies[1:]) | set(replies[:1]) == {
            "Canceled. Your request is closed and will not be processed.",
            "There is nothing to cancel.",
        }
    else:
        assert len(replies) == 1


# ---- The request's card in the support group ---------------------------------------------


async def verified_with_card(chat: Chat, kind: str) -> tuple[PrivacyRequest, dict[str, Any]]:
    """The customer's request, verified in the chat, and its card posted in the group."""
    await waiting_for_code(chat, kind)
    done = await chat.say(await chat.mailbox.code_for(ADDRESS))
    assert done.params["text"].startswith(("Confirmed:", "Done:"))
    request = await chat.request()
    async with chat.database.session() as session:
        await grant(session, "webstore", ADMIN, "admin", granted_by="test")
    services = chat.assistant.services
    worker = RequestCardWorker(chat.assistant.bot, services)
    assert await worker.poster.post_new() == 1
    [posted] = [
        call
        for call in chat.assistant.fake.calls_to("sendMessage")
        if call.params["chat_id"] == GROUP
    ]
    return request, posted.result


def group_update(chat: Chat, text: str) -> dict[str, Any]:
    return chat.assistant.fake.message_update(
        text, user_id=ADMIN, chat_id=GROUP, chat_type="supergroup"
    )


async def test_start_tapped_many_times_starts_once(chat: Chat) -> None:
    request, card = await verified_with_card(chat, "deletion")
    burst = await chat.taps(card, "Start", user_id=ADMIN)
    after = await chat.request()
    assert after.status == "in_progress"
    assert await chat.trail(request.id) == Counter(
        {"created": 1, "code_sent": 1, "verified": 1, "in_progress": 1}
    )
    assert await chat.outbox() == Counter({REQUEST_CREATED: 1, REQUEST_VERIFIED: 1})
    assert await chat.notices(request.id) == ["in_progress"]  # the customer is told once
    answers = [str(a.params.get("text", "")) for a in burst.answers()]
    assert answers.count("Started. The customer is told.") == 1
    assert all(
        text.startswith("Not done:") and "in_progress" in text
        for text in answers
        if text != "Started. The customer is told."
    ), answers


async def test_a_denial_sent_many_times_denies_once(chat: Chat) -> None:
    request, card = await verified_with_card(chat, "deletion")
    fake = chat.assistant.fake
    deny = CardCallback(action="reason", request=request.id, arg="no_customer_match").pack()
    fake.push_update(
        fake.callback_update(deny, user_id=ADMIN, chat_id=GROUP, message_id=card["message_id"])
    )
    await fake.wait_for("sendMessage", count=2, predicate=lambda c: c.params["chat_id"] == GROUP)
    burst = await chat.burst(
        [group_update(chat, "We hold no data under this address.") for _ in range(TIMES)]
    )
    after = await chat.request()
    assert after.status == "denied"
    assert await chat.trail(request.id) == Counter(
        {"created": 1, "code_sent": 1, "verified": 1, "denied": 1}
    )
    assert await chat.outbox() == Counter(
        {REQUEST_CREATED: 1, REQUEST_VERIFIED: 1, REQUEST_DENIED: 1}
    )
    assert await chat.notices(request.id) == ["denied"]
    replies = burst.messages(GROUP)
    assert sum("denied (" in text for text in replies) == 1, replies


async def tap(chat: Chat, message: dict[str, Any], label: str) -> Burst:
    """One tap of a button in the group by its admin."""
    fake = chat.assistant.fake
    data = button_data(message, label)
    return await chat.burst(
        [fake.callback_update(data, user_id=ADMIN, chat_id=GROUP, message_id=message["message_id"])]
    )


def shown(chat: Chat, message: dict[str, Any]) -> dict[str, Any]:
    now = chat.assistant.fake.message(GROUP, message["message_id"])
    assert now is not None
    return dict(now)


def asked(burst: Burst) -> list[ApiCall]:
    return [
        call
        for call in burst.calls
        if call.method == "sendMessage" and call.params["chat_id"] == GROUP
    ]


async def test_an_extension_tapped_and_sent_many_times_extends_once(chat: Chat) -> None:
    request, card = await verified_with_card(chat, "access")
    [months] = asked(await tap(chat, card, "Extend"))
    burst = await chat.taps(months.result, "+1 month", user_id=ADMIN)
    [reason] = asked(burst)  # one question, however often the month was tapped
    assert "need 1 month more?" in reason.params["text"]
    burst = await chat.burst(
        [group_update(chat, "Our warehouse system is being migrated.") for _ in range(TIMES)]
    )
    after = await chat.request()
    assert after.extension_months == 1
    assert await chat.trail(request.id) == Counter(
        {"created": 1, "code_sent": 1, "verified": 1, "extended": 1}
    )
    assert await chat.notices(request.id) == ["extended"]
    assert await chat.outbox() == Counter({REQUEST_CREATED: 1, REQUEST_VERIFIED: 1})
    assert sum("extended by 1 month" in text for text in burst.messages(GROUP)) == 1


async def test_a_deletions_outcomes_sent_many_times_complete_it_once(chat: Chat) -> None:
    request, card = await verified_with_card(chat, "deletion")
    await tap(chat, card, "Start")
    burst = await chat.taps(shown(chat, card), "Complete", user_id=ADMIN)
    [question] = asked(burst)
    assert "what did each of the shop's systems do" in question.params["text"]
    burst = await chat.burst([group_update(chat, "crm: erased") for _ in range(TIMES)])
    after = await chat.request()
    assert after.status == "completed" and after.outcomes == [
        {"system": "crm", "outcome": "erased"}
    ]
    assert await chat.trail(request.id) == Counter(
        {
            "created": 1,
            "code_sent": 1,
            "verified": 1,
            "in_progress": 1,
            "outcomes_reported": 1,
            "completed": 1,
        }
    )
    assert await chat.notices(request.id) == ["in_progress", "completed"]
    assert await chat.outbox() == Counter(
        {REQUEST_CREATED: 1, REQUEST_VERIFIED: 1, REQUEST_COMPLETED: 1}
    )
    assert sum("completed" in text for text in burst.messages(GROUP)) == 1


async def test_an_export_sent_many_times_completes_the_request_once(chat: Chat) -> None:
    request, card = await verified_with_card(chat, "access")
    await tap(chat, card, "Start")
    fake = chat.assistant.fake
    updates = []
    for _ in range(TIMES):
        update = group_update(chat, "file")
        message = update["message"]
        del message["text"]
        file_id = fake.add_file(EXPORT, "orders.json")
        message["document"] = {
            "file_id": file_id,
            "file_unique_id": "U" + file_id,
            "file_size": len(EXPORT),
            "file_name": "orders.json",
            "mime_type": "application/json",
        }
        message["reply_to_message"] = shown(chat, card)
        updates.append(update)
    burst = await chat.burst(updates)
    after = await chat.request()
    assert after.status == "completed"
    async with chat.database.session() as session:
        exports = (
            await session.exec(
                select(AccessExport).where(col(AccessExport.request_id) == request.id)
            )
        ).all()
    assert [export.data for export in exports] == [EXPORT]
    assert await chat.trail(request.id) == Counter(
        {
            "created": 1,
            "code_sent": 1,
            "verified": 1,
            "in_progress": 1,
            "export_uploaded": 1,
            "completed": 1,
        }
    )
    assert await chat.notices(request.id) == ["in_progress", "completed"]
    assert await chat.outbox() == Counter(
        {REQUEST_CREATED: 1, REQUEST_VERIFIED: 1, REQUEST_COMPLETED: 1}
    )
    replies = burst.messages(GROUP)
    assert len(replies) == TIMES
    assert sum("completed with the export" in text for text in replies) == 1
    assert all(
        text.startswith("Not done, nothing changed:") and "completed" in text
        for text in replies
        if "completed with the export" not in text
    ), replies
