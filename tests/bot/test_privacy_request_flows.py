"""Privacy requests started in the chat, end to end: buttons and free text through the fake
Bot API, the one-time code through a real SMTP server on loopback, the request in SQLite."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from babel.dates import format_date
from sqlmodel import select

from backend.database import Database
from backend.models import CustomerNotice, PrivacyRequest
from backend.privacy_requests import PrivacyRequestSettings, SmtpSettings, is_suppressed
from bot.routers.privacy_requests import REQUEST, RequestFlow
from bot.shop_directory import ShopDirectory
from indexer.shops import load_shops
from tests.backend.conftest import (  # noqa: F401  (the database on SQLite and PostgreSQL)
    database_url,
    db,
    migrated_postgres,
)
from tests.bot.conftest import Assistant, assistant_running
from tests.conftest import KNOWLEDGE
from tests.support.fake_bot_api import ApiCall
from tests.support.mail_server import Mailbox

ANN = "ann@example.com"
BUTTONS = {
    "unsubscribe": "Unsubscribe from marketing",
    "access": "Get a copy of my data",
    "deletion": "Delete my data",
}


@pytest.fixture
async def assistant(
    tmp_path: Path, corpus_index: Path, mailbox: tuple[Mailbox, SmtpSettings]
) -> AsyncIterator[Assistant]:
    async with assistant_running(tmp_path, corpus_index, smtp=mailbox[1]) as running:
        yield running


@pytest.fixture
def inbox(mailbox: tuple[Mailbox, SmtpSettings]) -> Mailbox:
    return mailbox[0]


async def press(
    assistant: Assistant, call: ApiCall, label: str, *, user_id: int = 1001, language: str = "en"
) -> ApiCall:
    """Press a button and wait for the bot's next message to that chat."""
    before = len(assistant.sent_to(user_id))
    await assistant.press(call, label, user_id=user_id, language_code=language)
    calls = await assistant.fake.wait_for(
        "sendMessage", count=before + 1, predicate=lambda c: c.params["chat_id"] == user_id
    )
    return calls[before]


def shops_with(default_language: str | None = None, **options: Any) -> ShopDirectory:
    """The demo shops, with Online Store's privacy-request options (or language) changed."""
    shops = []
    for shop in load_shops(KNOWLEDGE):
        if shop.id == "webstore":
            changed = shop.privacy_requests.model_copy(update=options)
            update: dict[str, Any] = {"privacy_requests": changed}
            if default_language is not None:
                update["default_language"] = default_language
            shop = shop.model_copy(update=update)
        shops.append(shop)
    return ShopDirectory(shops)


async def requests_in_database(assistant: Assistant) -> list[PrivacyRequest]:
    async with assistant.services.database.session() as session:
        return list((await session.exec(select(PrivacyRequest))).all())


async def notices_in_database(assistant: Assistant) -> list[CustomerNotice]:
    async with assistant.services.database.session() as session:
        return list((await session.exec(select(CustomerNotice))).all())


async def start_until_code(
    assistant: Assistant, kind: str, *, user_id: int = 1001, address: str = ANN
) -> ApiCall:
    """From the menu to "type the code"; returns the bot's message asking for it."""
    menu = await assistant.say("/start webstore", user_id=user_id)
    offer = await press(assistant, menu, BUTTONS[kind], user_id=user_id)
    assert "Shall I start it?" in offer.params["text"]
    ask = await press(assistant, offer, "Confirm", user_id=user_id)
    assert "Which e-mail address does Online Store know you by?" in ask.params["text"]
    sent = await assistant.say(address, user_id=user_id)
    assert "I sent a 6-digit code" in sent.params["text"]
    return sent


