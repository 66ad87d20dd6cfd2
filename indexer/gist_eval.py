"""How often the gist line names a practice the quoted passage is really about:
`python -m indexer gist-eval`.

The gist line above a foreign-language quote names the passage's likeliest practice
(topics.gist_practice, when the question's practice is not among the passage's). Measured on
the demo policies' passages labelled by hand (data/training/policy_topics.jsonl): precision
is the share of passages given a gist topic whose gold labels hold it; coverage is the share
given one at all. The passage labeller is trained on those labels, so the honest figure
leaves one policy out (the labeller trained again without it); the in-sample one is printed
beside it and proves little.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from indexer.embedding import Embedder
from indexer.linear_model import LinearModel, fit
from indexer.topics import (
    PracticeLabeller,
    gated_probabilities,
    gist_practice,
    practice_ids,
    sure_practices,
)
from indexer.training import (
    PASSAGE_TOPIC_OPTIONS,
    LabelledPassage,
    _passage_matrix,
    labelled_policy_passages,
    synthetic_passages,
)


def _gist_topics(
    model: LinearModel, x: np.ndarray, passages: list[LabelledPassage]
) -> list[str | None]:
    """The gist topic of each passage, labelled as the build labels it (cues applied)."""
    rows = gated_probabilities(model, [p.text for p in passages], x)
    return [gist_practice(sure_practices(row, model.classes), asked="") for row in rows]


def _scores(passages: list[LabelledPassage], gists: list[str | None]) -> dict[str, Any]:
    given = [(p, g) for p, g in zip(passages, gists, strict=True) if g is not None]
    right = sum(g in p.topics for p, g in given)
    return {
        "precision": round(right / len(given), 4) if given else 0.0,
        "coverage": round(len(given) / len(passages), 4) if passages else 0.0,
        "n": len(passages),
    }


def evaluate_gist(
    embedder: Embedder, knowledge_dir: Path, cache: Path | None = None
) -> dict[str, Any]:
    synthetic = synthetic_passages()
    policies = [p for p in labelled_policy_passages(knowledge_dir) if p.topics]
    training = synthetic + policies
    x, y = _passage_matrix(embedder, training, cache)
    groups = np.array([p.group for p in training])
    classes = practice_ids()
    held_out: list[str | None] = []
    by_shop: dict[str, Any] = {}
    for shop in sorted({p.group for p in policies}):
        keep = groups != shop
        model = fit(x[keep], y[keep], classes, "sigmoid", **PASSAGE_TOPIC_OPTIONS)
        rows = np.flatnonzero(groups == shop)
        gists = _gist_topics(model, x[rows], [training[i] for i in rows])
        held_out += gists
        by_shop[shop] = _scores([training[i] for i in rows], gists)
    policy_rows = np.flatnonzero(groups != "synthetic")
    in_sample = _gist_topics(PracticeLabeller(embedder).passage_model, x[policy_rows], policies)
    return {
        "leave_one_policy_out": _scores(policies, held_out),
        "by_shop": by_shop,
        "in_sample": _scores(policies, in_sample),
    }


def describe_gist(report: dict[str, Any]) -> str:
    held, inside = report["leave_one_policy_out"], report["in_sample"]
    lines = [
        f"gist topic, leave one policy out: precision {held['precision']:.3f}, "
        f"coverage {held['coverage']:.3f} (n={held['n']} labelled passages)",
        *(
            f"  {shop:14s} precision {s['precision']:.3f}  coverage {s['coverage']:.3f}  "
            f"(n={s['n']})"
            for shop, s in report["by_shop"].items()
        ),
        f"in sample (the labeller saw these labels): precision {inside['precision']:.3f}, "
        f"coverage {inside['coverage']:.3f}",
    ]
    return "\n".join(lines)
