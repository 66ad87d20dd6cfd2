"""An example question taught by a shop's admin: checked against the policy, added to the
shop's examples file (declared in shop.toml if the shop had none), indexed and published.

The loop a support team knows from its help desk: `/unanswered` shows what customers asked
that the policy answered poorly; the admin copies the policy's words that do answer it, and
from the next question on, customers who ask alike get that passage and that sentence.
Nothing is written unless the text is in the policy and the new index is published; any
failure puts both files back as they were.
"""

from __future__ import annotations

import hashlib
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
from indexer.shops import SHOP_FILE, Shop

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


@dataclass(frozen=True)
class ExampleRemoved:
    shop_id: str
    question: str
    examples: int  # the shop's example questions left
    index_version: int


def example_key(record: ExampleRecord) -> str:
    """What names an example for taking it out: its question and answer, hashed. Positions
    shift when a line goes; two admins taking out "number 3" at once would take two
    examples, each taking out its key takes the one it saw (and the second hears it is gone)."""
    content = json.dumps([record.question, record.answer], ensure_ascii=False)
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:8]


def read_shop_examples(settings: IndexerSettings, shop_id: str) -> list[ExampleRecord]:
    """The shop's example questions in the order of its file; none when it declares no
    file. ShopNotFoundError for an unknown shop."""
    return _records(load_policy_shop(settings, shop_id))


def _records(shop: Shop) -> list[ExampleRecord]:
    path = None if shop.examples is None else shop.folder / shop.examples
    return read_examples(path) if path is not None and path.exists() else []


def remove_example(
    settings: IndexerSettings, embedder: Embedder, shop_id: str, key: str
) -> ExampleRemoved:
    """Take the example named `key` (`example_key`; the first, if a line is repeated) out of
    the shop's file, then index and publish; PolicyError when the shop has no such example.
    Any failure puts the file back as it was; the other lines stay byte for byte."""
    with policy_lock(settings.index_dir):
        shop = load_policy_shop(settings, shop_id)
        path = shop.folder / (shop.examples or EXAMPLES_FILE_NAME)
        records = _records(shop)
        keys = [example_key(record) for record in records]
        if key not in keys:
            shown = key[:16]
            raise PolicyError(path, f"the shop has no example {shown} (taken out already?)")
        position = keys.index(key)
        before = path.read_bytes()
        lines = before.decode("utf-8").splitlines(keepends=True)
        filled = [index for index, line in enumerate(lines) if line.strip()]
        del lines[filled[position]]
        try:
            path.write_bytes("".join(lines).encode("utf-8"))
            report = build_index(settings, embedder, force=True)
        except BaseException:
            path.write_bytes(before)
            raise
        return ExampleRemoved(
            shop.id, records[position].question, len(records) - 1, report.manifest.version
        )
