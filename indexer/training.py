"""Training the intent classifier and the two practice labellers from indexer/data/training/.

`python -m indexer train-intents` and `python -m indexer train-topics` run these, print what
held-out folds say about the result, and write the weights to indexer/data/models/ with the
embedder they belong to. Same data and embedder, same weights: no randomness anywhere.

- intents/<lang>.jsonl: customer messages with their intent (and, for questions, the
  practice asked about), written by the team in seven languages;
- practice_questions.jsonl: questions per practice in seven languages, many on the
  boundaries between practices ("what do you collect" against "what for");
- passage_examples.jsonl: policy-style paragraphs with the practices they disclose;
- policy_topics.jsonl: the practices of each paragraph of the demo policies, by a verbatim
  snippet. They train the final passage labeller too; its quality is reported by leaving
  one policy out at a time, so no figure comes from a policy the labeller has seen.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np

from indexer.embedding import Embedder, EmbeddingCache, Vectors
from indexer.glossary import default_glossary
from indexer.intents import (
    LABELS,
    REQUESTS,
    RIGHTS_QUESTION,
    SURE,
    UNSURE,
    Intent,
    decide,
    intent_features,
)
from indexer.linear_model import (
    LinearModel,
    fit,
    fit_temperature,
    folds,
    out_of_fold,
    with_temperature,
)
from indexer.normalize import fold_for_match, normalize_text
from indexer.topics import NONE, PASSAGE_SURE, gated_probabilities, practice_ids, topic_features
from indexer.translit import readable

FOLDS = 5
INTENT_OPTIONS: dict[str, Any] = {"l2": 1e-2, "steps": 300, "rate": 0.03}
QUESTION_TOPIC_OPTIONS: dict[str, Any] = {"l2": 3e-3, "steps": 300, "rate": 0.03}
PASSAGE_TOPIC_OPTIONS: dict[str, Any] = {"l2": 3e-3, "steps": 300, "rate": 0.03}
# The style of the intent training set's correction requests (labelled hand-off).
CORRECTION_STYLE = "correction"
# What a request message is about, for the question-practice labeller's training.
REQUEST_PRACTICE = {
    Intent.UNSUBSCRIBE.value: "marketing",
    Intent.ACCESS.value: "rights",
    Intent.DELETION.value: "rights",
}


def _training() -> Traversable:
    return resources.files("indexer").joinpath("data/training")


def _jsonl(resource: Traversable) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(resource.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{resource.name} line {number}: {exc}") from exc
    return rows


@dataclass(frozen=True)
class IntentExample:
    text: str
    intent: str
    lang: str
    style: str
    topic: str


def read_intent_examples() -> list[IntentExample]:
    folder = _training().joinpath("intents")
    examples: list[IntentExample] = []
    for resource in sorted(folder.iterdir(), key=lambda r: r.name):
        if not resource.name.endswith(".jsonl"):
            continue
        lang = resource.name.removesuffix(".jsonl")
        for row in _jsonl(resource):
            if row["intent"] not in LABELS:
                raise ValueError(f"{resource.name}: unknown intent {row['intent']!r}")
            examples.append(
                IntentExample(
                    str(row["text"]),
                    str(row["intent"]),
                    lang,
                    str(row.get("style", "")),
                    str(row.get("topic", "")),
                )
            )
    return examples


def texts_written_in(language: str) -> list[str]:
    """The team's training messages and practice questions in `language`, as written."""
    texts = [e.text for e in read_intent_examples() if e.lang == language]
    questions = _jsonl(_training().joinpath("practice_questions.jsonl"))
    return texts + [str(row["text"]) for row in questions if row.get("lang") == language]


