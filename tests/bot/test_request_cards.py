"""Privacy requests worked from the support group, end to end: the real dispatcher polling
the fake Bot API, a migrated SQLite database, the requests made through the backend's own
functions. Staff press the cards' buttons and type their answers in the group; the tests
check the request, its audit trail, the customer's notice and the card, edited in place.

Time: the requests are verified at the real "now" (the housekeeping beside the bot runs on
the real clock); the steps taken from the cards read an injected clock.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlmodel import col, select

from backend.models import (
    AccessExport,
    AuditEvent,
    CustomerNotice,
    PrivacyRequest,
    RequestCard,
    utc_now,
)
from backend.privacy_requests import mail_code, start_request, verify_code
from backend.privacy_requests.exports import ExportPolicy
from backend.privacy_requests.fulfilment import SystemOutcome
from backend.privacy_requests.lifecycle import RequestKind
from backend.pseudonyms import pseudonym_for
from backend.staff import grant
from bot.request_cards.cards import render_card
from bot.request_cards.guard import REFUSED
from bot.request_cards.outcomes import OutcomeFormatError, parse_outcomes
from bot.request_cards.policy import PolicyQuote, policy_quote
from bot.request_cards.settings import CardSettings
from bot.request_cards.worker import RequestCardWorker
from bot.shop_directory import ShopDirectory
from indexer.shops import SupportGroup, load_shops
from tests.backend.privacy_requests_support import ConsoleMailbox
from tests.bot.conftest import PSEUDONYM_KEY, Assistant, assistant_running, database_serves
from tests.conftest import KNOWLEDGE
from tests.support.fake_bot_api import ApiCall, FakeBotAPI, parse_telegram_html

T0 = utc_now().replace(microsecond=0)
ADMIN = 7001  # Online Store's admin, in its shop.toml
OPERATOR = 7002  # Online Store's operator, granted in the database
OTHER_ADMIN = 7101  # Klingit's admin
MEMBER = 7201  # in the group, but not staff
CUSTOMER_CHAT = 5001
EXPORT = b'{"orders": [{"id": 17}]}'
# Every test gets support groups of its own (so it sees its own cards and staff's pending
# steps only); the assistant is shared by the module: starting one takes seconds.
GROUPS = itertools.count(-1_005_550_000_000, -10)
CUSTOMERS = itertools.count(9001)
EMAILS: dict[str, str] = {}  # request id → the customer's address

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def shops_with_groups(group: int, other_group: int) -> ShopDirectory:
    """The demo shops; Online Store and Klingit have support groups and admins."""
    groups = {"webstore": (group, ADMIN), "klingit": (other_group, OTHER_ADMIN)}
    shops = []
    for shop in load_shops(KNOWLEDGE):
        if shop.id in groups:
            chat_id, admin = groups[shop.id]
            support = SupportGroup(chat_id=chat_id, admins=[admin])
            shop = shop.model_copy(update={"support": support})
        shops.append(shop)
    return ShopDirectory(shops)


@dataclass
class Desk:
    """The assistant, the cards' background worker, the clock of the staff's steps, and
    this test's support groups: Online Store's and Klingit's."""

    assistant: Assistant
    worker: RequestCardWorker
    clock: Clock
    mailbox: ConsoleMailbox
    group: int
    other_group: int

    @property
    def fake(self) -> FakeBotAPI:
        return self.assistant.fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_assistant(
    tmp_path_factory: pytest.TempPathFactory, corpus_index: Path
) -> AsyncIterator[Assistant]:
    # Staff press and type quickly: no flood control in the way.
    async with assistant_running(
        tmp_path_factory.mktemp("request-cards"), corpus_index, throttle_messages=1000
    ) as assistant:
        yield assistant


