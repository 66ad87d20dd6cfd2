"""What the shop's own policy says about a request's right, for its card: the passage the
chat quotes when a customer asks about that right (the same canned question per kind), cut
to a few lines. The staff work the request with the shop's promise in front of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.answer_engine import AnswerEngine
from bot.request_cards.texts import shortened
from indexer.intents import RIGHT_QUESTIONS, Intent

QUOTE_CHARS: Final = 400


@dataclass(frozen=True)
class PolicyQuote:
    section: str
    document_title: str
    text: str


async def policy_quote(engine: AnswerEngine, shop_id: str, kind: str) -> PolicyQuote | None:
    """The best passage on the right behind `kind`; None when the policy does not say
    (the law gives the right all the same)."""
    try:
        question = RIGHT_QUESTIONS[Intent(kind)]
    except (ValueError, KeyError):
        return None
    understanding = await engine.understand(question, shop_id)
    result = understanding.result
    if not result.answered or not result.hits:
        return None
    passage = result.hits[0].passage
    sentences = understanding.quote or passage.sentences
    return PolicyQuote(
        passage.section, passage.document_title, shortened(" ".join(sentences), QUOTE_CHARS)
    )
