"""A typed yes or no to the bot's own question (bot/replies.py)."""

from __future__ import annotations

import pytest

from bot.replies import typed_reply


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "Yes please!",
        "ok",
        "go ahead",
        "ano, prosím",
        "Jasně",
        "tak",
        "ja gerne",
        "да",
        "так",
    ],
)
def test_yes_in_the_seven_languages(text: str) -> None:
    assert typed_reply(text) == "yes"


@pytest.mark.parametrize(
    "text", ["no", "No thanks", "not now", "ne", "nie", "nej", "nein danke", "нет, спасибо", "ні"]
)
def test_no_in_the_seven_languages(text: str) -> None:
    assert typed_reply(text) == "no"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "🙂",
        "thank you",  # courtesy alone decides nothing
        "yes no",  # both: not an answer to rely on
        "yes but how long do you keep it?",
        "How long do you keep my address?",
        "yes yes yes yes yes yes",  # longer than a reply
    ],
)
def test_anything_else_is_a_message_of_its_own(text: str) -> None:
    assert typed_reply(text) is None
