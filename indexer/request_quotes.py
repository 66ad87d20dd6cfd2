"""What the bot quotes when it starts a privacy request: one rule for the bot
(bot/routers/questions.explain_right) and for the eval's answer@1 (evaluation.run)."""

from __future__ import annotations

from collections.abc import Sequence

from indexer.intents import Intent, found_by_own_words
from indexer.retriever import SearchResult


def request_quote(
    request: Intent, right: SearchResult, own: SearchResult | None, own_quote: Sequence[str]
) -> tuple[SearchResult, tuple[str, ...]] | None:
    """The passage the right's own question (intents.RIGHT_QUESTIONS) found, whole; when it
    found none, the sentences the customer's own words found, if they ask about the
    request's practice and the passage is labelled with it ("відпишіть мене від розсилки"
    finds a Ukrainian shop's newsletter passage the English "how can I unsubscribe"
    misses); None when the policy has nothing on it."""
    if right.answered:
        return right, tuple(right.hits[0].passage.sentences)
    if (
        own is not None
        and own.answered
        and found_by_own_words(request, own.practice, own.hits[0].passage.topics)
    ):
        return own, tuple(own_quote)
    return None
