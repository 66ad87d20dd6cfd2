"""The retrieval eval: recall, MRR and out-of-scope rejection on a labelled question set.

A question file has one JSON object per line: id, shop (an id or an alias such as the seed
file's stem), lang, question, gold (substrings of the shop's policy; [] when out of
scope) and intent. Gold strings go through the same normalisation as the passages.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.errors import PolicyError
from indexer.examples import folded, holds_any
from indexer.intents import (
    REQUESTS,
    RIGHT_QUESTIONS,
    Intent,
    IntentRecogniser,
    beside_the_answer,
    expected_intent,
    intent_accuracy,
)
from indexer.ranking import Mode
from indexer.request_quotes import request_quote
from indexer.retriever import Retriever, SearchResult
from indexer.training import per_label_scores
from indexer.translit import readable

INTENTS = (
    "question",
    "unsubscribe",
    "access",
    "deletion",
    "handoff",
    "greeting",
    "thanks",
    "out_of_scope",
    "uncovered",
)
DEPTH = 10


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    shop: str
    lang: str
    question: str
    gold: list[str]
    intent: str
    topic: str = ""  # the practice asked about (taxonomy id or "none"), where labelled

    @property
    def in_scope(self) -> bool:
        return bool(self.gold)

    @property
    def out_of_scope(self) -> bool:
        return self.intent == "out_of_scope"

    @property
    def uncovered(self) -> bool:
        """About privacy, but the shop's policy does not answer it."""
        return self.intent == "uncovered"


