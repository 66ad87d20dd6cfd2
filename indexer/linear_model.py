"""A small linear classifier over embedding features: softmax (one label) or sigmoid (many).

The intent recogniser and both topic labellers are this model over the e5 vector plus a few
hand-made features. Training is full-batch Adam from zeros with a fixed number of steps, so
the same data gives the same weights on every machine (no random start, no shuffling).
Temperature is fitted afterwards on held-out folds, so that probabilities mean what they
say and the bot can tell "sure" from "unsure".
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import threading
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

Kind = Literal["softmax", "sigmoid"]
Matrix = npt.NDArray[np.float32]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))
    return out


@dataclass(frozen=True)
class LinearModel:
    kind: Kind
    classes: tuple[str, ...]
    weights: Matrix  # features x classes
    bias: Matrix  # classes
    mean: Matrix  # features: standardisation
    scale: Matrix
    temperature: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def features(self) -> int:
        return int(self.weights.shape[0])

    def logits(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        z: np.ndarray = ((x - self.mean) / self.scale) @ self.weights + self.bias
        return z / self.temperature

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(x)
        return _softmax(z) if self.kind == "softmax" else _sigmoid(z)

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        header = {"kind": self.kind, "classes": list(self.classes), "temperature": self.temperature}
        np.savez_compressed(
            buffer,
            weights=self.weights,
            bias=self.bias,
            mean=self.mean,
            scale=self.scale,
            header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
            meta=np.frombuffer(json.dumps(self.meta, sort_keys=True).encode(), dtype=np.uint8),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, source: Path | bytes) -> LinearModel:
        raw = source.read_bytes() if isinstance(source, Path) else source
        with np.load(io.BytesIO(raw)) as data:
            header = json.loads(bytes(data["header"]).decode())
            meta = json.loads(bytes(data["meta"]).decode())
            return cls(
                kind=header["kind"],
                classes=tuple(header["classes"]),
                weights=data["weights"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
                mean=data["mean"].astype(np.float32),
                scale=data["scale"].astype(np.float32),
                temperature=float(header["temperature"]),
                meta=meta,
            )


def fit(
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    kind: Kind,
    *,
    l2: float = 1e-3,
    steps: int = 400,
    rate: float = 0.05,
    sample_weight: np.ndarray | None = None,
) -> LinearModel:
    """`y`: class indices (softmax) or a 0/1 matrix samples x classes (sigmoid)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    xs = (x - mean) / scale
    n, d = xs.shape
    k = len(classes)
    if kind == "softmax":
        target = np.zeros((n, k))
        target[np.arange(n), np.asarray(y, dtype=np.intp)] = 1.0
    else:
        target = np.asarray(y, dtype=np.float64)
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    weight = weight / weight.sum()
    w = np.zeros((d, k))
    b = np.zeros(k)
    # Adam, full batch: deterministic and quick for a few thousand rows.
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        z = xs @ w + b
        p = _softmax(z) if kind == "softmax" else _sigmoid(z)
        error = (p - target) * weight[:, None]
        grad_w = xs.T @ error + l2 * w
        grad_b = error.sum(axis=0)
        m_w = beta1 * m_w + (1 - beta1) * grad_w
        v_w = beta2 * v_w + (1 - beta2) * grad_w**2
        m_b = beta1 * m_b + (1 - beta1) * grad_b
        v_b = beta2 * v_b + (1 - beta2) * grad_b**2
        correction1, correction2 = 1 - beta1**step, 1 - beta2**step
        w -= rate * (m_w / correction1) / (np.sqrt(v_w / correction2) + eps)
        b -= rate * (m_b / correction1) / (np.sqrt(v_b / correction2) + eps)
    return LinearModel(
        kind=kind,
        classes=tuple(classes),
        weights=w.astype(np.float32),
        bias=b.astype(np.float32),
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
    )