@pytest.mark.parametrize("kind", ["access", "deletion"])
async def test_request_from_button_to_verified_with_its_due_date(
    assistant: Assistant, inbox: Mailbox, kind: str
) -> None:
    await start_until_code(assistant, kind)
    code = await inbox.code_for(ANN)
    done = await assistant.say(code)
    [request] = await requests_in_database(assistant)
    assert request.kind == kind and request.status == "verified"
    assert request.deadline is not None
    due = format_date(request.deadline.date(), format="long", locale="en")
    assert done.params["text"].startswith("Confirmed: Online Store must")
    assert due in done.params["text"] and "/requests" in done.params["text"]


async def test_unsubscribe_completes_at_once(assistant: Assistant, inbox: Mailbox) -> None:
    offer_text = (await start_until_code(assistant, "unsubscribe")).params["text"]
    assert ANN not in offer_text
    done = await assistant.say(await inbox.code_for(ANN))
    assert "Done: Online Store will send you no more marketing messages" in done.params["text"]
    [request] = await requests_in_database(assistant)
    assert request.status == "completed"
    async with assistant.services.database.session() as session:
        rules = assistant.services.request_rules
        assert await is_suppressed(session, "webstore", ANN, rules=rules)


async def test_free_text_request_quotes_the_policy_and_starts_the_flow(
    assistant: Assistant, inbox: Mailbox
) -> None:
    await assistant.say("/start webstore")
    offer = await assistant.say("Please delete my account and all my data")
    text = offer.params["text"]
    assert "You want the shop to delete your data." in text
    assert "<blockquote>" in text  # the policy's own passage is still quoted
    assert "Shall I start it?" in text
    ask = await press(assistant, offer, "Confirm")
    assert "e-mail address" in ask.params["text"]


async def test_a_request_typed_in_latin_letters_is_understood_and_answered_in_its_language(
    assistant: Assistant,
) -> None:
    """Russian and Ukrainian typed in Latin letters: recognised as the request they are
    (translit.py reads them back into Cyrillic) and answered in the customer's language."""
    await assistant.say("/start webstore")
    offer = await assistant.say("udalite pozhalujsta moj akkaunt i vse moi dannye")
    assert "Вы хотите, чтобы магазин удалил ваши данные." in offer.params["text"]
    # The policy's passage on deletion, found by the bot's own English question about the
    # right (which is not read as transliterated Russian, whatever the conversation's).
    assert "can be deleted on the user's request" in html.unescape(offer.params["text"])
    await assistant.say("/start webstore")
    offer = await assistant.say("vydalit bud laska mii akaunt ta vsi moi dani")
    assert "Ви хочете, щоб магазин видалив ваші дані." in offer.params["text"]
    # A short first message leaves the conversation in the customer's Telegram language
    # (too little to go by), but is still understood as the request it is.
    await assistant.say("/start webstore", user_id=1002)
    offer = await assistant.say("udalite moi dannye", user_id=1002)
    assert "You want the shop to delete your data." in offer.params["text"]


async def test_wrong_codes_then_locked_after_five_tries(
    assistant: Assistant, inbox: Mailbox
) -> None:
    await start_until_code(assistant, "access")
    code = await inbox.code_for(ANN)
    wrong = "000000" if code != "000000" else "111111"
    for tries_left in (4, 3, 2, 1):
        reply = await assistant.say(wrong)
        assert f"That code is not right. Tries left: {tries_left}." == reply.params["text"]
    locked = await assistant.say(wrong)
    assert locked.params["text"].startswith("Too many wrong codes")
    [request] = await requests_in_database(assistant)
    assert request.status == "canceled"
    assert await notices_in_database(assistant) == []  # the reply said it; no notice again
    # The right code now is just a message: the flow is over, nothing gets verified.
    await assistant.say(code)
    [request] = await requests_in_database(assistant)
    assert request.status == "canceled"


async def test_malformed_code_costs_no_try(assistant: Assistant, inbox: Mailbox) -> None:
    await start_until_code(assistant, "access")
    reply = await assistant.say("12ab")
    assert reply.params["text"].startswith("The code has 6 digits")
    wrong = await assistant.say("000000" if await inbox.code_for(ANN) != "000000" else "111111")
    assert wrong.params["text"].endswith("Tries left: 4.")