@pytest_asyncio.fixture(loop_scope="module")
async def desk(shared_assistant: Assistant) -> AsyncIterator[Desk]:
    assistant = shared_assistant
    group = next(GROUPS)
    assistant.services.shops = shops_with_groups(group, group - 1)
    assistant.services.export_policy = ExportPolicy()
    async with assistant.services.database.session() as session:
        await grant(session, "webstore", OPERATOR, "operator", granted_by="test")
    clock = Clock(T0 + timedelta(hours=1))
    assistant.dispatcher["request_card_clock"] = clock
    worker = RequestCardWorker(
        assistant.bot, assistant.services, CardSettings(digest_hour=8), clock=clock
    )
    yield Desk(assistant, worker, clock, ConsoleMailbox(), group, group - 1)


async def verified(
    desk: Desk,
    kind: RequestKind = "access",
    *,
    shop: str = "webstore",
    language: str = "cs",
    now: datetime = T0,
    deadline_months: int | None = None,
) -> PrivacyRequest:
    """A request a customer started in their chat and verified with the e-mailed code."""
    services = desk.assistant.services
    number = next(CUSTOMERS)
    pseudonym = pseudonym_for(number, PSEUDONYM_KEY.encode())
    async with services.database.session() as session:
        begun = await start_request(
            session,
            shop,
            kind,
            pseudonym,
            f"customer{number}@example.org",
            rules=services.request_rules,
            chat_id=CUSTOMER_CHAT,
            language=language,
            now=now,
        )
    assert begun.code_mail is not None
    await mail_code(services.database, desk.mailbox.sender, begun.code_mail, now=now)
    async with services.database.session() as session:
        result = await verify_code(
            session,
            begun.request.id,
            pseudonym,
            re.findall(r"\b(\d{6})\b", desk.mailbox.output.getvalue())[-1],
            rules=services.request_rules,
            deadline_months=deadline_months,
            now=now,
        )
    assert result.outcome == "verified"
    EMAILS[begun.request.id] = f"customer{number}@example.org"
    return result.request


async def current(desk: Desk, request_id: str) -> PrivacyRequest:
    async with desk.assistant.services.database.session() as session:
        found = await session.get(PrivacyRequest, request_id)
    assert found is not None
    return found


async def card_row(desk: Desk, request_id: str) -> RequestCard:
    async with desk.assistant.services.database.session() as session:
        card = await session.get(RequestCard, request_id)
    assert card is not None
    return card


async def trail(desk: Desk, request_id: str) -> list[AuditEvent]:
    async with desk.assistant.services.database.session() as session:
        rows = await session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.request_id) == request_id)
            .order_by(col(AuditEvent.id))
        )
        return list(rows)


async def notices(desk: Desk, request_id: str) -> list[str]:
    async with desk.assistant.services.database.session() as session:
        rows = await session.exec(
            select(CustomerNotice)
            .where(col(CustomerNotice.request_id) == request_id)
            .order_by(col(CustomerNotice.id))
        )
        return [notice.event for notice in rows]


async def posted_card(desk: Desk, request: PrivacyRequest) -> dict[str, Any]:
    """Post the missing cards; the request's card as the group shows it."""
    await desk.worker.poster.post_new()
    card = await card_row(desk, request.id)
    shown = desk.fake.message(card.group_chat_id, card.message_id)
    assert shown is not None
    return dict(shown)


def shown_card(desk: Desk, card: dict[str, Any]) -> dict[str, Any]:
    """The card's message as it stands now (after edits)."""
    now = desk.fake.message(card["chat"]["id"], card["message_id"])
    assert now is not None
    return dict(now)


