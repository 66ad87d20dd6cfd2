"""A shop's example questions: questions its staff know a passage answers.

A support-bot platform learns from the questions its team has already answered; here a
shop declares them in its knowledge folder (``examples = "examples.jsonl"`` in shop.toml),
one JSON object per line:

    {"question": "can my son (16) bring his phone in alone?", "lang": "en",
     "answer": "cannot be obtained unless the seller has the written consent of parents"}

`answer` is text copied from the policy (a string or a list of them), matched to the
passages that hold it the way eval gold strings are (Unicode forms, escapes and spacing
normalised; letters as written), so an example follows its passage through re-splits and
survives any edit that keeps the sentence. An example whose answer the policy no longer
holds is reported by the build as stale and left out; it never fails a policy update.

At search time a customer's question close to an example (cosine at least EXAMPLE_FLOOR)
lifts the example's passage (ranking.FusionWeights.example), and the sentence holding the
example's answer joins the quote when the one chosen by similarity lacks it (room left: a
taught sentence beside the passage's best, rather than instead of it, won answer@1 0.836 ->
0.847 on the dev files, against a bonus to its evidence). Question to question is what a
small embedding model matches best: "Har ni ett dataskyddsombud?" is nearer to "Do you
have a data protection officer?" than to the passage that names one among contact details.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from indexer.embedding import Vectors
from indexer.errors import PolicyError
from indexer.normalize import fold_for_match, normalize_text

# How close a question must be to an example to count; the lift grows from here to 1.0.
# Chosen with the weight (ranking.FusionWeights.example) and the quote bonus on the eight
# dev eval files (tests/eval/questions, holdout, unseen..unseen4, unseen6, silence), with the
# demo shops' first 802 examples (the training questions of data/training/ranking.jsonl and
# 439 written for the passages): floor 0.75..0.88 by weight 3..10 by bonus 0.05..0.15 span
# recall@1 0.860..0.875 and answer@1 0.823..0.847 (0.799 and 0.772 without examples). With
# 449 more (1,251), floor 0.82..0.88 by weight 3..6: recall@1 0.872..0.889, answer@1
# 0.849..0.864, best at 0.85 and 4 still. With 755 more (2,006), floor 0.82..0.88 by
# weight 3..6 on the nine dev files (950 answerable): recall@1 0.888..0.905, answer@1
# 0.878..0.889, a plateau; 0.85 and 4 kept (the best recall@1).
EXAMPLE_FLOOR = 0.85
# A question this close to an example of the best passage is answered from it even when the
# confidence is below its threshold (never when the policy is silent on what it asks): on
# the dev files at 0.92, 4 answerable questions more answered, all from the right passage,
# and no uncovered or unrelated one (at 0.90: 6 more, and one of each of those).
EXAMPLE_SURE = 0.92
# A question this close to one the shop taught for the best passage is not one its policy is
# silent on, whatever the practice labeller guessed ("do you pass my data on without my
# consent?" read as a legal basis the shop never names): the shop's own knowledge wins. On
# the dev files at 0.95 (and 0.94), 3 answerable questions more answered, all from the right
# passage, and uncovered said unchanged (0.939 of 426); at 0.93 two uncovered ones lost.
EXAMPLE_NOT_SILENT = 0.95
# A sentence this short says too little to be matched to an answer by containment.
MIN_MATCH_CHARS = 16


class ExampleRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    question: str = Field(min_length=1, max_length=4000)
    answer: list[str] = Field(min_length=1)
    lang: str | None = Field(default=None, pattern=r"^[a-z]{2}$")

    @field_validator("answer", mode="before")
    @classmethod
    def _one_or_more(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("answer")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        if any(len(text.strip()) < MIN_MATCH_CHARS for text in value):
            raise ValueError(f"each answer must quote at least {MIN_MATCH_CHARS} characters")
        return value


def validation_reason(error: ValidationError) -> str:
    """The first problem of a record, as "field: message"."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(line)"
    return f"{field}: {first['msg']}"


