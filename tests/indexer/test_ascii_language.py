"""Short messages in plain ASCII letters: Russian and Ukrainian typed in Latin letters are
recognised as such, so the bot answers in Russian or Ukrainian instead of the Polish or
Slovak the trigram models guess, and the Latin-script languages typed without their
diacritics are recognised as what they are (Czech no longer as Slovak or Polish)."""

from __future__ import annotations

import pytest

from bot.i18n import with_message, written_language
from indexer.ascii_language import MAX_CHARS, ascii_language
from indexer.language import detect_language, language_scores

RUSSIAN = [
    "skazhite pozhaluysta kakie dannye vy obo mne hranite",
    "otpishite menya ot vashih rassylok",
    "hochu udalit svoy akkaunt i vse dannye",
    "pozovite zhivogo cheloveka, bot menya ne ponimaet",
]
UKRAINIAN = [
    "skazhit bud laska yaki dani pro mene vy zberihaiete",
    "vidpyshit mene vid vashoi rozsylky",
    "khochu vydalyty svii akaunt i vsi dani",
]
LATIN_SCRIPT = {
    "pl": "usuncie prosze moje dane z waszej bazy",
    "cs": "chci smazat svuj ucet a vsechny udaje",
    "en": "please delete my account and all my data",
    "sv": "hur lange sparar ni mina uppgifter",
    "de": "bitte loschen sie alle meine daten",
}


@pytest.mark.parametrize("text", RUSSIAN)
def test_russian_in_latin_letters(text: str) -> None:
    assert ascii_language(text) == "ru"
    assert detect_language(text) == "ru"


@pytest.mark.parametrize("text", UKRAINIAN)
def test_ukrainian_in_latin_letters(text: str) -> None:
    assert ascii_language(text) == "uk"
    assert detect_language(text) == "uk"


@pytest.mark.parametrize(("language", "text"), sorted(LATIN_SCRIPT.items()))
def test_latin_script_languages_without_diacritics(language: str, text: str) -> None:
    assert ascii_language(text) == language
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "text", ["", "ok", "privet", "Удалите мои данные", "smažte můj účet", "12345 678"]
)
def test_cyrillic_diacritics_and_short_texts_decide_nothing(text: str) -> None:
    assert ascii_language(text) is None


def test_long_text_is_left_to_lingua() -> None:
    long = "We keep your order history for five years because the law requires it. " * 5
    assert len(long) > MAX_CHARS and ascii_language(long) is None
    assert detect_language(long) == "en"


def test_a_transliterated_message_sets_the_conversation_language() -> None:
    evidence = with_message({}, RUSSIAN[0])
    assert written_language(evidence) == "ru"
    assert language_scores(UKRAINIAN[0]) == {"uk": 1.0}
    # A Polish conversation is not flipped by one short transliterated-looking word.
    polish = with_message({}, LATIN_SCRIPT["pl"])
    assert written_language(with_message(polish, "da da")) == "pl"


def test_language_eval_reports_per_style(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from indexer.cli import main as indexer_main

    lines = [
        {"lang": "ru", "style": "translit", "question": RUSSIAN[1]},
        {"lang": "uk", "style": "translit", "question": UKRAINIAN[2]},
        {"lang": "pl", "style": "no_diacritics", "question": LATIN_SCRIPT["pl"]},
        {"lang": "en", "question": "How long do you keep my address?"},
    ]
    path = tmp_path / "messages.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    assert indexer_main(["language-eval", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["translit"] == {"detected": 1.0, "n": 2, "taken_for_ru_or_uk": 0}
    assert report["no_diacritics"]["taken_for_ru_or_uk"] == 0
    assert report["question"] == {"detected": 1.0, "n": 1, "taken_for_ru_or_uk": 0}


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("fr", "supprimez mes donnees personnelles s il vous plait"),
        ("es", "por favor borren mis datos personales"),
        ("it", "per favore cancellate i miei dati personali"),
        ("nl", "hoe lang bewaren jullie mijn adres"),
    ],
)
def test_a_language_outside_the_seven_stays_what_lingua_says(language: str, text: str) -> None:
    # The ASCII model knows only the seven languages and would pick the nearest.
    assert ascii_language(text) in ("en", "de", "cs", "pl", "sv")
    assert detect_language(text) == language
    assert written_language(with_message({}, text)) is None  # no reply language from it


def test_a_neighbour_of_the_seven_reads_as_its_neighbour() -> None:
    assert detect_language("prosim vymazte moje osobne udaje") == "cs"  # Slovak
