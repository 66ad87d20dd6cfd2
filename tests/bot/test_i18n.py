"""The bot's gettext catalogs: complete, translated, placeholder-safe, and compilable."""

from __future__ import annotations

import gettext
import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.i18n import compile_catalogs

LOCALES = Path(__file__).resolve().parents[2] / "bot" / "locales"
LANGUAGES = ("en", "cs", "uk", "sv", "ru", "de", "pl")
TRANSLATED = tuple(language for language in LANGUAGES if language != "en")
COMMAND = re.compile(r"(?<![\w/])/[a-z]+\b")

# One message per language whose translation is known, to prove the compiled catalog is used.
SAMPLES = {
    "en": ("Language", "Language"),
    "cs": ("I will speak English with you from now on.", "Od teď s vámi budu mluvit česky."),
    "uk": ("Language", "Мова"),
    "sv": ("Delete my data", "Radera mina uppgifter"),
    "ru": ("Thank you for the feedback!", "Спасибо за отзыв!"),
    "de": ("I will speak English with you from now on.", "Ab jetzt spreche ich Deutsch mit Ihnen."),
    "pl": ("Current shop: {shop}.", "Wybrany sklep: {shop}."),
}


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def _msgids() -> list[str]:
    return [message.id for message in _read(LOCALES / "messages.pot") if message.id]


def _catalog(language: str) -> Catalog:
    return _read(LOCALES / language / "LC_MESSAGES" / "messages.po", locale=language)


MSGIDS = _msgids()


def test_template_has_messages() -> None:
    assert MSGIDS
    assert all(isinstance(msgid, str) for msgid in MSGIDS), "no plural messages expected"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_message_is_in_the_catalog(language: str) -> None:
    catalog = _catalog(language)
    missing = [msgid for msgid in MSGIDS if catalog.get(msgid) is None]
    assert not missing, f"{language}: missing {missing}"
    extra = [m.id for m in catalog if m.id and m.id not in MSGIDS and not m.obsolete]
    assert not extra, f"{language}: not in the template {extra}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated(language: str) -> None:
    catalog = _catalog(language)
    untranslated = [msgid for msgid in MSGIDS if not catalog[msgid].string]
    fuzzy = [msgid for msgid in MSGIDS if catalog[msgid].fuzzy]
    assert not untranslated, f"{language}: untranslated {untranslated}"
    assert not fuzzy, f"{language}: fuzzy {fuzzy}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_placeholders_commands_and_bullets(language: str) -> None:
    catalog = _catalog(language)
    for msgid in MSGIDS:
        translation = catalog[msgid].string
        if not translation:  # English may fall back to the msgid
            continue
        assert _placeholders(translation) == _placeholders(msgid), f"{language}: {msgid!r}"
        assert set(COMMAND.findall(translation)) == set(COMMAND.findall(msgid)), (
            f"{language}: {msgid!r}"
        )
        assert translation.startswith("• ") == msgid.startswith("• "), f"{language}: {msgid!r}"
        assert translation.count('"') == msgid.count('"'), f"{language}: {msgid!r}"


def test_language_switch_confirmation_names_its_own_language() -> None:
    msgid = "I will speak English with you from now on."
    translations = {language: _catalog(language)[msgid].string for language in TRANSLATED}
    assert len(set(translations.values())) == len(TRANSLATED)
    assert all("English" not in text for text in translations.values())


def test_catalogs_compile_and_translate(tmp_path: Path) -> None:
    compiled = compile_catalogs(tmp_path)
    for language in LANGUAGES:
        assert (compiled / language / "LC_MESSAGES" / "messages.mo").is_file(), language
        translations = gettext.translation("messages", compiled, languages=[language])
        for msgid in MSGIDS:  # every message resolves to a non-empty text
            assert translations.gettext(msgid)
        msgid, expected = SAMPLES[language]
        assert translations.gettext(msgid) == expected, language