def read_examples(path: Path) -> list[ExampleRecord]:
    """Every example of one file; a bad line names the file and the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(path, f"cannot be read: {exc}") from exc
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            examples.append(ExampleRecord.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise PolicyError(path, f"line {number}: not JSON ({exc.msg})") from exc
        except ValidationError as exc:
            raise PolicyError(path, f"line {number}: {validation_reason(exc)}") from exc
    return examples


def folded(text: str) -> str:
    """Text as answers are matched: normalised and single-spaced."""
    return " ".join(fold_for_match(normalize_text(text)).split())


def _haystack(text: str) -> str:
    """A passage's text as answers are looked for in it."""
    return " ".join(fold_for_match(text).split())


def holds_any(text: str, targets: Iterable[str]) -> bool:
    """Whether `text` (folded here) contains any of the folded `targets`."""
    haystack = _haystack(text)
    return any(target in haystack for target in targets)


@dataclass(frozen=True)
class ShopExample:
    """One example matched to the passages (rows of the whole index) that hold its answer."""

    shop_id: str
    question: str
    lang: str | None
    answers: tuple[str, ...]  # folded
    rows: tuple[int, ...]


def match_examples(
    shop_id: str, records: Sequence[ExampleRecord], passage_texts: dict[int, str]
) -> tuple[list[ShopExample], list[str]]:
    """The examples whose answer some passage of the shop holds, and the questions of those
    whose answer none holds (stale: the policy changed)."""
    matched: list[ShopExample] = []
    stale: list[str] = []
    # Each passage folded once, not once per example (2,006 examples by 63 passages).
    haystacks = {row: _haystack(text) for row, text in passage_texts.items()}
    for record in records:
        answers = tuple(folded(text) for text in record.answer)
        rows = tuple(
            row for row, haystack in haystacks.items() if any(a in haystack for a in answers)
        )
        if rows:
            matched.append(ShopExample(shop_id, record.question, record.lang, answers, rows))
        else:
            stale.append(record.question)
    return matched, stale


def write_examples(path: Path, examples: Sequence[ShopExample]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(
                json.dumps(
                    {
                        "shop_id": example.shop_id,
                        "question": example.question,
                        "lang": example.lang,
                        "answers": list(example.answers),
                        "rows": list(example.rows),
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )


def load_examples(path: Path) -> list[ShopExample]:
    """The examples an index version was built with ([] for a version without any)."""
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        found.append(
            ShopExample(
                record["shop_id"],
                record["question"],
                record["lang"],
                tuple(record["answers"]),
                tuple(record["rows"]),
            )
        )
    return found


class ExampleMemory:
    """One shop's examples: the nearest example per passage, and what it answers."""

    def __init__(self, vectors: Vectors, owners: np.ndarray, answers: list[tuple[str, ...]]):
        # One row per (example, passage) pair; `owners` are the shop's passage positions.
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._owners = np.asarray(owners, dtype=np.int64)
        self._answers = answers

    def __len__(self) -> int:
        return len(self._owners)

    def best(self, query: Vectors, passages: int) -> np.ndarray:
        """Per passage, the cosine of the question with its nearest example (0 for none)."""
        scores = np.zeros(passages, dtype=np.float32)
        if len(self._owners):
            np.maximum.at(scores, self._owners, self._vectors @ query)
        return scores

    def _nearest(self, row: int, query: Vectors) -> tuple[float, int] | None:
        """The cosine of the question with the passage's nearest example, and that
        example's position; None for a passage without any."""
        mine = np.flatnonzero(self._owners == row)
        if not len(mine):
            return None
        sims = self._vectors[mine] @ query
        nearest = int(np.argmax(sims))
        return float(sims[nearest]), int(mine[nearest])

    def closeness(self, row: int, query: Vectors) -> float:
        """The cosine of the question with the passage's nearest example (0 for none)."""
        found = self._nearest(row, query)
        return found[0] if found is not None else 0.0

    def answers_for(self, row: int, query: Vectors) -> tuple[str, ...]:
        """The folded answers of the passage's nearest example, if that is near enough."""
        found = self._nearest(row, query)
        if found is None or found[0] < EXAMPLE_FLOOR:
            return ()
        return self._answers[found[1]]


def answering_sentences(sentences: Sequence[str], answers: Sequence[str]) -> list[int]:
    """The sentences that hold part of an answer, or that an answer holds whole."""
    found = []
    for index, sentence in enumerate(sentences):
        text = folded(sentence)
        if len(text) < MIN_MATCH_CHARS:
            continue
        if any(text in answer or answer in text for answer in answers):
            found.append(index)
    return found
