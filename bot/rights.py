"""Which privacy request an answer concerns, so that it can carry the button that starts it.

A question about a right ("can I unsubscribe at any time?"), a message the classifier was
unsure about, or a quoted passage about deletion: in each case the customer is one tap from
the request instead of having to find the menu. Correction, objection and portability have
no flow of their own: objection to marketing is an unsubscribe, portability a copy of the
data, and a correction goes to a person (its words: [intents.handoff].corrections in
indexer/data/intents.toml, which the intent classifier weighs too).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.answer_engine import Understanding
from indexer.glossary import Glossary
from indexer.intents import Intent, names_correction

# Glossary concepts (indexer/data/glossary.toml) that name each request's object.
REQUEST_CONCEPTS: dict[Intent, frozenset[str]] = {
    Intent.UNSUBSCRIBE: frozenset({"opt_out"}),
    Intent.ACCESS: frozenset({"access_copy"}),
    Intent.DELETION: frozenset({"delete"}),
}
# A right the policy never names (indexer/named_rights.py): the request that exercises it;
# a detail no passage names (indexer/named_details.py): the request that helps, where one does.
NAMED_REQUESTS: dict[str, Intent] = {
    "access": Intent.ACCESS,
    "correction": Intent.HANDOFF,
    "deletion": Intent.DELETION,
    "unsubscribe": Intent.UNSUBSCRIBE,
    "ai_training": Intent.ACCESS,
    "card_details": Intent.ACCESS,
    "retention_period": Intent.DELETION,
    # What a request costs or how fast it is answered: the request itself; portability's
    # nearest is a copy; a person takes a consent withdrawn or an heir's question.
    "request_fee": Intent.ACCESS,
    "response_time": Intent.ACCESS,
    "portability": Intent.ACCESS,
    "sms_marketing": Intent.UNSUBSCRIBE,
    "consent_withdrawal": Intent.HANDOFF,
    "deceased": Intent.HANDOFF,
}
# What a silent policy still leaves the customer: the request that fits the practice asked.
PRACTICE_REQUESTS: dict[str, Intent] = {
    "marketing": Intent.UNSUBSCRIBE,
    "collection": Intent.ACCESS,
    "purposes": Intent.ACCESS,
    "sharing": Intent.ACCESS,
    "transfers": Intent.ACCESS,
    "retention": Intent.DELETION,
    "rights": Intent.ACCESS,
    "automated_decisions": Intent.ACCESS,
}


def requests_named(texts: Iterable[str], glossary: Glossary) -> list[Intent]:
    """The requests the texts name: a request's object, or a correction (asked of a person)."""
    texts = list(texts)
    found = {concept for text in texts for concept in glossary.concepts_in(text)}
    named = [intent for intent, concepts in REQUEST_CONCEPTS.items() if concepts & found]
    if any(names_correction(text) for text in texts):
        named.append(Intent.HANDOFF)
    return named


def requests_concerned(
    understanding: Understanding, glossary: Glossary, question: str
) -> list[Intent]:
    """The requests an answer should offer, most likely first (at most two)."""
    ordered: list[Intent] = []
    about = understanding.intent.about
    if about is not None and (about in REQUEST_CONCEPTS or about is Intent.HANDOFF):
        ordered.append(about)
    also = understanding.also.sentences if understanding.also is not None else ()
    for intent in requests_named([question, *understanding.quote, *also], glossary):
        if intent not in ordered:
            ordered.append(intent)
    return ordered[:2]
