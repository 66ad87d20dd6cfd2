from __future__ import annotations

from pathlib import Path

from indexer.build import PASSAGES_FILE, read_passages
from indexer.glossary import default_glossary
from indexer.language import detect_language
from indexer.publish import current_version_dir
from indexer.tokens import fold, lexical_tokens


def test_mixed_policy_comes_out_with_both_languages(corpus_index: Path) -> None:
    passages = read_passages(current_version_dir(corpus_index) / PASSAGES_FILE)
    klingit = {p.language for p in passages if p.shop_id == "klingit"}
    assert klingit == {"sv", "en"}
    assert {p.language for p in passages if p.shop_id == "kivismart"} == {"cs"}
    assert {p.language for p in passages if p.shop_id == "autoparts-ua"} == {"uk"}


def test_question_languages() -> None:
    assert detect_language("Jak dlouho uchováváte moje údaje?") == "cs"
    assert detect_language("Як довго ви зберігаєте мої дані?") == "uk"
    assert detect_language("Как долго вы храните мои данные?") == "ru"
    assert detect_language("Hur länge sparar ni mina uppgifter?") == "sv"
    assert detect_language("Wie lange speichern Sie meine Daten?") == "de"
    assert detect_language("usuńcie moje dane") == "pl"
    assert detect_language("How long do you keep my data?") == "en"
    # Restricted to the languages a document declares.
    assert detect_language("Legitimate Interests: We may process", ["sv", "en"]) == "en"


def test_tokens_fold_case_diacritics_and_inflection() -> None:
    assert fold("Údajů ŘÍZENÍ") == "udaju rizeni"
    assert lexical_tokens("údaje údajů") == ["udaje", "udaju"]
    assert lexical_tokens("Cookies cookie") == ["cooki", "cooki"]
    assert lexical_tokens("видалення видалити") == ["видал", "видал"]


def test_glossary_maps_languages_to_shared_concepts() -> None:
    glossary = default_glossary()
    for question in (
        "Please delete my account",
        "Smažte prosím můj účet",
        "Видаліть мій акаунт",
        "Удалите мой аккаунт",
        "Radera mitt konto",
        "Bitte löschen Sie mein Konto",
        "Usuńcie moje konto",
    ):
        assert "delete" in glossary.concepts_in(question), question
    assert glossary.concepts_in("what do brake pads cost?") == []
