"""How sure the engine is that the best passage answers the question.

A logistic score over three signals of the top hit, fitted on the labelled eval set by
`python -m indexer calibrate` (parameters in data/calibration.json):

- the dense cosine of question and passage;
- the topic margin: nearest privacy prototype minus nearest shop-talk prototype
  (data/topics.toml), which keeps "what do brake pads cost?" out even when the shop's
  policy happens to mention cars;
- whether the question and the passage name a common privacy concept (data/glossary.toml).
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

CALIBRATION_FILE = "data/calibration.json"


@lru_cache(maxsize=1)
def _topics() -> dict[str, list[str]]:
    raw = resources.files("indexer").joinpath("data/topics.toml").read_text(encoding="utf-8")
    data = tomllib.loads(raw)
    return {"privacy": list(data["privacy"]), "shop": list(data["shop"])}


def topic_prototypes() -> list[str]:
    """Privacy prototypes first, then shop-talk ones (the index stores their vectors)."""
    topics = _topics()
    return topics["privacy"] + topics["shop"]


def topic_margin(query: np.ndarray, prototype_vectors: np.ndarray) -> float:
    privacy = len(_topics()["privacy"])
    sims = prototype_vectors @ query
    return float(sims[:privacy].max() - sims[privacy:].max())


@dataclass(frozen=True)
class Calibration:
    bias: float = -40.0
    dense: float = 50.0
    topic: float = 10.0
    concept: float = 1.0
    threshold: float = 0.5

    def confidence(self, dense: float, topic: float, concept: float) -> float:
        z = self.bias + self.dense * dense + self.topic * topic + self.concept * concept
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


def load_calibration(path: Path | None = None) -> Calibration:
    if path is not None:
        return Calibration(**json.loads(path.read_text(encoding="utf-8")))
    resource = resources.files("indexer").joinpath(CALIBRATION_FILE)
    if not resource.is_file():
        return Calibration()
    return Calibration(**json.loads(resource.read_text(encoding="utf-8")))


def fit_calibration(
    features: np.ndarray, labels: np.ndarray, max_in_scope_rejected: float = 0.03
) -> Calibration:
    """Logistic regression by gradient descent (features: dense, topic, concept), then the
    highest threshold that rejects at most `max_in_scope_rejected` of the in-scope questions.

    The target is 5 %; fitting to 3 % leaves a margin for questions the set has not seen.
    """
    mean = features.mean(axis=0)
    std = features.std(axis=0) + 1e-6
    x = (features - mean) / std
    weights = np.zeros(x.shape[1])
    bias = 0.0
    for _ in range(5000):
        z = x @ weights + bias
        p = 1.0 / (1.0 + np.exp(-z))
        gradient = p - labels
        weights -= 0.1 * (x.T @ gradient / len(x) + 0.01 * weights)
        bias -= 0.1 * gradient.mean()
    # Undo the standardisation, so the stored parameters apply to raw features.
    raw_weights = weights / std
    raw_bias = bias - float((weights * mean / std).sum())
    dense, topic, concept = map(float, raw_weights)
    calibration = Calibration(float(raw_bias), dense, topic, concept, threshold=0.5)
    in_scope = sorted(
        calibration.confidence(*row) for row, label in zip(features, labels, strict=True) if label
    )
    allowed = math.floor(max_in_scope_rejected * len(in_scope))
    threshold = in_scope[allowed] - 1e-6 if in_scope else 0.5
    return Calibration(float(raw_bias), dense, topic, concept, threshold=float(threshold))
