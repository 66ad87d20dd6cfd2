"""Answer rendering: escaped Telegram HTML, within 4096 characters, cited."""

from __future__ import annotations

from aiogram.utils.i18n import I18n

from bot.answers import TELEGRAM_LIMIT, render_answer, render_full_section, render_unanswered
from indexer.passages import Passage
from indexer.retriever import Hit, SearchResult
from tests.support.fake_bot_api import parse_telegram_html


def _passage(text: str, section: str = "Cookies <&> Co", language: str = "cs") -> Passage:
    sentences = tuple(s.strip() + "." for s in text.split(".") if s.strip())
    return Passage(
        "shop", "policy.txt", "Policy <b>", "v1 & 2", section, text, 0, language, sentences
    )


def _result(passage: Passage) -> SearchResult:
    return SearchResult("q", "shop", "en", [], [Hit(passage, 0, 1.0, 0.9, 0.0, 0.0)], 0.9, 0.5, 1)


def test_policy_text_is_escaped_and_parses_as_telegram_html(tmp_path) -> None:  # type: ignore[no-untyped-def]
    passage = _passage("We use <script>alert(1)</script> & cookies. Second sentence here.")
    i18n = I18n(path=tmp_path, default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        rendered = render_answer(_result(passage), list(passage.sentences), "en")
    plain, _entities = parse_telegram_html(rendered.text)  # raises on malformed HTML
    assert "<script>alert(1)</script> & cookies" in plain
    assert "Cookies <&> Co" in plain and "version v1 & 2" in plain
    assert "The policy says this in Czech" in plain


def test_very_long_passages_stay_under_the_limit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    long_text = ". ".join(f"Sentence {i} about <data> & retention rules" for i in range(600))
    passage = _passage(long_text)
    i18n = I18n(path=tmp_path, default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        answer = render_answer(_result(passage), list(passage.sentences), "en")
        section = render_full_section([passage, passage])
        unanswered = render_unanswered(_result(passage), "en", "a@b.example")
    for text in (answer.text, section, unanswered):
        assert len(text) <= TELEGRAM_LIMIT
        parse_telegram_html(text)
    assert answer.text.count("Sentence") < 600


def test_customer_language_order() -> None:
    from aiogram.types import User

    from bot.i18n import customer_language

    czech_client = User(id=1, is_bot=False, first_name="A", language_code="cs")
    unknown_client = User(id=1, is_bot=False, first_name="A", language_code="ja")
    assert customer_language("de", czech_client, "hello") == "de"  # chosen with /language
    assert customer_language(None, czech_client, "How long do you keep my data?") == "cs"
    assert customer_language(None, unknown_client, "Як довго ви зберігаєте мої дані?") == "uk"
    # A short question read unsure stays in the fallback language.
    assert customer_language(None, unknown_client, "what do brake pads cost?") == "en"
    assert customer_language(None, None, "/start") == "en"
