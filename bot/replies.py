"""A typed yes or no to the bot's own yes-or-no question ("Shall I start it?").

Customers answer a question in words as often as with its buttons: "yes please", "ano",
"нет, спасибо". The words are in data/replies.toml, per language; a reply is a message made
only of those words (at most five), with at least one that says yes or no and none that
says the other. Anything else is a message of its own and goes where messages go.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from typing import Literal

from indexer.tokens import words

Reply = Literal["yes", "no"]
MAX_WORDS = 5


@lru_cache(maxsize=1)
def _vocabulary() -> dict[str, frozenset[str]]:
    """The words of each kind (yes, no, courtesy) and all of them together (known)."""
    text = resources.files("bot").joinpath("data/replies.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    kinds = {
        kind: frozenset(
            word for entries in data[kind].values() for e in entries for word in words(e)
        )
        for kind in ("yes", "no", "courtesy")
    }
    return {**kinds, "known": kinds["yes"] | kinds["no"] | kinds["courtesy"]}


def typed_reply(text: str) -> Reply | None:
    """ "yes" or "no" when the message is nothing but a short answer, else None."""
    said = words(text)
    if not said or len(said) > MAX_WORDS:
        return None
    vocabulary = _vocabulary()
    if not all(word in vocabulary["known"] for word in said):
        return None
    yes = any(word in vocabulary["yes"] for word in said)
    no = any(word in vocabulary["no"] for word in said)
    if yes == no:
        return None  # neither, or both ("yes no"): not an answer to rely on
    return "yes" if yes else "no"
