"""The policy at a glance through the fake Bot API: /summary and the button under /start,
in the customer's language, a topic's quote, the shop picker without a shop, Telegram's
limits on every demo policy, and the admin's upload reply with the art. 13 check."""

from __future__ import annotations

import html
import re
from pathlib import Path

from bot.glance import render_glance
from bot.i18n import create_i18n
from indexer.coverage import policy_coverage, serving_coverage
from indexer.passages import Passage
from indexer.topics import practice_ids
from tests.bot.conftest import Assistant
from tests.bot.test_admin import folders, send_policy, shop_assistant
from tests.indexer.policy_samples import POLICY_V2, SHOP
from tests.support.fake_bot_api import ApiCall

__all__ = ["folders", "shop_assistant"]  # fixtures
TELEGRAM_LIMIT = 4096


def plain(call: ApiCall) -> str:
    """The message as the customer reads it: tags dropped, entities unescaped."""
    return html.unescape(re.sub(r"<[^>]+>", "", call.params["text"]))


def buttons(call: ApiCall) -> list[list[str]]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return [[button["text"] for button in row] for row in markup["inline_keyboard"]]


async def press(
    assistant: Assistant, call: ApiCall, label: str, language_code: str = "en"
) -> ApiCall:
    """Press a button under `call` and wait for the message it makes the bot send."""
    chat_id = call.params["chat_id"]
    before = len(assistant.sent_to(chat_id))
    await assistant.press(call, label, user_id=chat_id, language_code=language_code)
    calls = await assistant.fake.wait_for(
        "sendMessage", count=before + 1, predicate=lambda c: c.params["chat_id"] == chat_id
    )
    return calls[before]


async def test_the_card_lists_every_topic_and_a_button_quotes_one(assistant: Assistant) -> None:
    await assistant.say("/start webstore")
    card = await assistant.say("/summary")
    text = plain(card)
    lines = text.splitlines()
    assert lines[0] == "Online Store's privacy policy at a glance"
    topics = [line for line in lines if line.startswith(("✓", "✗"))]
    assert len(topics) == len(practice_ids())  # one line per topic, in the taxonomy's order
    assert topics[6].startswith("✓ How long your data is kept: Data retention")
    assert "✗ Children's data: not covered by this policy" in topics
    assert "✗ Complaining to a data protection authority: not covered by this policy" in topics
    rows = buttons(card)
    labels = [label for row in rows for label in row]
    assert len(labels) == sum(line.startswith("✓") for line in topics)
    assert all(len(row) <= 2 for row in rows) and "Retention" in labels

    quote = await press(assistant, card, "Retention")
    shown = plain(quote)
    assert shown.startswith("✓ How long your data is kept · Online Store")
    assert "<b>Data retention</b>" in quote.params["text"]
    assert "<blockquote>" in quote.params["text"]
    assert "5 years" in shown


async def test_the_card_in_the_customers_language(assistant: Assistant) -> None:
    await assistant.say("/start kivismart", language_code="de")
    card = await assistant.say("/summary", language_code="de")
    text = plain(card)
    assert text.startswith("Die Datenschutzerklärung von KIVI SMART PURCHASING auf einen Blick")
    assert "✗ Wie lange Ihre Daten gespeichert werden: dazu sagt diese Erklärung nichts" in text
    # Sections are quoted as the policy names them (Czech here).
    assert "✓ Wie Ihre Daten geschützt werden: Jak chráníme vaše informace" in text
    assert "not covered" not in text and "How long" not in text
    assert "Sicherheit" in [label for row in buttons(card) for label in row]

    quote = plain(await press(assistant, card, "Sicherheit", "de"))
    assert quote.startswith("✓ Wie Ihre Daten geschützt werden · KIVI SMART PURCHASING")
    assert "Tschechisch" in quote  # the passage is Czech: said so, then quoted as written

    await assistant.say("/start webstore", user_id=2002, language_code="uk")
    card = await assistant.say("/summary", user_id=2002, language_code="uk")
    assert "Як довго зберігаються ваші дані" in card.params["text"]


async def test_without_a_shop_the_customer_chooses_one_first(assistant: Assistant) -> None:
    reply = await assistant.say("/summary", user_id=3003)
    assert "Which shop is your question about?" in reply.params["text"]
    shops = [label for row in buttons(reply) for label in row]
    assert "Online Store" in shops and "Klingit" in shops


async def test_the_button_under_start_shows_the_card(assistant: Assistant) -> None:
    welcome = await assistant.say("/start klingit")
    assert buttons(welcome)[0] == ["📋 Policy at a glance"]
    card = await press(assistant, welcome, "Policy at a glance")
    assert plain(card).startswith("Klingit's privacy policy at a glance\n")
    help_text = await assistant.say("/help")
    assert "/summary" in help_text.params["text"]


async def test_a_stale_or_forged_topic_button_changes_nothing(assistant: Assistant) -> None:
    await assistant.say("/start webstore")
    for data in ("gl:webstore:99", "gl:nope:1"):
        before = len(assistant.fake.calls_to("answerCallbackQuery"))
        assistant.fake.push_update(
            assistant.fake.callback_update(data, user_id=1001, message_id=1, message_text="old")
        )
        answered = await assistant.fake.wait_for("answerCallbackQuery", count=before + 1)
        assert "no longer valid" in answered[-1].params.get("text", "")


async def test_every_demo_card_keeps_within_telegrams_limits(assistant: Assistant) -> None:
    index_dir = assistant.services.engine.retriever.index_dir
    for number, shop in enumerate(assistant.services.engine.retriever.shop_ids):
        user = 5000 + number
        await assistant.say(f"/start {shop}", user_id=user)
        card = await assistant.say("/summary", user_id=user)
        assert len(card.params["text"]) <= TELEGRAM_LIMIT
        labels = [label for row in buttons(card) for label in row]
        assert len(labels) == len(serving_coverage(index_dir, shop).covered) <= 100


async def test_an_admins_upload_is_answered_with_the_check(shop_assistant: Assistant) -> None:
    text = await send_policy(
        shop_assistant, f"/policy {SHOP} en", POLICY_V2.encode(), expect="index v"
    )
    assert "Disclosure check (GDPR art. 13):" in text
    assert "Missing: the right to lodge a complaint with a supervisory authority" in text
    assert "Topics covered:" in text and "marketing" in text
    # What customers ask that it leaves out, one a line.
    assert "Customers ask, and the policy does not say:\n• " in text


def test_a_card_of_a_huge_policy_stays_within_the_limits(tmp_path: Path) -> None:
    # Escaped, "&" takes five characters: two such titles a line would not fit.
    titles = [f"{n} " + "R&D " * 30 for n in range(40)]
    passages = [
        Passage("big", "p.txt", "Policy", "1", title, "text", n, "en", (), practice_ids())
        for n, title in enumerate(titles)
    ]
    coverage = policy_coverage("big", passages)
    i18n = create_i18n(tmp_path)
    with i18n.context(), i18n.use_locale("en"):
        text, keyboard = render_glance(coverage, "Big Shop", "en")
    assert len(text) <= TELEGRAM_LIMIT and text.count("✓") == len(practice_ids())
    assert "…" in text  # long section titles are shortened
    assert text.count("+39") == len(practice_ids())  # one section title a line, not two
    assert sum(len(row) for row in keyboard.inline_keyboard) == len(practice_ids())