def read_questions(path: Path) -> list[EvalQuestion]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            question = EvalQuestion(
                id=str(record["id"]),
                shop=str(record["shop"]),
                lang=str(record["lang"]),
                question=str(record["question"]),
                gold=[str(gold) for gold in record["gold"]],
                intent=str(record["intent"]),
                topic=str(record.get("topic", "")),
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise PolicyError(path, f"line {number}: not a question record ({exc})") from exc
        if question.intent not in INTENTS:
            raise PolicyError(
                path, f"line {number}: intent {question.intent!r} is not one of {INTENTS}"
            )
        questions.append(question)
    if not questions:
        raise PolicyError(path, "no questions")
    return questions


def _targets(gold: Iterable[str]) -> list[str]:
    return [folded(text) for text in gold]


def _holds(text: str, targets: list[str]) -> bool:
    return holds_any(text, targets)


def gold_rank(result: SearchResult, gold: Iterable[str]) -> int | None:
    """1-based rank of the first hit that contains any gold string, else None."""
    targets = _targets(gold)
    for rank, hit in enumerate(result.hits, start=1):
        if _holds(hit.passage.text, targets):
            return rank
    return None


def quote_holds_answer(quote: Iterable[str], gold: Iterable[str]) -> bool:
    """Whether the quoted sentences contain a gold string (folded like the passages)."""
    return _holds(" ".join(quote), _targets(gold))


@dataclass(frozen=True)
class Outcome:
    question: EvalQuestion
    result: SearchResult
    rank: int | None
    same_language: bool
    intent: str | None = None  # what the bot would make of it (None: not measured)
    quote: tuple[str, ...] = ()  # what the bot would quote from the top passage
    # The request the bot would ask about ("Shall I start…?") when not sure enough to act.
    asked: str | None = None
    # What the bot's reply quotes when the intent takes it past the answer: the passage on
    # the right when it starts a request, nothing when it brings in a person or greets
    # (None: answered as a question, or the intent not measured).
    routed_quote: tuple[str, ...] | None = None
    # The second passage's sentences the answer quotes after the first's, when the two score
    # about the same (Retriever.also_quote); () when it quotes one.
    also: tuple[str, ...] = ()

    @property
    def quote_hit(self) -> bool:
        """Answered as a question, the sentences the bot quotes would hold the answer."""
        return self.result.answered and quote_holds_answer(
            self.quote + self.also, self.question.gold
        )

    @property
    def first_quote_hit(self) -> bool:
        """The same, from the best passage's quote alone."""
        return self.result.answered and quote_holds_answer(self.quote, self.question.gold)

    @property
    def answer_hit(self) -> bool:
        """The bot's reply quotes sentences that hold the answer (after "what does the
        policy say?" when it asks first which the customer meant)."""
        if self.routed_quote is not None:
            return quote_holds_answer(self.routed_quote, self.question.gold)
        return self.quote_hit


def run(
    retriever: Retriever,
    questions: list[EvalQuestion],
    mode: Mode = "hybrid",
    recogniser: IntentRecogniser | None = None,
) -> list[Outcome]:
    # As the bot does: the customer's language is known (the conversation's), and Russian or
    # Ukrainian typed in Latin letters is understood in Cyrillic.
    texts = [readable(q.question, q.lang) for q in questions]
    vectors = retriever.embed_questions(texts)
    rights: dict[tuple[Intent, str, str], SearchResult] = {}
    outcomes = []
    for question, text, vector in zip(questions, texts, vectors, strict=True):
        result = retriever.search(
            text,
            question.shop,
            DEPTH,
            mode=mode,
            query_vector=vector,
            language=question.lang,
        )
        shop_languages = set(retriever.shop_languages(result.shop_id))
        rank = gold_rank(result, question.gold) if question.in_scope else None
        recognised = (
            beside_the_answer(recogniser.recognise(text, vector), result.practice)
            if recogniser is not None
            else None
        )
        intent = recognised.intent.value if recognised is not None else None
        asked = (
            recognised.unsure.value
            if recognised is not None
            and recognised.intent is Intent.QUESTION
            and recognised.unsure is not None
            else None
        )
        quote = tuple(retriever.quote(result, result.hits[0], vector)) if result.hits else ()
        also = retriever.also_quote(result, vector)
        routed = None
        if recognised is not None and recognised.intent is not Intent.QUESTION:
            routed = _routed_quote(retriever, recognised.intent, question, result, quote, rights)
        outcomes.append(
            Outcome(
                question,
                result,
                rank,
                question.lang in shop_languages,
                intent,
                quote,
                asked,
                routed,
                also.sentences if also is not None else (),
            )
        )
    return outcomes


def _routed_quote(
    retriever: Retriever,
    intent: Intent,
    question: EvalQuestion,
    own: SearchResult,
    own_quote: tuple[str, ...],
    rights: dict[tuple[Intent, str, str], SearchResult],
) -> tuple[str, ...]:
    """What the bot quotes when it takes a message as `intent`: for a request with a flow,
    what bot/routers/questions.explain_right shows before offering it (request_quotes.py;
    the right's search is done once per shop and language); nothing for a person, a
    greeting or thanks."""
    if intent not in RIGHT_QUESTIONS:
        return ()
    key = (intent, question.shop, question.lang)
    if key not in rights:
        rights[key] = retriever.search(
            RIGHT_QUESTIONS[intent], question.shop, language=question.lang
        )
    found = request_quote(intent, rights[key], own, own_quote)
    return found[1] if found is not None else ()


def _retrieval(outcomes: list[Outcome]) -> dict[str, float | int]:
    scored = [o for o in outcomes if o.question.in_scope]
    if not scored:
        return {"recall@1": 0.0, "recall@3": 0.0, "mrr@10": 0.0, "n": 0}
    ranks = [o.rank for o in scored]
    return {
        "recall@1": round(float(np.mean([r == 1 for r in ranks])), 4),
        "recall@3": round(float(np.mean([r is not None and r <= 3 for r in ranks])), 4),
        "mrr@10": round(float(np.mean([1.0 / r if r else 0.0 for r in ranks])), 4),
        "n": len(scored),
    }


def summarize(outcomes: list[Outcome], mode: Mode = "hybrid") -> dict[str, Any]:
    overall = _retrieval(outcomes)
    same = _retrieval([o for o in outcomes if o.same_language])
    cross = _retrieval([o for o in outcomes if not o.same_language])
    by_lang: dict[str, list[Outcome]] = defaultdict(list)
    by_shop: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_lang[outcome.question.lang].append(outcome)
        by_shop[outcome.result.shop_id].append(outcome)
    in_scope = [o for o in outcomes if o.question.in_scope]
    out_of_scope = [o for o in outcomes if o.question.out_of_scope]
    uncovered = [o for o in outcomes if o.question.uncovered]
    topical = [o for o in outcomes if o.question.topic]
    return {
        "mode": mode,
        "questions": len(outcomes),
        "in_scope": len(in_scope),
        "out_of_scope": len(out_of_scope),
        "uncovered": len(uncovered),
        "answer@1": round(float(np.mean([o.answer_hit for o in in_scope])), 4) if in_scope else 0.0,
        # The same, had every message been answered as a question (the figure before the
        # eval routed by intent, and the one without a recogniser).
        "quote@1": round(float(np.mean([o.quote_hit for o in in_scope])), 4) if in_scope else 0.0,
        # The best passage's quote alone, without the second one quoted beside it.
        "first_quote@1": round(float(np.mean([o.first_quote_hit for o in in_scope])), 4)
        if in_scope
        else 0.0,
        "also_quoted": round(
            float(np.mean([bool(o.also) for o in outcomes if o.result.answered])), 4
        )
        if any(o.result.answered for o in outcomes)
        else 0.0,
        "customer_language@1": _customer_language(in_scope),
        "recall@1": overall["recall@1"],
        "recall@3": overall["recall@3"],
        "mrr@10": overall["mrr@10"],
        "same_language": {k: same[k] for k in ("recall@3", "mrr@10", "n")},
        "cross_lingual": {k: cross[k] for k in ("recall@3", "mrr@10", "n")},
        "by_lang": {
            lang: {k: part[k] for k in ("recall@3", "n")}
            for lang, part in sorted((lang, _retrieval(items)) for lang, items in by_lang.items())
        },
        "by_shop": {
            shop: {k: part[k] for k in ("recall@3", "n")}
            for shop, part in sorted((shop, _retrieval(items)) for shop, items in by_shop.items())
        },
        "threshold": outcomes[0].result.threshold if outcomes else None,
        "out_of_scope_rejected": _share(out_of_scope, rejected=True),
        "in_scope_rejected": _share(in_scope, rejected=True),
        # Said to be uncovered: no passage quoted as the answer (the policy is silent on the
        # practice asked about, or nothing is close enough).
        "uncovered_said": _share(uncovered, rejected=True),
        "uncovered_said_silent": round(sum(o.result.silent for o in uncovered) / len(uncovered), 4)
        if uncovered
        else 0.0,
        "question_practices": per_label_scores(
            [[o.question.topic] for o in topical],
            [[o.result.practice.practice] for o in topical],
            sorted({o.question.topic for o in topical}),
        )
        if topical
        else None,
        "index_version": outcomes[0].result.index_version if outcomes else None,
        "intents": intent_accuracy(
            (expected_intent(o.question.intent), o.intent) for o in outcomes if o.intent is not None
        )
        if any(o.intent is not None for o in outcomes)
        else None,
        "requests_acted_or_asked": _acted_or_asked(outcomes),
    }


def _acted_or_asked(outcomes: list[Outcome]) -> dict[str, dict[str, float | int]] | None:
    """Per request: the share of those messages the bot acts on, or asks about before
    acting ("Shall I start a deletion request…?", one tap from the flow), rather than
    missing. The intents' accuracy counts the question asked as a miss."""
    requests = {r.value for r in REQUESTS}
    report: dict[str, dict[str, float | int]] = {}
    for name in sorted(requests):
        mine = [o for o in outcomes if o.intent is not None and o.question.intent == name]
        if mine:
            offered = [o.intent == name or o.asked == name for o in mine]
            report[name] = {"share": round(sum(offered) / len(mine), 4), "n": len(mine)}
    return report or None


def _in_customer_language(outcome: Outcome) -> bool:
    result = outcome.result
    return result.answered and result.hits[0].passage.language == outcome.question.lang


def _customer_language(in_scope: list[Outcome]) -> dict[str, float | int]:
    """Among the questions whose shop has a version in the question's language: the share
    answered with a quote in that language. And among those whose answer itself is written
    in that language (the gold passage found, in that language: in a document that mixes
    two languages, some answers exist in one only)."""
    readable = [o for o in in_scope if o.same_language]
    written = [
        o
        for o in readable
        if o.rank is not None and o.result.hits[o.rank - 1].passage.language == o.question.lang
    ]

    def share(outcomes: list[Outcome]) -> float:
        return (
            round(float(np.mean([_in_customer_language(o) for o in outcomes])), 4)
            if outcomes
            else 0.0
        )

    return {
        "share": share(readable),
        "n": len(readable),
        "answer_written_in_it": share(written),
        "n_written": len(written),
    }


def _share(outcomes: list[Outcome], rejected: bool) -> float:
    if not outcomes:
        return 0.0
    return round(sum((not o.result.answered) == rejected for o in outcomes) / len(outcomes), 4)


def misses(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """What went wrong, for a person tuning the engine."""
    report = []
    for o in outcomes:
        wrong_rank = o.question.in_scope and (o.rank is None or o.rank > 3)
        wrong_gate = (o.question.in_scope and not o.result.answered) or (
            (o.question.out_of_scope or o.question.uncovered) and o.result.answered
        )
        wrong_quote = o.question.in_scope and o.result.answered and not o.answer_hit
        if wrong_rank or wrong_gate or wrong_quote:
            top = o.result.hits[0].passage if o.result.hits else None
            report.append(
                {
                    "id": o.question.id,
                    "question": o.question.question,
                    "rank": o.rank,
                    "confidence": round(o.result.confidence, 3),
                    "features": [round(f, 3) for f in o.result.features],
                    "top_section": top.section if top else None,
                    "practice": [o.result.practice.practice, o.result.practice.probability],
                    "covered": o.result.covered,
                    "intent": o.intent,
                    "quote": " ".join(
                        o.quote + o.also if o.routed_quote is None else o.routed_quote
                    ),
                    "why": "rank"
                    if wrong_rank
                    else "gate"
                    if wrong_gate
                    else "quote"
                    if o.routed_quote is None
                    else "intent",
                }
            )
    return report