async def test_bad_email_is_asked_again_and_nothing_is_stored(
    assistant: Assistant, inbox: Mailbox
) -> None:
    menu = await assistant.say("/start webstore")
    offer = await press(assistant, menu, "Delete my data")
    await press(assistant, offer, "Confirm")
    bad = await assistant.say("ann at example dot com")
    assert "does not look like an e-mail address" in bad.params["text"]
    assert await requests_in_database(assistant) == []
    assert inbox.messages == []
    sent = await assistant.say(ANN)
    assert "I sent a 6-digit code" in sent.params["text"]
    assert len(await requests_in_database(assistant)) == 1


async def test_requests_lists_kind_status_and_due_date(
    assistant: Assistant, inbox: Mailbox
) -> None:
    empty = await assistant.say("/requests")
    assert empty.params["text"] == "You have no privacy requests."
    await start_until_code(assistant, "access")
    await assistant.say(await inbox.code_for(ANN))
    listing = await assistant.say("/requests")
    [request] = await requests_in_database(assistant)
    assert request.deadline is not None
    due = format_date(request.deadline.date(), format="long", locale="en")
    assert listing.params["text"] == (
        "Your privacy requests:\n"
        f"• A copy of my data at Online Store: confirmed, waiting for the shop (due {due})"
    )


async def test_another_user_cannot_confirm_or_verify_someone_elses_request(
    assistant: Assistant, inbox: Mailbox
) -> None:
    sent = await start_until_code(assistant, "deletion")
    code = await inbox.code_for(ANN)
    # A forged button: the other account presses Ann's "Send the code again".
    await assistant.press(sent, "Send the code again", user_id=2002)
    *_, refused = await assistant.fake.wait_for("answerCallbackQuery", count=3)
    assert refused.params["text"] == "This button is no longer valid."
    # A forged state: the other account's conversation points at Ann's request.
    [request] = await requests_in_database(assistant)
    other = FSMContext(
        storage=assistant.dispatcher.storage,
        key=StorageKey(bot_id=assistant.bot.id, chat_id=2002, user_id=2002),
    )
    await other.set_state(RequestFlow.code)
    await other.set_data({"kind": "deletion", "shop": "webstore", REQUEST: request.id})
    reply = await assistant.say(code, user_id=2002)
    assert "no longer waits for a code" in reply.params["text"]
    [request] = await requests_in_database(assistant)
    assert request.status == "identity_pending"
    # Ann's own code still works: the forged attempt used none of her tries.
    done = await assistant.say(code)
    assert done.params["text"].startswith("Confirmed:")


async def test_cancel_mid_flow_cancels_the_pending_request(
    assistant: Assistant, inbox: Mailbox
) -> None:
    await start_until_code(assistant, "access")
    code = await inbox.code_for(ANN)
    canceled = await assistant.say("/cancel")
    assert canceled.params["text"] == "Canceled. Your request is closed and will not be processed."
    [request] = await requests_in_database(assistant)
    assert request.status == "canceled"
    await assistant.say(code)  # now just a message, answered as a question
    [request] = await requests_in_database(assistant)
    assert request.status == "canceled"
    nothing = await assistant.say("/cancel")
    assert nothing.params["text"] == "There is nothing to cancel."


async def test_cancel_button_before_the_request_exists_stores_nothing(
    assistant: Assistant, inbox: Mailbox
) -> None:
    menu = await assistant.say("/start webstore")
    offer = await press(assistant, menu, "Get a copy of my data")
    canceled = await press(assistant, offer, "Cancel")
    assert canceled.params["text"] == "Canceled. Nothing was sent to the shop."
    assert await requests_in_database(assistant) == []
    # The stale Confirm button does nothing now.
    await assistant.press(offer, "Confirm")
    *_, stale = await assistant.fake.wait_for("answerCallbackQuery", count=3)
    assert stale.params["text"] == "This button is no longer valid."


