"""An example question taught by a shop's admin: checked against the policy, added to the
shop's examples file (declared in shop.toml if the shop had none), indexed and published.

The loop a support team knows from its help desk: `/unanswered` shows what customers asked
that the policy answered poorly; the admin copies the policy's words that do answer it, and
from the next question on, customers who ask alike get that passage and that sentence.
Nothing is written unless the text is in the policy and the new index is published; any
failure puts both files back as they were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from indexer.build import build_index, shop_passages
from indexer.embedding import Embedder
from indexer.errors import PolicyError
from indexer.examples import ExampleRecord, match_examples, read_examples, validation_reason
from indexer.policy_update import load_policy_shop, policy_lock
from indexer.settings import IndexerSettings
from indexer.shops import SHOP_FILE

EXAMPLES_FILE_NAME = "examples.jsonl"
MAX_QUESTION_CHARS = 500


@dataclass(frozen=True)
class ExampleAdded:
    shop_id: str
    question: str
    answer: str
    passages: int  # how many passages hold the answer
    examples: int  # the shop's example questions now
    index_version: int


def _record(path: Path, question: str, answer: str) -> ExampleRecord:
    question, answer = " ".join(question.split()), " ".join(answer.split())
    if len(question) > MAX_QUESTION_CHARS:
        raise PolicyError(path, f"the question is longer than {MAX_QUESTION_CHARS} characters")
    try:
        return ExampleRecord(question=question, answer=[answer])
    except ValidationError as exc:
        raise PolicyError(path, validation_reason(exc)) from exc


def add_example(
    settings: IndexerSettings, embedder: Embedder, shop_id: str, question: str, answer: str
) -> ExampleAdded:
    """Teach the shop that `answer` (text of its policy) answers `question`; PolicyError
    when it cannot (the text is not in the policy, or too short), ShopNotFoundError for an
    unknown shop."""
    with policy_lock(settings.index_dir):
        shop = load_policy_shop(settings, shop_id)
        name = shop.examples or EXAMPLES_FILE_NAME
        path = shop.folder / name
        record = _record(path, question, answer)
        passages, _hashes = shop_passages(shop, settings)
        texts = {row: passage.text for row, passage in enumerate(passages)}
        matched, _stale = match_examples(shop.id, [record], texts)
        if not matched:
            raise PolicyError(
                path,
                "no passage of the policy holds that text; copy a sentence of it as it is",
            )
        manifest = shop.folder / SHOP_FILE
        manifest_before = manifest.read_text(encoding="utf-8")
        examples_before = path.read_bytes() if path.exists() else None
        try:
            if shop.examples is None:
                manifest.write_text(f'examples = "{name}"\n' + manifest_before, encoding="utf-8")
            _append(path, examples_before, record)
            report = build_index(settings, embedder, force=True)
        except BaseException:
            manifest.write_text(manifest_before, encoding="utf-8")
            if examples_before is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(examples_before)
            raise
        return ExampleAdded(
            shop.id,
            record.question,
            record.answer[0],
            len(matched[0].rows),
            len(read_examples(path)),
            report.manifest.version,
        )


def _append(path: Path, before: bytes | None, record: ExampleRecord) -> None:
    line = json.dumps({"question": record.question, "answer": record.answer[0]}, ensure_ascii=False)
    lead = b"\n" if before and not before.endswith(b"\n") else b""
    with path.open("ab") as handle:
        handle.write(lead + line.encode("utf-8") + b"\n")
