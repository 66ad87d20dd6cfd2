"""Which of the customer's rights a text names: a copy of their data, its correction, its
deletion, an end to marketing.

The practice taxonomy holds the rights as one practice ("rights"), so a policy whose only
word on them is "your data can be deleted on request" covers it, and "can I get a copy of my
data?" was answered with that deletion sentence, quoted with confidence. A question about
rights that names one right, at a shop whose passages on rights never name it, asks about
something the policy is silent on; the honest answer says so and offers the request.
Unsubscribing is the same shape one practice over: "how do I unsubscribe?" at a shop whose
passages on marketing say it sends newsletters but never how to stop them got the newsletter
paragraph, quoted as if it were the way out.

The words are the glossary's (access_copy, delete, opt_out) and the correction terms of
data/intents.toml, the vocabulary the request buttons and the intent classifier use too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from indexer.intents import names_correction

# In the order a question naming several is answered about.
RIGHTS = ("access", "correction", "deletion", "unsubscribe")
_CONCEPTS = {"access_copy": "access", "delete": "deletion", "opt_out": "unsubscribe"}
# The practices (data/taxonomy.toml) whose passages would say how to exercise each right, and
# whose probability together tells whether a question asks about it at all ("Zmizí cookies,
# když se odhlásím?" names opt_out's "odhlas*" but asks about cookies).
PRACTICES: dict[str, tuple[str, ...]] = {
    "access": ("rights",),
    "correction": ("rights",),
    "deletion": ("rights",),
    "unsubscribe": ("marketing", "rights"),
}
# How sure the question must be about those practices (the practice labeller's probability).
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


def rights_a_passage_names(text: str, concepts: Iterable[str], topics: Iterable[str]) -> set[str]:
    """The rights a passage names where it speaks of them: in a passage labelled with one of
    the right's practices ("odhlásit" in a cookie paragraph is logging out)."""
    labelled = set(topics)
    return {
        right for right in rights_named(text, concepts) if labelled.intersection(PRACTICES[right])
    }


def silent_right(
    asked: frozenset[str], probabilities: Mapping[str, float], policy_names: frozenset[str]
) -> str:
    """The right a question asks about that the policy never names ("" when none is): the
    question is about that right's practices and none of the rights it names is in the
    policy's passages on them."""
    if asked & policy_names:
        return ""
    for right in RIGHTS:
        likely = sum(probabilities.get(practice, 0.0) for practice in PRACTICES[right])
        if right in asked and likely >= RIGHTS_ASKED_AT:
            return right
    return ""