def folds(samples: int, count: int) -> list[np.ndarray]:
    """Deterministic folds: sample i goes to fold i mod `count` (the training files
    interleave languages and intents, so every fold gets some of each)."""
    return [np.arange(start, samples, count) for start in range(count)]


def out_of_fold(
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    kind: Kind,
    fold_rows: list[np.ndarray],
    **options: Any,
) -> np.ndarray:
    """Probabilities for every row from a model that did not see it (cross-validation)."""
    n = len(x)
    out = np.zeros((n, len(classes)))
    weight = options.pop("sample_weight", None)
    for held in fold_rows:
        train = np.setdiff1d(np.arange(n), held)
        if weight is not None:
            options["sample_weight"] = weight[train]
        model = fit(x[train], y[train], classes, kind, **options)
        out[held] = model.logits(x[held])  # temperature 1: raw logits
    return out


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the log loss of held-out softmax logits."""
    best, best_loss = 1.0, float("inf")
    for temperature in np.linspace(0.3, 4.0, 75):
        p = _softmax(logits / temperature)
        loss = -float(np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))
        if loss < best_loss:
            best, best_loss = float(temperature), loss
    return best


def with_temperature(model: LinearModel, temperature: float, **meta: Any) -> LinearModel:
    return replace(model, temperature=temperature, meta={**model.meta, **meta})


class _Embedder(Protocol):
    model_id: str


def committed_model(name: str) -> LinearModel | None:
    """A model shipped in the package (indexer/`name`), if there is one."""
    resource = resources.files("indexer").joinpath(name)
    if not resource.is_file():
        return None
    return LinearModel.load(resource.read_bytes())


@lru_cache(maxsize=1)
def training_fingerprint() -> str:
    """What a model trained here depends on besides the embedder: the indexer's code (its
    features) and data (training sets, vocabularies), the committed weights left out."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    files = [*root.glob("*.py"), *(root / "data").rglob("*")]
    for path in sorted(f for f in files if f.is_file() and "models" not in f.parts):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


class LazyModel:
    """A model for one embedder, made on first use (so that constructing its owner costs
    nothing) and kept: the committed one when it was trained on this embedder's vectors,
    else one trained now (another embedding model: a few seconds to a few minutes).

    With `trained_dir`, a model trained here is kept there too, under the embedder, the
    model's name and `training_fingerprint()`: a replica that restarts, or a second one,
    loads it instead of training again (sentence-transformers' MiniLM took 155 s a start).
    A file that cannot be read is trained anew; it is written whole or not at all."""

    def __init__(
        self,
        embedder: _Embedder,
        name: str,
        train: Callable[[Any], LinearModel],
        model: LinearModel | None = None,
        trained_dir: Path | None = None,
    ) -> None:
        self._embedder = embedder
        self._name = name
        self._train = train
        self._model = model
        self._trained_dir = trained_dir
        self._lock = threading.Lock()

    def get(self) -> LinearModel:
        with self._lock:
            if self._model is None:
                committed = committed_model(self._name)
                if committed is not None and (
                    committed.meta.get("model_id") == self._embedder.model_id
                ):
                    self._model = committed
                else:
                    self._model = self._trained()
            return self._model

    def trained_path(self) -> Path | None:
        if self._trained_dir is None:
            return None
        key = hashlib.sha256(
            f"{self._embedder.model_id}|{self._name}|{training_fingerprint()}".encode()
        ).hexdigest()[:20]
        return self._trained_dir / f"{Path(self._name).stem}-{key}.npz"

    def _trained(self) -> LinearModel:
        path = self.trained_path()
        if path is not None and path.is_file():
            try:
                kept = LinearModel.load(path)
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                kept = None  # half a file from a crash, or not ours: train again
            if kept is not None and kept.meta.get("model_id") == self._embedder.model_id:
                return kept
        model = self._train(self._embedder)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written beside, then renamed: a replica reading meanwhile sees none or all.
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
                temporary = Path(f.name)
            model.save(temporary)
            temporary.replace(path)
        return model