def labels(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    return [button["text"] for row in markup["inline_keyboard"] for button in row]


def button_data(message: dict[str, Any], label: str) -> str:
    markup = message["reply_markup"]
    return str(
        next(
            button["callback_data"]
            for row in markup["inline_keyboard"]
            for button in row
            if label in button["text"]
        )
    )


def group_messages(desk: Desk, chat_id: int | None = None) -> list[ApiCall]:
    """The bot's messages into this test's Online Store group (or `chat_id`)."""
    chat_id = chat_id or desk.group
    return [
        call
        for call in desk.fake.calls_to("sendMessage")
        if call.params["chat_id"] == chat_id and call.ok
    ]


async def press(
    desk: Desk,
    message: dict[str, Any],
    label: str,
    *,
    user_id: int = ADMIN,
    chat_id: int | None = None,
    data: str | None = None,
) -> ApiCall:
    """Press a button of `message` (or send `data` as if it were one); the bot's answer to
    the press."""
    fake = desk.fake
    before = len(fake.calls_to("answerCallbackQuery"))
    fake.push_update(
        fake.callback_update(
            data or button_data(message, label),
            user_id=user_id,
            chat_id=chat_id or message["chat"]["id"],
            message_id=message["message_id"] if chat_id is None else 1,
        )
    )
    return (await fake.wait_for("answerCallbackQuery", count=before + 1))[before]


async def next_in_group(desk: Desk, before: int) -> ApiCall:
    """The bot's message number `before` (0-based) into the group, waiting for it."""
    calls = await desk.fake.wait_for(
        "sendMessage", count=before + 1, predicate=lambda c: c.params["chat_id"] == desk.group
    )
    return calls[before]


async def edits(desk: Desk, count: int) -> list[ApiCall]:
    """Wait for `count` edits of messages in this test's group."""
    return await desk.fake.wait_for(
        "editMessageText", count=count, predicate=lambda c: c.params["chat_id"] == desk.group
    )


async def staff_says(desk: Desk, text: str, *, user_id: int = ADMIN) -> ApiCall:
    """A staff member's message in the group; the bot's reply to it."""
    before = len(group_messages(desk))
    desk.fake.push_update(
        desk.fake.message_update(text, user_id=user_id, chat_id=desk.group, chat_type="supergroup")
    )
    return await next_in_group(desk, before)


async def staff_sends_file(
    desk: Desk,
    card: dict[str, Any],
    content: bytes,
    file_name: str,
    mime_type: str,
    *,
    user_id: int = ADMIN,
) -> ApiCall:
    """A staff member replies to the card with a document; the bot's reply to it.

    The fake builds no group media message nor a reply; the update is the Bot API's
    Message with a `document` and `reply_to_message`, its file served by getFile."""
    fake = desk.fake
    before = len(group_messages(desk))
    update = fake.message_update(
        "file", user_id=user_id, chat_id=desk.group, chat_type="supergroup"
    )
    message = update["message"]
    del message["text"]
    file_id = fake.add_file(content, file_name)
    message["document"] = {
        "file_id": file_id,
        "file_unique_id": "U" + file_id,
        "file_size": len(content),
        "file_name": file_name,
        "mime_type": mime_type,
    }
    message["reply_to_message"] = shown_card(desk, card)
    fake.push_update(update)
    return await next_in_group(desk, before)


def shown(call: ApiCall) -> str:
    """A message's text as the group sees it (the fake parsed the HTML)."""
    return str(call.result["text"])


# ---- The card ------------------------------------------------------------------------


async def test_a_verified_request_arrives_as_one_card_in_its_shops_group(desk: Desk) -> None:
    request = await verified(desk, "access", language="cs")
    other = await verified(desk, "deletion", shop="klingit", language="en")
    await verified(desk, "deletion", shop="kivismart")  # no support group: no card
    assert await desk.worker.poster.post_new() == 2
    # Again, and from a second process: no second card.
    assert await desk.worker.poster.post_new() == 0
    second = RequestCardWorker(desk.assistant.bot, desk.assistant.services, clock=desk.clock)
    assert await second.poster.post_new() == 0
    [call] = group_messages(desk)
    assert len(group_messages(desk, desk.other_group)) == 1
    card = await card_row(desk, request.id)
    assert (card.group_chat_id, card.message_id) == (desk.group, call.result["message_id"])
    assert call.params["parse_mode"] == "HTML"
    text = shown(call)
    assert request.deadline is not None
    # Online Store's policy speaks of deletion only, so it says nothing on a copy of one's
    # data (indexer/named_rights.py): the card says so instead of quoting deletion.
    engine = desk.assistant.services.engine
    assert await policy_quote(engine, "webstore", "access") is None
    for expected in (
        "Privacy request · Access (a copy of the customer's data)",
        f"Online Store · {request.id}",
        "Status: verified, nobody works on it yet",
        f"Due: {request.deadline.date().isoformat()}",
        "Customer's language: Čeština (cs)",
        f"Customer's e-mail: {EMAILS[request.id]}",
        "Identity confirmed by: an e-mailed code",
        "What the policy says: nothing on this; the GDPR gives the right all the same.",
    ):
        assert expected in text, (expected, text)
    # Klingit's policy does say how data is deleted: its card quotes it.
    quote = await policy_quote(engine, "klingit", "deletion")
    assert quote is not None
    [klingit_card] = group_messages(desk, desk.other_group)
    assert f"What the policy says · {quote.section}" in shown(klingit_card)
    assert quote.text[:60] in shown(klingit_card)
    assert labels(call.result) == ["▶️ Start", "⏳ Extend", "✖️ Deny"]
    # The address hides under a spoiler.
    spoilers = [e for e in call.result["entities"] if e["type"] == "spoiler"]
    assert len(spoilers) == 1
    other_card = group_messages(desk, desk.other_group)[0]
    assert other.id in shown(other_card)
    assert "Deletion of the customer's data" in shown(other_card)


async def test_start_moves_the_request_writes_the_trail_and_edits_the_card(desk: Desk) -> None:
    request = await verified(desk, "deletion")
    card = await posted_card(desk, request)
    answer = await press(desk, card, "Start", user_id=OPERATOR)
    assert answer.params.get("show_alert") is not True
    assert answer.params["text"] == "Started. The customer is told."
    [edit] = await edits(desk, 1)
    assert edit.params["message_id"] == card["message_id"]
    assert (await current(desk, request.id)).status == "in_progress"
    last = (await trail(desk, request.id))[-1]
    assert (last.actor, last.action, last.from_status, last.to_status) == (
        "operator",
        "in_progress",
        "verified",
        "in_progress",
    )
    assert last.at == desk.clock.now
    assert await notices(desk, request.id) == ["in_progress"]
    now = shown_card(desk, card)
    assert "Status: in progress" in now["text"]
    assert labels(now) == ["⏳ Extend", "✅ Complete", "✖️ Deny"]


async def test_extend_asks_months_and_reason_then_extends(desk: Desk) -> None:
    request = await verified(desk, "access")
    card = await posted_card(desk, request)
    before = len(group_messages(desk))
    await press(desk, card, "Extend")
    ask_months = await next_in_group(desk, before)
    assert "Extend" in shown(ask_months) and "2 months more at most" in shown(ask_months)
    assert labels(ask_months.result) == ["+1 month", "+2 months", "Cancel"]
    await press(desk, ask_months.result, "+2 months", user_id=OPERATOR)
    ask_reason = await next_in_group(desk, before + 1)
    assert f"why does {request.id} need 2 months more?" in shown(ask_reason)
    assert ask_reason.params["reply_markup"]["force_reply"] is True
    # The months' buttons are gone from the question.
    question = desk.fake.message(desk.group, ask_months.result["message_id"])
    assert question is not None and "reply_markup" not in question
    done = await staff_says(desk, "Our warehouse system is being migrated.", user_id=OPERATOR)
    after = await current(desk, request.id)
    assert after.extension_months == 2
    assert after.extension_reason == "Our warehouse system is being migrated."
    assert after.deadline is not None and request.deadline is not None
    assert after.deadline > request.deadline
    assert f"extended by 2 months: now due {after.deadline.date().isoformat()}" in shown(done)
    last = (await trail(desk, request.id))[-1]
    assert (last.actor, last.action, last.detail["months"]) == ("operator", "extended", 2)
    assert await notices(desk, request.id) == ["extended"]
    await edits(desk, 1)
    now = shown_card(desk, card)
    assert "Why extended: Our warehouse system is being migrated." in now["text"]
    assert "⏳ Extend" not in labels(now)  # the law allows no more


async def test_bad_extensions_are_refused_and_change_nothing(desk: Desk) -> None:
    request = await verified(desk, "access")
    card = await posted_card(desk, request)
    forged = button_data(card, "Extend").replace(":extend:", ":months:") + "3"
    answer = await press(desk, card, "", data=forged)
    assert answer.params["show_alert"] is True
    assert "an extension of 1 to 2 months is possible" in answer.params["text"]
    before = len(group_messages(desk))
    await press(desk, card, "Extend")
    ask_months = await next_in_group(desk, before)
    await press(desk, ask_months.result, "+1 month")
    await next_in_group(desk, before + 1)
    refused = await staff_says(desk, "   ")
    assert "Not done, nothing changed: an extension needs a reason" in shown(refused)
    # Still waiting for the reason; /cancel ends it.
    assert "Please send it as a text message" not in shown(refused)
    canceled = await staff_says(desk, "/cancel")
    assert shown(canceled) == "Canceled; nothing changed."
    after = await current(desk, request.id)
    assert (after.extension_months, after.status) == (0, "verified")
    assert [event.action for event in await trail(desk, request.id)] == [
        "created",
        "code_sent",
        "verified",
    ]
    assert await notices(desk, request.id) == []


async def test_an_access_request_is_completed_by_replying_to_its_card_with_the_file(
    desk: Desk,
) -> None:
    request = await verified(desk, "access")
    card = await posted_card(desk, request)
    await press(desk, card, "Start")
    await edits(desk, 1)
    before = len(group_messages(desk))
    answer = await press(desk, shown_card(desk, card), "Complete")
    assert answer.params.get("show_alert") is not True
    hint = await next_in_group(desk, before)
    assert "reply to its card with the export as a file" in shown(hint)
    assert "JSON, CSV, PDF, ZIP, HTML" in shown(hint) and "20 MB" in shown(hint)
    done = await staff_sends_file(desk, card, EXPORT, "orders.json", "application/json")
    assert f"{request.id} completed with the export ({len(EXPORT)} bytes)" in shown(done)
    assert (await current(desk, request.id)).status == "completed"
    async with desk.assistant.services.database.session() as session:
        export = (
            await session.exec(
                select(AccessExport).where(col(AccessExport.request_id) == request.id)
            )
        ).one()
    assert (export.data, export.content_type, export.filename) == (
        EXPORT,
        "application/json",
        "orders.json",
    )
    actions = [(event.actor, event.action) for event in await trail(desk, request.id)]
    # (attach_export records its upload as the shop's, whoever sent it)
    assert [action for _, action in actions[-2:]] == ["export_uploaded", "completed"]
    assert actions[-1] == ("operator", "completed")
    assert await notices(desk, request.id) == ["in_progress", "completed"]
    await edits(desk, 2)
    now = shown_card(desk, card)
    assert "Status: completed" in now["text"]
    assert EMAILS[request.id] not in now["text"]  # closed: the address is gone
    assert labels(now) == []


async def test_wrong_or_too_large_exports_are_refused_and_change_nothing(desk: Desk) -> None:
    request = await verified(desk, "access")
    card = await posted_card(desk, request)
    downloads = len(desk.fake.calls_to("getFile"))
    early = await staff_sends_file(desk, card, EXPORT, "orders.json", "application/json")
    assert "not in progress yet: press Start first" in shown(early)
    await press(desk, card, "Start")
    await edits(desk, 1)
    wrong = await staff_sends_file(desk, card, b"\x89PNG", "photo.png", "image/png")
    assert "Not done, nothing changed: an export is a JSON, CSV, PDF, ZIP, HTML file" in shown(
        wrong
    )
    assert "image/png" in shown(wrong)
    desk.assistant.services.export_policy = ExportPolicy(max_bytes=10)
    large = await staff_sends_file(desk, card, EXPORT, "orders.json", "application/json")
    assert "the export is larger than 10 bytes, the most accepted" in shown(large)
    not_staff = await staff_sends_file(
        desk, card, b"{}", "orders.json", "application/json", user_id=MEMBER
    )
    assert shown(not_staff) == REFUSED
    assert (await current(desk, request.id)).status == "in_progress"
    async with desk.assistant.services.database.session() as session:
        stored = select(AccessExport).where(col(AccessExport.request_id) == request.id)
        assert (await session.exec(stored)).all() == []
    # Refused before any download.
    assert len(desk.fake.calls_to("getFile")) == downloads


async def test_a_deletion_is_completed_with_the_outcome_of_each_system(desk: Desk) -> None:
    request = await verified(desk, "deletion")
    card = await posted_card(desk, request)
    await press(desk, card, "Start")
    await edits(desk, 1)
    before = len(group_messages(desk))
    await press(desk, shown_card(desk, card), "Complete", user_id=OPERATOR)
    ask = await next_in_group(desk, before)
    assert "One line per system" in shown(ask)
    assert "system: retained until YYYY-MM-DD because <legal basis>" in shown(ask)
    malformed = await staff_says(
        desk, "shop: erased\nbilling retained\nmail: kept forever", user_id=OPERATOR
    )
    assert "Not recorded, nothing changed:" in shown(malformed)
    assert "line 2: not “system: outcome”" in shown(malformed)
    assert "line 3: mail: “kept forever” is none of" in shown(malformed)
    assert (await current(desk, request.id)).outcomes is None
    done = await staff_says(
        desk,
        "shop: erased\nnewsletter: no_match\n"
        "billing: retained until 2035-12-31 because accounting law",
        user_id=OPERATOR,
    )
    assert f"{request.id} completed" in shown(done)
    after = await current(desk, request.id)
    assert after.status == "completed"
    assert after.outcomes == [
        {"system": "shop", "outcome": "erased"},
        {"system": "newsletter", "outcome": "no_match"},
        {
            "system": "billing",
            "outcome": "retained",
            "legal_basis": "accounting law",
            "retained_until": "2035-12-31",
        },
    ]
    last = (await trail(desk, request.id))[-1]
    assert (last.actor, last.action) == ("operator", "completed")
    assert last.detail == {"erased": 1, "no_match": 1, "retained": 1, "failed": 0}
    assert await notices(desk, request.id) == ["in_progress", "completed"]
    await edits(desk, 2)
    now = shown_card(desk, card)
    assert "billing: retained until 2035-12-31 because accounting law" in now["text"]
    assert labels(now) == []


async def test_a_failed_system_is_recorded_and_the_deletion_stays_open(desk: Desk) -> None:
    request = await verified(desk, "deletion")
    card = await posted_card(desk, request)
    await press(desk, card, "Start")
    await edits(desk, 1)
    before = len(group_messages(desk))
    await press(desk, shown_card(desk, card), "Complete")
    await next_in_group(desk, before)
    recorded = await staff_says(desk, "shop: erased\nbackup: failed")
    assert "recorded; it stays open" in shown(recorded)
    after = await current(desk, request.id)
    assert after.status == "in_progress"
    assert [entry["outcome"] for entry in after.outcomes or []] == ["erased", "failed"]
    assert (await trail(desk, request.id))[-1].action == "outcomes_reported"


async def test_deny_asks_a_reason_code_then_the_text_for_the_customer(desk: Desk) -> None:
    request = await verified(desk, "deletion", language="uk")
    card = await posted_card(desk, request)
    before = len(group_messages(desk))
    await press(desk, card, "Deny")
    ask_code = await next_in_group(desk, before)
    assert labels(ask_code.result) == [
        "Identity not verified",
        "No such customer",
        "Legal duty to keep the data",
        "Manifestly unfounded or excessive",
        "Other",
        "Cancel",
    ]
    await press(desk, ask_code.result, "Legal duty")
    ask_text = await next_in_group(desk, before + 1)
    assert "they speak Українська (uk)" in shown(ask_text)
    done = await staff_says(desk, "We must keep invoices for 10 years <by law>.")
    assert f"{request.id} denied (Legal duty to keep the data)" in shown(done)
    after = await current(desk, request.id)
    assert (after.status, after.denial_reason_code, after.denial_reason_text) == (
        "denied",
        "legal_retention",
        "We must keep invoices for 10 years <by law>.",
    )
    last = (await trail(desk, request.id))[-1]
    assert (last.actor, last.action, last.detail) == (
        "operator",
        "denied",
        {"reason_code": "legal_retention"},
    )
    assert await notices(desk, request.id) == ["denied"]
    await edits(desk, 1)
    now = shown_card(desk, card)
    assert "Denied: Legal duty to keep the data" in now["text"]
    assert "We must keep invoices for 10 years <by law>." in now["text"]
    assert labels(now) == []


# ---- Who may act ---------------------------------------------------------------------


async def assert_refused(desk: Desk, answer: ApiCall, request: PrivacyRequest) -> None:
    assert answer.params["show_alert"] is True
    assert answer.params["text"] == REFUSED
    after = await current(desk, request.id)
    assert (after.status, after.updated_at) == (request.status, request.updated_at)
    assert (await trail(desk, request.id))[-1].action == "verified"
    assert await notices(desk, request.id) == []


async def test_a_group_member_who_is_not_staff_is_refused(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    request = await verified(desk, "access")
    card = await posted_card(desk, request)
    with caplog.at_level(logging.WARNING, logger="bot.request_cards"):
        answer = await press(desk, card, "Start", user_id=MEMBER)
    await assert_refused(desk, answer, request)
    assert f"refused button 'start' on request '{request.id}'" in caplog.text
    assert "not staff of the request's shop" in caplog.text


async def test_a_forged_press_from_another_chat_is_refused(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    request = await verified(desk, "access")
    card = await posted_card(desk, request)
    with caplog.at_level(logging.WARNING, logger="bot.request_cards"):
        answer = await press(desk, card, "Start", chat_id=desk.group - 5)
    await assert_refused(desk, answer, request)
    assert "not the support group of the request's shop" in caplog.text


async def test_another_shops_admin_and_another_shops_request_are_refused(desk: Desk) -> None:
    request = await verified(desk, "access")
    theirs = await verified(desk, "access", shop="klingit")
    card = await posted_card(desk, request)
    # Klingit's admin, pressing Online Store's card in Online Store's group.
    answer = await press(desk, card, "Deny", user_id=OTHER_ADMIN)
    await assert_refused(desk, answer, request)
    # Online Store's admin, pressing a (forged) button of Klingit's request in their group.
    forged = button_data(card, "Start").replace(request.id, theirs.id)
    answer = await press(desk, card, "", data=forged)
    await assert_refused(desk, answer, theirs)
    # Klingit's admin in Online Store's group, with a button of Klingit's own request.
    answer = await press(desk, card, "", data=forged, user_id=OTHER_ADMIN)
    await assert_refused(desk, answer, theirs)


async def test_a_typed_answer_of_someone_revoked_meanwhile_is_refused(desk: Desk) -> None:
    request = await verified(desk, "access")
    card = await posted_card(desk, request)
    before = len(group_messages(desk))
    await press(desk, card, "Deny", user_id=OPERATOR)
    ask_code = await next_in_group(desk, before)
    await press(desk, ask_code.result, "Other", user_id=OPERATOR)
    await next_in_group(desk, before + 1)
    from backend.staff import revoke

    async with desk.assistant.services.database.session() as session:
        assert await revoke(session, "webstore", OPERATOR)
    refused = await staff_says(desk, "No.", user_id=OPERATOR)
    assert shown(refused) == REFUSED
    assert (await current(desk, request.id)).status == "verified"


async def test_a_reply_to_the_card_outside_a_step_gets_a_hint_not_a_policy_answer(
    desk: Desk,
) -> None:
    request = await verified(desk, "access")
    card = await posted_card(desk, request)
    before = len(group_messages(desk))
    update = desk.fake.message_update(
        "what about this one?", user_id=ADMIN, chat_id=desk.group, chat_type="supergroup"
    )
    update["message"]["reply_to_message"] = shown_card(desk, card)
    desk.fake.push_update(update)
    hint = await next_in_group(desk, before)
    assert shown(hint).startswith("To act on this request use the card's buttons.")


async def test_callback_data_fits_telegrams_limit() -> None:
    from bot.keyboards import CardCallback

    longest = CardCallback(action="reason", request="pr_" + "f" * 24, arg="manifestly_excessive")
    assert len(longest.pack().encode()) <= 64


# ---- Pure parts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no outcome given"),
        ("shop erased", "line 1: not “system: outcome”"),
        ("shop: erased\nSHOP: failed", "line 2: SHOP is named twice"),
        ("crm: gone", "line 1: crm: “gone” is none of erased, no_match, failed"),
        ("crm: retained until 2030-13-01 because tax", "“2030-13-01” is not a date"),
        ("crm: retained until 2030-01-01", "is none of erased"),
    ],
)
async def test_malformed_outcomes_name_the_line(text: str, problem: str) -> None:
    with pytest.raises(OutcomeFormatError) as raised:
        parse_outcomes(text)
    assert problem in "; ".join(raised.value.problems)


async def test_outcomes_in_the_words_staff_type() -> None:
    assert parse_outcomes(
        "shop: erased\n\n  newsletter : No Match \ncrm: RETAINED until 2031-02-03 because tax law"
    ) == [
        SystemOutcome("shop", "erased"),
        SystemOutcome("newsletter", "no_match"),
        SystemOutcome("crm", "retained", "tax law", date(2031, 2, 3)),
    ]


async def test_a_card_stays_within_telegrams_limit_whatever_was_typed() -> None:
    long = "word " * 500
    request = PrivacyRequest(
        id="pr_" + "a" * 24,
        shop_id="webstore",
        kind="deletion",
        status="denied",
        email_hash="h" * 64,
        language="de",
        due_at=T0,
        extended_until=T0 + timedelta(days=60),
        extension_months=2,
        extension_reason=long,
        denial_reason_code="other",
        denial_reason_text=long,
        outcomes=[
            {
                "system": f"system {n} " + "x" * 90,
                "outcome": "retained",
                "legal_basis": long,
                "retained_until": "2030-01-01",
            }
            for n in range(40)
        ],
    )
    quote = PolicyQuote("Section " * 10, "Policy", "quote " * 80)
    text = render_card(request, "Shop & Co <GmbH>", quote=quote, email="a@example.org")
    plain, _ = parse_telegram_html(text)
    assert len(plain) < 4096
    assert "Shop & Co <GmbH>" in plain
    assert "a@example.org" not in plain  # closed
    assert "… and 30 more" in plain


async def test_a_slow_telegram_does_not_hold_the_database(desk: Desk) -> None:
    # Issue 12, item 5: no transaction may span a network call. The card is posted, then
    # edited after a press, while Telegram hangs; meanwhile the database serves a read and
    # a write (SQLite's lock would refuse the write). The bound only keeps a regression
    # from hanging the run.
    def in_group(call: ApiCall) -> bool:
        return bool(call.params["chat_id"] == desk.group)

    request = await verified(desk, "deletion")
    gate = desk.fake.hold("sendMessage")
    posting = asyncio.create_task(desk.worker.poster.post_new())
    try:
        await desk.fake.wait_for("sendMessage", predicate=in_group)  # the card, held
        await database_serves(desk.assistant.services.database, PrivacyRequest)
    finally:
        gate.set()
    assert await posting == 1
    card = await posted_card(desk, request)

    gate = desk.fake.hold("editMessageText")
    try:
        answer = await press(desk, card, "Start", user_id=OPERATOR)
        assert answer.params["text"] == "Started. The customer is told."
        await desk.fake.wait_for("editMessageText", predicate=in_group)  # the edit, held
        await database_serves(desk.assistant.services.database, PrivacyRequest)
    finally:
        gate.set()
    await desk.fake.wait_for("editMessageText", predicate=lambda c: in_group(c) and c.ok)
    assert (await current(desk, request.id)).status == "in_progress"
    assert "Status: in progress" in shown_card(desk, card)["text"]