async def test_a_typed_yes_confirms_and_a_typed_no_cancels(
    assistant: Assistant, inbox: Mailbox
) -> None:
    """Customers answer "Shall I start it?" in words as often as with its buttons."""
    menu = await assistant.say("/start webstore")
    offer = await press(assistant, menu, "Delete my data")
    asked = await assistant.say("Yes please!")
    assert "Which e-mail address does Online Store know you by?" in asked.params["text"]
    sent = await assistant.say(ANN)
    assert "I sent a 6-digit code" in sent.params["text"]
    # The offer's Confirm button is spent once the answer was typed.
    await assistant.press(offer, "Confirm")
    *_, stale = await assistant.fake.wait_for("answerCallbackQuery", count=2)
    assert stale.params["text"] == "This button is no longer valid."

    await press(assistant, menu, "Get a copy of my data")
    canceled = await assistant.say("нет, спасибо")  # too short to change the chat's language
    assert canceled.params["text"] == "Canceled. Nothing was sent to the shop."
    assert [r.kind for r in await requests_in_database(assistant)] == ["deletion"]


async def test_a_question_under_the_offer_is_answered_and_the_offer_stands(
    assistant: Assistant, inbox: Mailbox
) -> None:
    menu = await assistant.say("/start webstore")
    offer = await press(assistant, menu, "Delete my data")
    answer = await assistant.say("How long do you keep my address?")
    assert "<blockquote>" in answer.params["text"] and "5 years" in answer.params["text"]
    asked = await press(assistant, offer, "Confirm")
    assert "Which e-mail address" in asked.params["text"]
    assert await requests_in_database(assistant) == []


async def test_resend_honours_the_cooldown(assistant: Assistant, inbox: Mailbox) -> None:
    sent = await start_until_code(assistant, "access")
    await assistant.press(sent, "Send the code again")
    calls = await assistant.fake.wait_for("answerCallbackQuery", count=3)
    assert calls[-1].params["text"].startswith("A new code can be sent in ")
    assert calls[-1].params["show_alert"] is True
    assert len(inbox.sent_to(ANN)) == 1


async def test_resend_sends_a_new_code_to_the_same_address(
    tmp_path: Path, corpus_index: Path, mailbox: tuple[Mailbox, SmtpSettings]
) -> None:
    inbox, smtp = mailbox
    async with assistant_running(
        tmp_path,
        corpus_index,
        smtp=smtp,
        requests=PrivacyRequestSettings(code_resend_seconds=0),
    ) as assistant:
        sent = await start_until_code(assistant, "deletion")
        first = await inbox.code_for(ANN)
        again = await press(assistant, sent, "Send the code again")
        assert "Type the e-mail address again" in again.params["text"]
        other = await assistant.say("someone@example.org")
        assert "not the address you started this request with" in other.params["text"]
        await press(assistant, other, "Send the code again")
        new = await assistant.say(ANN)
        assert new.params["text"] == "I sent a new code. Type it here."
        second = await inbox.code_for(ANN, count=2)
        if second != first:
            wrong = await assistant.say(first)
            assert "not right" in wrong.params["text"]
        done = await assistant.say(second)
        assert done.params["text"].startswith("Confirmed:")


async def test_request_limit_is_refused_politely(
    tmp_path: Path, corpus_index: Path, mailbox: tuple[Mailbox, SmtpSettings]
) -> None:
    async with assistant_running(
        tmp_path, corpus_index, smtp=mailbox[1], requests=PrivacyRequestSettings(request_limit=1)
    ) as assistant:
        await start_until_code(assistant, "access")
        await assistant.say("/cancel")
        menu = await assistant.say("/start webstore")
        offer = await press(assistant, menu, "Delete my data")
        await press(assistant, offer, "Confirm")
        refused = await assistant.say(ANN)
        assert (
            "You have started 1 requests with Online Store in the last 30 days"
            in (refused.params["text"])
        )
        assert len(await requests_in_database(assistant)) == 1


