"""A typed yes or no to the bot's own question (bot/replies.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import bot
from bot.replies import typed_reply
from indexer.tokens import words


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
        "tak, chcę",
        "ja gerne",
        "да",
        "так",
    ],
)
def test_yes_in_the_seven_languages(text: str) -> None:
    assert typed_reply(text) == "yes"


@pytest.mark.parametrize(
    "text",
    [
        "no",
        "No thanks",
        "not now",
        "ne",
        "nie",
        "nie chcę",
        "nej",
        "nein danke",
        "lieber nicht",
        "нет, спасибо",
        "ні",
    ],
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


def test_every_listed_reply_is_one_word() -> None:
    """A phrase would lend each of its words the phrase's meaning ("nie chcę" made "chcę"
    say no, so "tak, chcę" read as both)."""
    data = tomllib.loads((Path(bot.__file__).parent / "data" / "replies.toml").read_text())
    for kind, languages in data.items():
        for language, entries in languages.items():
            for entry in entries:
                assert len(words(entry)) == 1, (kind, language, entry)
