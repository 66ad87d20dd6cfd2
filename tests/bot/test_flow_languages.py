"""Issue 13 §4: one complete request flow in each of the seven languages, from a Telegram
client set to English: the conversation's language is the one the customer writes in, and
every message of the flow (the offer, the e-mail and code prompts, the verification e-mail,
the confirmation, /requests, /cancel) is in it."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.privacy_requests import SmtpSettings
from indexer.language import language_scores
from tests.bot.conftest import Assistant, assistant_running
from tests.support.fake_bot_api import ApiCall
from tests.support.mail_server import Mailbox

ADDRESS = "eva@example.com"
REQUESTS = {
    "en": "Please delete my account and all the personal data you have about me.",
    "cs": "Prosím smažte můj účet a všechny osobní údaje, které o mně máte.",
    "uk": "Будь ласка, видаліть мій обліковий запис і всі мої персональні дані.",
    "sv": "Snälla radera mitt konto och alla personuppgifter som ni har om mig.",
    "ru": "Пожалуйста, удалите мой аккаунт и все мои персональные данные.",
    "de": "Bitte löschen Sie mein Konto und alle persönlichen Daten, die Sie über mich haben.",
    "pl": "Proszę usunąć moje konto i wszystkie dane osobowe, które o mnie macie.",
}
POLICY_TEXT = re.compile(r"<blockquote>.*?</blockquote>|<b>.*?</b>|<i>.*?</i>", re.DOTALL)
NAMES_AND_ADDRESSES = re.compile(r"\S+@\S+|https?://\S+|Online Store|/\w+")


@pytest.fixture
async def assistant(
    tmp_path: Path, corpus_index: Path, mailbox: tuple[Mailbox, SmtpSettings]
) -> AsyncIterator[Assistant]:
    async with assistant_running(tmp_path, corpus_index, smtp=mailbox[1]) as running:
        yield running


# The detector reads a short Czech sentence as Slovak at times.
NEIGHBOURS = {"sk": "cs"}


def _languages_of(text: str) -> set[str] | None:
    """The languages the bot's own words in `text` plausibly are (the quote, titles, names
    and addresses left out); None when there is too little to tell."""
    own = NAMES_AND_ADDRESSES.sub(" ", html.unescape(POLICY_TEXT.sub(" ", text)))
    own = " ".join(own.split())
    if len(own) < 20:
        return None
    scores = language_scores(own)
    return {NEIGHBOURS.get(code, code) for code, score in scores.items() if score >= 0.3}


async def _press_first(assistant: Assistant, call: ApiCall, user_id: int) -> ApiCall:
    before = len(assistant.sent_to(user_id))
    first = call.params["reply_markup"]["inline_keyboard"][0][0]["text"]
    await assistant.press(call, first, user_id=user_id, language_code="en")
    calls = await assistant.fake.wait_for(
        "sendMessage", count=before + 1, predicate=lambda c: c.params["chat_id"] == user_id
    )
    return calls[before]


@pytest.mark.parametrize("language", list(REQUESTS))
async def test_a_whole_request_flow_speaks_the_customers_language(
    assistant: Assistant, mailbox: tuple[Mailbox, SmtpSettings], language: str
) -> None:
    inbox = mailbox[0]
    user = 7000
    said: list[ApiCall] = []

    async def say(text: str) -> ApiCall:
        reply = await assistant.say(text, user_id=user, language_code="en")
        said.append(reply)
        return reply

    await say("/start webstore")
    reply = await say(REQUESTS[language])
    # Straight to the offer, or one question first when the bot is unsure: the first button
    # goes on towards the request either way.
    while "reply_markup" in reply.params and "@" not in reply.params["text"]:
        reply = await _press_first(assistant, reply, user)
        said.append(reply)
        if len(said) > 6:
            break
    await say(ADDRESS)
    [mail] = inbox.sent_to(ADDRESS)
    code = re.search(r"\b(\d{6})\b", mail.get_content())
    assert code is not None
    await say(code.group(1))
    await say("/requests")

    texts = [call.params["text"] for call in said[1:]]  # after /start (shop chosen then)
    read = [(text, _languages_of(text)) for text in texts]
    wrong = [
        (text[:90], found) for text, found in read if found is not None and language not in found
    ]
    assert not wrong, wrong
    assert language in (_languages_of(mail.get_content()) or set()), mail.get_content()[:200]
    assert sum(found is not None for _, found in read) >= 3