async def test_texts_in_czech_for_a_czech_customer(assistant: Assistant, inbox: Mailbox) -> None:
    menu = await assistant.say("/start webstore", language_code="cs")
    offer = await press(assistant, menu, "Získat kopii mých údajů", language="cs")
    assert "Mám ji zahájit?" in offer.params["text"]
    ask = await press(assistant, offer, "Potvrdit", language="cs")
    assert "Jakou e-mailovou adresu" in ask.params["text"]
    bad = await assistant.say("ne-adresa", language_code="cs")
    assert "nevypadá jako e-mailová adresa" in bad.params["text"]
    await assistant.say(ANN, language_code="cs")
    done = await assistant.say(await inbox.code_for(ANN), language_code="cs")
    [request] = await requests_in_database(assistant)
    assert request.deadline is not None
    due = format_date(request.deadline.date(), format="long", locale="cs")
    assert done.params["text"].startswith("Potvrzeno:") and due in done.params["text"]
    listing = await assistant.say("/requests", language_code="cs")
    assert "Kopie mých údajů" in listing.params["text"] and due in listing.params["text"]


async def test_a_request_verified_by_code_is_tied_to_the_chat_and_the_shops_deadline(
    assistant: Assistant, inbox: Mailbox
) -> None:
    assistant.services.shops = shops_with(deadline_months=2)
    await start_until_code(assistant, "deletion")
    await assistant.say(await inbox.code_for(ANN))
    [request] = await requests_in_database(assistant)
    assert request.status == "verified" and request.verification == "email"
    assert request.notify_chat_id == 1001
    assert request.deadline_months == 2


async def test_a_shop_that_verifies_itself_asks_for_no_code(
    assistant: Assistant, inbox: Mailbox
) -> None:
    assistant.services.shops = shops_with(verification="shop")
    menu = await assistant.say("/start webstore")
    offer = await press(assistant, menu, BUTTONS["deletion"])
    assert "Online Store then checks that the request is yours." in offer.params["text"]
    assert "one-time code" not in offer.params["text"]
    ask = await press(assistant, offer, "Confirm")
    assert "Online Store receives it to confirm that it is you" in ask.params["text"]
    registered = await assistant.say(ANN)
    [request] = await requests_in_database(assistant)
    assert registered.params["text"] == (
        "Your request is registered. Online Store will confirm that it is really you and "
        "reply to you here. You can follow it with /requests.\n"
        f"Request number: <code>{request.id}</code>"
    )
    assert "reply_markup" not in registered.params
    assert request.status == "identity_pending" and request.verification == "shop"
    assert request.notify_chat_id == 1001
    assert inbox.messages == []
    state = FSMContext(
        storage=assistant.dispatcher.storage,
        key=StorageKey(bot_id=assistant.bot.id, chat_id=1001, user_id=1001),
    )
    assert await state.get_state() is None
    listing = await assistant.say("/requests")
    assert (
        "Deletion of my data at Online Store: waiting for the shop to confirm it is you"
        in (listing.params["text"])
    )


async def test_a_shop_that_verifies_itself_in_ukrainian(
    assistant: Assistant, inbox: Mailbox
) -> None:
    assistant.services.shops = shops_with(verification="shop")
    menu = await assistant.say("/start webstore", language_code="uk")
    offer = await press(assistant, menu, "Отримати копію моїх даних", language="uk")
    ask = await press(assistant, offer, "Підтвердити", language="uk")
    assert "отримає її, щоб підтвердити, що це ви" in ask.params["text"]
    registered = await assistant.say(ANN, language_code="uk")
    assert registered.params["text"].startswith("Ваш запит зареєстровано.")
    assert "Номер запиту: <code>pr_" in registered.params["text"]


