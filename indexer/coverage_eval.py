"""How well the glance card's "covered" matches the labelled paragraphs, policy by policy:
`python -m indexer coverage-eval`.

The truth for "policy X covers practice P" is that some paragraph of X labelled by hand
(data/training/policy_topics.jsonl) has P. The prediction is what the card shows: every
passage of X labelled as the build labels it, and P covered when some passage has it
(indexer.coverage).

The passage labeller is trained on those same labelled paragraphs, so its labels of the
demo policies are in-sample and say little. The honest figure leaves one policy out:
the labeller is trained again without that policy's paragraphs (the synthetic paragraphs
and the other four policies), then labels it. A policy-level threshold on the passages'
probabilities (P covered when some passage reaches it) is chosen within the training
policies only (nested: left out twice) and reported beside it.

`--policies FILE` measures the committed labeller on policies it has never seen: a JSONL of
paragraphs ({"policy", "lang", "text", "topics"}), each labelled by hand. Every paragraph is
labelled as the build labels a passage, and the card's "covered" compared per policy.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.coverage import policy_coverage
from indexer.embedding import Embedder
from indexer.glossary import default_glossary
from indexer.linear_model import LinearModel, fit
from indexer.passages import Passage
from indexer.topics import (
    PASSAGE_SURE,
    PracticeLabeller,
    gated_probabilities,
    practice_ids,
    topic_features,
)
from indexer.training import (
    PASSAGE_TOPIC_OPTIONS,
    _embed,
    _passage_matrix,
    coverage_scores,
    labelled_policy_passages,
    per_label_scores,
    policy_labels,
    synthetic_passages,
)

# The policy-level thresholds the nested choice picks from.
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.1, 0.91, 0.05))


def _shop_passages(knowledge_dir: Path) -> dict[str, list[Passage]]:
    """Every passage of each labelled demo policy, as the index splits them."""
    from indexer.build import shop_passages
    from indexer.settings import IndexerSettings
    from indexer.shops import load_shops

    labelled = policy_labels()
    settings = IndexerSettings(knowledge_dir=knowledge_dir)
    return {
        shop.id: shop_passages(shop, settings)[0]
        for shop in load_shops(knowledge_dir)
        if shop.id in labelled
    }


def gold_coverage() -> dict[str, frozenset[str]]:
    """Per demo policy, the practices some labelled paragraph of it has."""
    return {
        shop: frozenset(topic for _, topics in rows for topic in topics)
        for shop, rows in policy_labels().items()
    }


def _covered(shop: str, passages: list[Passage], probabilities: np.ndarray, at: float) -> set[str]:
    """What the card would call covered, labelling each passage at `at` (the build's
    decision at PASSAGE_SURE)."""
    classes = practice_ids()
    labelled = [
        passage.with_topics(tuple(c for c, p in zip(classes, row, strict=True) if p >= at))
        for passage, row in zip(passages, probabilities, strict=True)
    ]
    return set(policy_coverage(shop, labelled).covered)


def _f1(gold: dict[str, frozenset[str]], maxima: dict[str, np.ndarray], at: float) -> float:
    classes = practice_ids()
    hit = found = truth = 0
    for shop, row in maxima.items():
        covered = {c for c, p in zip(classes, row, strict=True) if p >= at}
        hit += len(covered & gold[shop])
        found += len(covered)
        truth += len(gold[shop])
    return 2 * hit / (found + truth) if found + truth else 0.0


def choose_threshold(gold: dict[str, frozenset[str]], maxima: dict[str, np.ndarray]) -> float:
    """The threshold of the best F1 over these policies; between equals, the one nearest
    the passage decision."""
    return max(THRESHOLDS, key=lambda t: (_f1(gold, maxima, t), -abs(t - PASSAGE_SURE)))


def evaluate_coverage(
    embedder: Embedder, knowledge_dir: Path, cache: Path | None = None
) -> dict[str, Any]:
    """The report of `python -m indexer coverage-eval` (see the module's docstring)."""
    training = synthetic_passages() + labelled_policy_passages(knowledge_dir)
    x, y = _passage_matrix(embedder, training, cache)
    groups = np.array([p.group for p in training])
    gold = gold_coverage()
    shops = _shop_passages(knowledge_dir)
    classes = practice_ids()

    glossary = default_glossary()

    def features(passages: Sequence[Passage]) -> np.ndarray:
        texts = [p.embedding_text for p in passages]
        vectors = _embed(embedder, texts, cache, as_query=False)
        return np.stack(
            [topic_features(t, v, glossary) for t, v in zip(texts, vectors, strict=True)]
        )

    shop_x = {shop: features(passages) for shop, passages in shops.items()}

    def model_without(*left_out: str) -> LinearModel:
        keep = ~np.isin(groups, left_out)
        return fit(x[keep], y[keep], classes, "sigmoid", **PASSAGE_TOPIC_OPTIONS)

    shop_texts = {shop: [p.embedding_text for p in passages] for shop, passages in shops.items()}

    def labelled(model: LinearModel, shop: str) -> np.ndarray:
        """The passages' probabilities as the build labels them (cues applied)."""
        return gated_probabilities(model, shop_texts[shop], shop_x[shop])

    in_sample = PracticeLabeller(embedder).passage_model
    left_out: dict[str, np.ndarray] = {}
    for shop in shops:
        left_out[shop] = labelled(model_without(shop), shop)

    # The nested choice: for each policy, a threshold chosen on the other policies, each of
    # them labelled by a model that saw neither it nor the policy being measured.
    chosen: dict[str, float] = {}
    for shop in shops:
        inner = {
            other: labelled(model_without(shop, other), other).max(axis=0)
            for other in shops
            if other != shop
        }
        chosen[shop] = choose_threshold(gold, inner)

    # The same choice made on all the policies: what PASSAGE_SURE should be, by the
    # procedure the nested figure measures.
    on_all = choose_threshold(gold, {shop: left_out[shop].max(axis=0) for shop in shops})

    def covered_by(probabilities: dict[str, np.ndarray], at: dict[str, float]) -> dict[str, Any]:
        return {
            shop: _covered(shop, passages, probabilities[shop], at[shop])
            for shop, passages in shops.items()
        }

    sure = dict.fromkeys(shops, PASSAGE_SURE)
    report: dict[str, Any] = {
        "leave_one_policy_out": coverage_scores(gold, covered_by(left_out, sure)),
        "in_sample": coverage_scores(
            gold,
            covered_by({s: labelled(in_sample, s) for s in shops}, sure),
        ),
        "policy_threshold_nested": {
            **coverage_scores(gold, covered_by(left_out, chosen)),
            "thresholds": chosen,
        },
        "leave_one_policy_out_by_threshold": {
            str(t): coverage_scores(gold, covered_by(left_out, dict.fromkeys(shops, t)))["micro"]
            for t in THRESHOLDS
        },
        "passage_sure": PASSAGE_SURE,
        "threshold_chosen_on_all": on_all,
        "policies": {shop: len(passages) for shop, passages in shops.items()},
    }
    return report


def read_labelled_policies(path: Path) -> dict[str, list[tuple[str, frozenset[str]]]]:
    """policy -> (paragraph, practices) from a JSONL of hand-labelled paragraphs; ValueError
    naming the line for a malformed row or an unknown practice."""
    known = set(practice_ids())
    policies: dict[str, list[tuple[str, frozenset[str]]]] = defaultdict(list)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            policy, text, topics = str(row["policy"]), str(row["text"]), list(row["topics"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: not a labelled paragraph ({error})") from error
        unknown = sorted(set(topics) - known)
        if unknown:
            raise ValueError(f"{path}:{number}: unknown practice {', '.join(unknown)}")
        policies[policy].append((text, frozenset(topics)))
    return dict(policies)


def evaluate_unseen_policies(embedder: Embedder, path: Path) -> dict[str, Any]:
    """The committed labeller's "covered" on hand-labelled policies it was not trained on,
    per policy and micro-averaged, and per paragraph (micro over the practices)."""
    labeller = PracticeLabeller(embedder)
    gold: dict[str, frozenset[str]] = {}
    predicted: dict[str, set[str]] = {}
    truths: list[frozenset[str]] = []
    labels: list[tuple[str, ...]] = []
    for policy, rows in read_labelled_policies(path).items():
        texts = [text for text, _ in rows]
        found = labeller.label_passages(texts, embedder.embed_passages(texts))
        gold[policy] = frozenset().union(*(topics for _, topics in rows))
        predicted[policy] = {practice for here in found for practice in here}
        truths += [topics for _, topics in rows]
        labels += found
    report = coverage_scores(gold, predicted)
    micro = per_label_scores(truths, labels, practice_ids())["micro"]
    report["paragraphs"] = {**micro, "n": len(truths)}
    return report


def describe_unseen(report: dict[str, Any]) -> str:
    lines = ['The committed labeller on policies it has never seen ("covered" per policy):']
    for policy in sorted(p for p in report if p not in ("micro", "paragraphs")):
        lines.append(_row(policy, report[policy]))
    lines.append(_row("all (micro)", report["micro"]))
    paragraphs = report["paragraphs"]
    lines.append(
        f"  per paragraph (n={paragraphs['n']}): precision {paragraphs['precision']}, "
        f"recall {paragraphs['recall']}"
    )
    return "\n".join(lines)


def _row(name: str, scores: dict[str, Any]) -> str:
    def figure(value: float | None) -> str:
        return "  -  " if value is None else f"{value:.3f}"

    line = (
        f"  {name:14s} precision {figure(scores['precision'])}  recall {figure(scores['recall'])}"
    )
    if scores.get("missed") or scores.get("extra"):
        missed = ", ".join(scores["missed"]) or "-"
        extra = ", ".join(scores["extra"]) or "-"
        line += f"  missed {missed}; extra {extra}"
    return line


def describe_report(report: dict[str, Any]) -> str:
    """The report for a terminal."""
    lines = []
    titles = {
        "leave_one_policy_out": "Leave one policy out (the honest figure): each policy labelled "
        "by a labeller trained without it",
        "policy_threshold_nested": "Leave one policy out, with a policy-level threshold chosen "
        "on the other policies (nested)",
        "in_sample": "In-sample (the committed labeller, trained on these very labels; not a "
        "measure of quality)",
    }
    for key, title in titles.items():
        lines.append(title + ":")
        scores = report[key]
        for shop in sorted(s for s in scores if s not in ("micro", "thresholds")):
            lines.append(_row(shop, scores[shop]))
        lines.append(_row("all (micro)", scores["micro"]))
        if key == "policy_threshold_nested":
            lines.append(
                "  thresholds chosen: "
                + ", ".join(f"{s} {t:.2f}" for s, t in sorted(scores["thresholds"].items()))
            )
    lines.append(
        f"The same choice on all the policies gives {report['threshold_chosen_on_all']:.2f} "
        f"(the build labels passages at PASSAGE_SURE = {report['passage_sure']:.2f})"
    )
    sweep = report["leave_one_policy_out_by_threshold"]
    lines.append(
        "Leave one policy out at fixed thresholds (precision/recall, micro): "
        + "  ".join(
            f"{t}: {v['precision']:.2f}/{v['recall']:.2f}"
            for t, v in sweep.items()
            if v["precision"] is not None
        )
    )
    return "\n".join(lines)