def _digest(texts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def _embed(embedder: Embedder, texts: Sequence[str], cache: Path | None, as_query: bool) -> Vectors:
    if cache is None:
        return embedder.embed_queries(texts) if as_query else embedder.embed_passages(texts)
    store = EmbeddingCache(cache)
    try:
        if as_query:
            return store.embed_queries(embedder, texts)
        return store.embed_passages(embedder, texts)[0]
    finally:
        store.close()


def _fold_rows(count: int) -> list[np.ndarray]:
    return folds(count, FOLDS)


def train_intent_model(
    embedder: Embedder, cache: Path | None = None, report: dict[str, Any] | None = None
) -> LinearModel:
    examples = read_intent_examples()
    # Understood as the bot understands them (translit read back into Cyrillic).
    texts = [readable(e.text, e.lang) for e in examples]
    vectors = _embed(embedder, texts, cache, as_query=True)
    glossary = default_glossary()
    x = np.stack(
        [intent_features(t, v, glossary=glossary) for t, v in zip(texts, vectors, strict=True)]
    )
    y = np.array([LABELS.index(e.intent) for e in examples])
    logits = out_of_fold(x, y, LABELS, "softmax", _fold_rows(len(y)), **INTENT_OPTIONS)
    temperature = fit_temperature(logits, y)
    if report is not None:
        report.update(_intent_report(examples, logits / temperature))
        report["temperature"] = round(temperature, 3)
    model = fit(x, y, LABELS, "softmax", **INTENT_OPTIONS)
    return with_temperature(
        model,
        temperature,
        model_id=embedder.model_id,
        examples=len(examples),
        data=_digest(e.text + e.intent for e in examples),
    )


def _intent_report(examples: list[IntentExample], logits: np.ndarray) -> dict[str, Any]:
    """Held-out (cross-validated) accuracy of what the bot would do with each message."""
    z = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    by_intent: dict[str, list[bool]] = defaultdict(list)
    by_language: dict[str, list[bool]] = defaultdict(list)
    by_style: dict[str, list[bool]] = defaultdict(list)
    asked: Counter[str] = Counter()
    for example, row in zip(examples, probabilities, strict=True):
        decision = decide(row)
        expected = Intent.QUESTION.value if example.intent == RIGHTS_QUESTION else example.intent
        hit = decision.intent.value == expected
        by_intent[expected].append(hit)
        by_language[example.lang].append(hit)
        if example.intent in {r.value for r in REQUESTS}:
            by_style[example.style].append(hit)
        if decision.unsure is not None and decision.intent.value != decision.unsure.value:
            asked[expected] += 1

    def share(values: list[bool]) -> float:
        return round(sum(values) / len(values), 4) if values else 0.0

    return {
        "cross_validated": {
            "by_intent": {k: {"accuracy": share(v), "n": len(v)} for k, v in by_intent.items()},
            "by_language": {k: share(v) for k, v in sorted(by_language.items())},
            "requests_by_style": {k: share(v) for k, v in sorted(by_style.items())},
            "asked_first": {k: round(asked[k] / len(by_intent[k]), 4) for k in by_intent},
            "sure": SURE,
            "unsure": UNSURE,
        },
        "examples": len(examples),
    }


# --- practices of questions -------------------------------------------------------------


def question_topic_examples() -> list[tuple[str, str]]:
    """(text, practice or NONE): the questions written for the practices
    (practice_questions.jsonl), and the messages of the intent training set."""
    known = set(practice_ids())
    pairs = []
    for row in _jsonl(_training().joinpath("practice_questions.jsonl")):
        topic = str(row["topic"])
        if topic != NONE and topic not in known:
            raise ValueError(f"practice_questions.jsonl: unknown practice {topic!r}")
        pairs.append((readable(str(row["text"]), row.get("lang")), topic))
    for example in read_intent_examples():
        if example.intent in {Intent.QUESTION.value, RIGHTS_QUESTION}:
            topic = example.topic if example.topic in known else NONE
        elif example.intent in REQUEST_PRACTICE:
            topic = REQUEST_PRACTICE[example.intent]
        elif example.style == CORRECTION_STYLE:
            # Asking a person to correct one's data is about the right to correction, not
            # about nothing: as "none" these taught the labeller that "my address is
            # wrong" is not about personal data.
            topic = "rights"
        elif example.intent == Intent.HANDOFF.value:
            # Asking for a person, or resenting the bot's answers, is a question about no
            # practice and not a question about something else either: as "none", 676
            # more of them (broken repairs, wrong bills) taught the labeller that "can my
            # details end up with a debt collector?" is not about personal data.
            continue
        else:
            topic = NONE
        pairs.append((readable(example.text, example.lang), topic))
    return pairs


def train_question_topics(
    embedder: Embedder, cache: Path | None = None, report: dict[str, Any] | None = None
) -> LinearModel:
    pairs = question_topic_examples()
    classes = (*practice_ids(), NONE)
    vectors = _embed(embedder, [text for text, _ in pairs], cache, as_query=True)
    glossary = default_glossary()
    x = np.stack(
        [topic_features(text, v, glossary) for (text, _), v in zip(pairs, vectors, strict=True)]
    )
    y = np.array([classes.index(topic) for _, topic in pairs])
    # Requests and questions about rights outnumber every other practice twenty to one:
    # balanced weights keep "rights" from swallowing the rest.
    counts = np.bincount(y, minlength=len(classes)).astype(np.float64)
    balance = 1.0 / np.maximum(counts[y], 1.0)
    options = {**QUESTION_TOPIC_OPTIONS, "sample_weight": balance}
    logits = out_of_fold(x, y, classes, "softmax", _fold_rows(len(y)), **options)
    temperature = fit_temperature(logits, y)
    if report is not None:
        predicted = logits.argmax(axis=1)
        report["cross_validated"] = per_label_scores(
            [[classes[i]] for i in y], [[classes[i]] for i in predicted], classes
        )
        report["examples"] = len(pairs)
    model = fit(x, y, classes, "softmax", **options)
    return with_temperature(
        model,
        temperature,
        model_id=embedder.model_id,
        examples=len(pairs),
        data=_digest(text + topic for text, topic in pairs),
    )


# --- practices of passages --------------------------------------------------------------


@dataclass(frozen=True)
class LabelledPassage:
    text: str
    topics: tuple[str, ...]
    group: str  # "synthetic", or the shop a real policy passage belongs to


def synthetic_passages() -> list[LabelledPassage]:
    return [
        LabelledPassage(str(row["text"]), tuple(row["topics"]), "synthetic")
        for row in _jsonl(_training().joinpath("passage_examples.jsonl"))
    ]


def policy_labels() -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """shop -> (folded snippet, practices) for the labelled paragraphs of the demo policies."""
    labels: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for row in _jsonl(_training().joinpath("policy_topics.jsonl")):
        snippet = " ".join(fold_for_match(normalize_text(str(row["text"]))).split())
        labels[str(row["shop"])].append((snippet, tuple(row["topics"])))
    return labels


def gold_topics(text: str, labels: list[tuple[str, tuple[str, ...]]]) -> tuple[str, ...] | None:
    """The practices of the labelled paragraphs a passage holds; None if it holds none."""
    haystack = " ".join(fold_for_match(text).split())
    found = [topics for snippet, topics in labels if snippet and snippet in haystack]
    if not found:
        return None
    return tuple(sorted({topic for topics in found for topic in topics}))


def labelled_policy_passages(knowledge_dir: Path) -> list[LabelledPassage]:
    """The demo policies' passages (as the index splits them) with their gold practices."""
    from indexer.build import shop_passages
    from indexer.settings import IndexerSettings
    from indexer.shops import load_shops

    labels = policy_labels()
    settings = IndexerSettings(knowledge_dir=knowledge_dir)
    out = []
    for shop in load_shops(knowledge_dir):
        if shop.id not in labels:
            continue
        passages, _ = shop_passages(shop, settings)
        for passage in passages:
            gold = gold_topics(passage.text, labels[shop.id])
            if gold is not None:
                out.append(LabelledPassage(passage.embedding_text, gold, shop.id))
    return out


def _passage_matrix(
    embedder: Embedder, passages: list[LabelledPassage], cache: Path | None
) -> tuple[np.ndarray, np.ndarray]:
    classes = practice_ids()
    vectors = _embed(embedder, [p.text for p in passages], cache, as_query=False)
    glossary = default_glossary()
    x = np.stack(
        [topic_features(p.text, v, glossary) for p, v in zip(passages, vectors, strict=True)]
    )
    y = np.array([[float(c in p.topics) for c in classes] for p in passages])
    return x, y


def train_passage_topics(
    embedder: Embedder,
    cache: Path | None = None,
    report: dict[str, Any] | None = None,
    knowledge_dir: Path | None = None,
) -> LinearModel:
    from indexer.settings import IndexerSettings

    knowledge = knowledge_dir or IndexerSettings().knowledge_dir
    passages = synthetic_passages() + labelled_policy_passages(knowledge)
    classes = practice_ids()
    x, y = _passage_matrix(embedder, passages, cache)
    groups = [p.group for p in passages]
    if report is not None:
        report.update(_passage_report(x, y, groups, classes, [p.text for p in passages]))
    model = fit(x, y, classes, "sigmoid", **PASSAGE_TOPIC_OPTIONS)
    return with_temperature(
        model,
        1.0,
        model_id=embedder.model_id,
        examples=len(passages),
        data=_digest(p.text + ",".join(p.topics) for p in passages),
    )


def _passage_report(
    x: np.ndarray,
    y: np.ndarray,
    groups: list[str],
    classes: Sequence[str],
    texts: Sequence[str],
) -> dict[str, Any]:
    """Each demo policy labelled by a model trained without it (and synthetic-only), with
    the cues applied as the build applies them."""
    shops = sorted(set(groups) - {"synthetic"})
    truth: list[list[str]] = []
    left_out: list[list[str]] = []
    synthetic_only: list[list[str]] = []
    covered_gold: dict[str, set[str]] = {}
    covered: dict[str, set[str]] = {}
    synthetic = np.array([g == "synthetic" for g in groups])
    only = fit(x[synthetic], y[synthetic], classes, "sigmoid", **PASSAGE_TOPIC_OPTIONS)
    for shop in shops:
        held = np.array([g == shop for g in groups])
        held_texts = [t for t, h in zip(texts, held, strict=True) if h]
        model = fit(x[~held], y[~held], classes, "sigmoid", **PASSAGE_TOPIC_OPTIONS)
        rows = gated_probabilities(model, held_texts, x[held])
        for row, wanted in zip(rows, y[held], strict=True):
            truth.append([c for c, v in zip(classes, wanted, strict=True) if v])
            left_out.append([c for c, p in zip(classes, row, strict=True) if p >= PASSAGE_SURE])
        for row in gated_probabilities(only, held_texts, x[held]):
            synthetic_only.append(
                [c for c, p in zip(classes, row, strict=True) if p >= PASSAGE_SURE]
            )
        covered_gold[shop] = {c for c, v in zip(classes, y[held].max(axis=0), strict=True) if v}
        covered[shop] = {c for labels in left_out[-int(held.sum()) :] for c in labels}
    return {
        "leave_one_policy_out": per_label_scores(truth, left_out, classes),
        "synthetic_only": per_label_scores(truth, synthetic_only, classes),
        "coverage_leave_one_policy_out": coverage_scores(covered_gold, covered),
        "examples": len(groups),
    }


def per_label_scores(
    truth: Sequence[Collection[str]], predicted: Sequence[Collection[str]], classes: Sequence[str]
) -> dict[str, Any]:
    """Precision and recall per label and micro-averaged, for (multi-)label predictions."""
    out: dict[str, Any] = {}
    totals = [0, 0, 0]
    for name in classes:
        tp = sum(name in t and name in p for t, p in zip(truth, predicted, strict=True))
        fp = sum(name not in t and name in p for t, p in zip(truth, predicted, strict=True))
        fn = sum(name in t and name not in p for t, p in zip(truth, predicted, strict=True))
        totals = [totals[0] + tp, totals[1] + fp, totals[2] + fn]
        out[name] = {
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None,
            "n": tp + fn,
        }
    tp, fp, fn = totals
    out["micro"] = {
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "n": tp + fn,
    }
    return out


def coverage_scores(
    gold: Mapping[str, Collection[str]], predicted: Mapping[str, Collection[str]]
) -> dict[str, Any]:
    """Per policy and micro-averaged over the policies, the precision and recall of its
    "covered" practices (`predicted`) against the hand-labelled ones (`gold`)."""
    out: dict[str, Any] = {}
    hits = labelled = wanted = 0
    for shop in sorted(predicted):
        truth, found = set(gold[shop]), set(predicted[shop])
        hit = len(truth & found)
        hits, labelled, wanted = hits + hit, labelled + len(found), wanted + len(truth)
        out[shop] = {
            "precision": round(hit / len(found), 3) if found else None,
            "recall": round(hit / len(truth), 3) if truth else None,
            "missed": sorted(truth - found),
            "extra": sorted(found - truth),
        }
    out["micro"] = {
        "precision": round(hits / labelled, 3) if labelled else None,
        "recall": round(hits / wanted, 3) if wanted else None,
    }
    return out