# ---- The code's mail goes out after the commit --------------------------------------------


@pytest.fixture
async def assistant_on(
    tmp_path: Path,
    corpus_index: Path,
    mailbox: tuple[Mailbox, SmtpSettings],
    db: Database,  # noqa: F811
) -> AsyncIterator[Assistant]:
    """The assistant on SQLite and on PostgreSQL, mailing codes to the real SMTP server."""
    async with assistant_running(
        tmp_path,
        corpus_index,
        smtp=mailbox[1],
        requests=PrivacyRequestSettings(code_resend_seconds=0),
        database_url=db.url,
    ) as running:
        yield running


async def test_a_code_the_mail_server_refuses_is_said_plainly_and_leaves_nothing_open(
    assistant_on: Assistant, inbox: Mailbox
) -> None:
    assistant = assistant_on
    menu = await assistant.say("/start webstore", language_code="cs")
    offer = await press(assistant, menu, "Získat kopii mých údajů", language="cs")
    await press(assistant, offer, "Potvrdit", language="cs")
    inbox.refuse("554 5.7.1 Message refused")
    failed = await assistant.say(ANN, language_code="cs")
    assert failed.params["text"] == (
        "Kód se teď nepodařilo odeslat. Zkuste to prosím za pár minut znovu."
    )
    [request] = await requests_in_database(assistant)
    assert request.status == "canceled"  # withdrawn: nothing waits for a code never sent
    assert await notices_in_database(assistant) == []
    # The address again, once the server takes mail: a fresh request and its code.
    inbox.refuse(None)
    sent = await assistant.say(ANN, language_code="cs")
    assert sent.params["text"].startswith("Na tuto adresu jsem poslal šestimístný kód.")
    done = await assistant.say(await inbox.code_for(ANN), language_code="cs")
    assert done.params["text"].startswith("Potvrzeno:")
    assert sorted(r.status for r in await requests_in_database(assistant)) == [
        "canceled",
        "verified",
    ]


async def test_a_new_code_the_mail_server_refuses_leaves_the_first_one_working(
    assistant_on: Assistant, inbox: Mailbox
) -> None:
    assistant = assistant_on
    sent = await start_until_code(assistant, "deletion")
    first = await inbox.code_for(ANN)
    again = await press(assistant, sent, "Send the code again")
    inbox.refuse("451 4.3.0 Try again later")
    failed = await assistant.say(ANN)
    assert failed.params["text"] == (
        "I could not send the code just now. Please try again in a few minutes."
    )
    assert "Send the code again" in str(failed.params["reply_markup"])
    assert again.params["text"].startswith("Type the e-mail address again")
    done = await assistant.say(first)
    assert done.params["text"].startswith("Confirmed:")


async def test_a_mail_server_holding_a_code_keeps_nobody_else_waiting(
    assistant_on: Assistant, inbox: Mailbox
) -> None:
    assistant = assistant_on
    menu = await assistant.say("/start webstore")
    offer = await press(assistant, menu, BUTTONS["access"])
    await press(assistant, offer, "Confirm")
    inbox.hold()
    before = len(assistant.sent_to(1001))
    assistant.fake.push_update(assistant.fake.message_update(ANN))
    await inbox.holding()
    # Another customer is answered while the first one's code is still at the mail server.
    listing = await assistant.say("/requests", user_id=2002)
    assert listing.params["text"] == "You have no privacy requests."
    assert len(assistant.sent_to(1001)) == before  # still waiting for the mail server
    inbox.release()
    [*_, sent] = await assistant.fake.wait_for(
        "sendMessage", count=before + 1, predicate=lambda c: c.params["chat_id"] == 1001
    )
    assert "I sent a 6-digit code" in sent.params["text"]
