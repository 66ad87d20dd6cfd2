"""Which of the customer's rights a text names: a copy of their data, its correction, its
deletion.

The practice taxonomy holds the rights as one practice ("rights"), so a policy whose only
word on them is "your data can be deleted on request" covers it, and "can I get a copy of my
data?" was answered with that deletion sentence, quoted with confidence. A question about
rights that names one right, at a shop whose passages on rights never name it, asks about
something the policy is silent on; the honest answer says so and offers the request.

The words are the glossary's (access_copy, delete) and the correction terms of
data/intents.toml, the vocabulary the request buttons and the intent classifier use too.
"""

from __future__ import annotations

from collections.abc import Iterable

from indexer.intents import names_correction

# In the order a question naming several is answered about.
RIGHTS = ("access", "correction", "deletion")
_CONCEPTS = {"access_copy": "access", "delete": "deletion"}
# How sure the question must be about rights at all (the practice labeller's probability).
# On the dev files (questions, holdout, uncovered, unseen, unseen2 and the ranking training
# questions) no answerable question names a right its shop's policy leaves out, at 0.5 or
# at 0.8; 0.5 also catches "Kann ich meine Daten berichtigen lassen…?" (rights 0.76).
RIGHTS_ASKED_AT = 0.5


def rights_named(text: str, concepts: Iterable[str]) -> frozenset[str]:
    """The rights a text names, given the glossary concepts found in it."""
    named = {_CONCEPTS[concept] for concept in concepts if concept in _CONCEPTS}
    if names_correction(text):
        named.add("correction")
    return frozenset(named)


def silent_right(
    asked: frozenset[str], rights_probability: float, policy_names: frozenset[str]
) -> str:
    """The right a question asks about that the policy never names ("" when none is): the
    question is about rights and none of the rights it names is in the policy's passages on
    rights."""
    if not asked or rights_probability < RIGHTS_ASKED_AT or asked & policy_names:
        return ""
    return next(right for right in RIGHTS if right in asked)
