"""Answer rendering: escaped Telegram HTML, within 4096 characters, cited."""

from __future__ import annotations

import html

from aiogram.utils.i18n import I18n

from bot.answers import (
    TELEGRAM_LIMIT,
    render_answer,
    render_full_section,
    render_silent,
    render_unanswered,
)
from indexer.passages import Passage
from indexer.retriever import AlsoQuoted, Hit, SearchResult
from indexer.topics import AskedPractice
from tests.support.fake_bot_api import parse_telegram_html


def _passage(text: str, section: str = "Cookies <&> Co", language: str = "cs") -> Passage:
    sentences = tuple(s.strip() + "." for s in text.split(".") if s.strip())
    return Passage(
        "shop", "policy.txt", "Policy <b>", "v1 & 2", section, text, 0, language, sentences
    )


def _result(passage: Passage) -> SearchResult:
    asked = AskedPractice("cookies", 0.9, {"cookies": 0.9, "none": 0.0})
    hits = [Hit(passage, 0, 1.0, 0.9, 0.0, 0.0)]
    return SearchResult("q", "shop", "en", [], hits, 0.9, 0.5, 1, practice=asked)


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
    assert "closest section" in unanswered


def test_customer_language_order() -> None:
    from aiogram.types import User

    from bot.i18n import customer_language, with_message, written_language

    czech_client = User(id=1, is_bot=False, first_name="A", language_code="cs")
    unknown_client = User(id=1, is_bot=False, first_name="A", language_code="ja")
    ukrainian = written_language(with_message({}, "Як довго ви зберігаєте мої дані?"))
    assert ukrainian == "uk"
    assert customer_language("de", czech_client, "uk") == "de"  # chosen with /language
    # What the customer writes in comes before the Telegram client's language…
    assert customer_language(None, czech_client, ukrainian) == "uk"
    assert customer_language(None, czech_client, None) == "cs"
    # …then the shop's language, then English.
    assert customer_language(None, unknown_client, None, fallback="sv") == "sv"
    assert customer_language(None, None, None) == "en"


def test_one_short_message_never_flips_the_written_language() -> None:
    from bot.i18n import with_message, written_language

    evidence: dict[str, float] = {}
    for text in (
        "Dobrý den, chtěl bych vědět, jak dlouho uchováváte moje osobní údaje.",
        "A komu je předáváte, třeba dopravcům nebo platebním bránám?",
    ):
        evidence = with_message(evidence, text)
    assert written_language(evidence) == "cs"
    for short in ("ok danke", "thanks", "super", "/help"):
        # As the middleware does: the language established so far is kept until another is.
        evidence = with_message(evidence, short)
        assert written_language(evidence, "cs") == "cs", (short, evidence)
    # A short first message is not enough to go on; a question that is unsure either.
    assert written_language(with_message({}, "hi")) is None
    assert written_language(with_message({}, "what do brake pads cost?")) is None
    # Writing on in another language does switch, after real messages.
    for text in (
        "Actually, could you tell me in English how long you keep my order history?",
        "And do you share my address with the courier company?",
    ):
        evidence = with_message(evidence, text)
    assert written_language(evidence) == "en"


def _hits(*sections: str) -> list[Hit]:
    return [
        Hit(_passage(f"About {s}. More.", section=s), i, 1.0, 0.9, 0.0, 0.0)
        for i, s in enumerate(sections)
    ]


def test_see_also_names_each_section_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = SearchResult(
        "q", "shop", "en", [], _hits("Cookies", "Rights", " rights "), 0.9, 0.5, 1
    )
    i18n = I18n(path=tmp_path, default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        text = render_answer(result, ["About Cookies."], "en").text
    assert text.count("See also:") == 1
    assert text.lower().count("rights") == 1  # "Rights" and " rights " are one name
    top_again = SearchResult("q", "shop", "en", [], _hits("Cookies", "Cookies"), 0.9, 0.5, 1)
    with i18n.context(), i18n.use_locale("en"):
        assert "See also" not in render_answer(top_again, ["About Cookies."], "en").text


def test_see_also_leaves_out_passages_outside_any_section(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The foot line of a policy ("Last update: January 2024, Rev.: 1a") and a preamble stand
    # under the document's title: "See also: Policy" would point the customer nowhere.
    hits = _hits("Cookies", "Policy <b>", "Rights")
    result = SearchResult("q", "shop", "en", [], hits, 0.9, 0.5, 1)
    i18n = I18n(path=tmp_path, default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        text = render_answer(result, ["About Cookies."], "en").text
    see_also = next(line for line in text.splitlines() if line.startswith("See also:"))
    assert "Rights" in see_also
    assert "Policy" not in see_also


def test_a_second_passage_as_close_as_the_first_is_quoted_after_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    hits = _hits("Cookies", "Rights <i>", "Retention", "Cookies")
    result = SearchResult("q", "shop", "en", [], hits, 0.9, 0.5, 1)
    also = AlsoQuoted(hits[1], ("About Rights <i>.",))
    i18n = I18n(path=tmp_path, default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        text = render_answer(result, ["About Cookies."], "en", also=also).text
        same = AlsoQuoted(hits[3], ("More.",))
        in_the_same = render_answer(result, ["About Cookies."], "en", also=same).text
    plain, _entities = parse_telegram_html(text)
    assert plain.index("About Cookies.") < plain.index("About Rights <i>.")
    assert "The policy also says, under “Rights <i>”:" in plain
    # The section quoted is not named again among the others.
    see_also = next(line for line in plain.splitlines() if line.startswith("See also:"))
    assert "Retention" in see_also and "Rights" not in see_also
    assert text.count("<blockquote>") == 2
    assert "The policy also says, in the same section:" in in_the_same


def _rejected(none: float) -> SearchResult:
    asked = AskedPractice("none" if none >= 0.5 else "retention", 0.9, {"none": none})
    passage = _passage("Wir speichern Daten fünf Jahre. Danach löschen wir sie.", language="de")
    return SearchResult(
        "q", "shop", "en", [], [Hit(passage, 0, 1.0, 0.4, 0.0, 0.0)], 0.2, 0.5, 1, practice=asked
    )


def test_the_closest_section_is_offered_only_for_questions_about_privacy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    i18n = I18n(path=tmp_path, default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        about_privacy = render_unanswered(_rejected(none=0.02), "en", "a@b.example")
        about_brakes = render_unanswered(_rejected(none=0.95), "en", "a@b.example")
    assert "The closest section is" in about_privacy and "fünf Jahre" in about_privacy
    assert "could not find this" in about_brakes and "a@b.example" in about_brakes
    assert "closest section" not in about_brakes and "<blockquote>" not in about_brakes


def test_each_detail_a_policy_leaves_out_is_said_with_what_the_law_gives(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from indexer.named_details import default_details

    i18n = I18n(path=tmp_path, default_locale="en")
    texts = {}
    with i18n.context(), i18n.use_locale("en"):
        for detail in default_details():
            result = replace(_rejected(none=0.0), silent_detail=detail.name)
            texts[detail.name] = html.unescape(render_silent(result, "Shop", "a@b.example"))
    for name, text in texts.items():
        assert text.startswith("Shop's policy does not"), name
        assert "a@b.example" in text and "<blockquote>" not in text and "fünf" not in text
    # A period left out is said as the practice's silence, with the law on keeping data.
    assert "how long it keeps your data" in texts["retention_period"]
    assert "only as long as it needs it" in texts["retention_period"]
    assert "without undue delay" in texts["breach_notice"]


def test_a_hidden_address_is_quoted_as_the_shops_contact_address(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = "Write to our DPO at [email protected] any time. We answer within a month."
    passage = _passage(text, language="en")
    i18n = I18n(path=tmp_path, default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        answer = render_answer(_result(passage), list(passage.sentences), "en", "dpo@shop.example")
        section = render_full_section([passage], "dpo@shop.example")
        unanswered = render_unanswered(_rejected(none=0.0), "en", "dpo@shop.example")
    for shown in (answer.text, section):
        assert "[email protected]" not in shown and "DPO at dpo@shop.example any time" in shown
        assert "hides this e-mail address" in shown
        parse_telegram_html(shown)
    assert "hides this" not in unanswered  # nothing hidden there, nothing said
    assert "[email protected]" in passage.text  # the passage itself stays as loaded


def test_another_companys_hidden_address_is_not_shown_as_the_shops(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Klingit's policy: its marketing agency's DPO, hidden like the shop's own addresses.
    text = (
        "Våra utsedda databehandlare inkluderar Prospect Global Ltd (handlas som Sopro). "
        "Sopro är registrerade med ICO, deras dataskyddsombud kan mailas på: [email protected]. "
        "Vill du avregistrera dig, skriv till oss på [email protected]."
    )
    passage = _passage(text, language="sv")
    i18n = _translated_i18n(tmp_path)
    with i18n.context(), i18n.use_locale("sv"):
        answer = render_answer(_result(passage), list(passage.sentences), "sv", "hej@shop.example")
    shown = answer.text
    assert "dataskyddsombud kan mailas på: (en adress som policyns text inte anger)" in shown
    assert "skriv till oss på hej@shop.example" in shown
    assert shown.count("hej@shop.example") == 1 and "[email protected]" not in shown
    assert "döljer också ett annat företags e-postadress" in shown
    assert "i stället visas butikens kontaktadress" in shown
    parse_telegram_html(shown)


def test_whose_hidden_address_a_sentence_gives() -> None:
    from indexer.hidden_emails import stands_for_the_shop

    assert stands_for_the_shop("contact Our Data Protection Officer by email [email protected]")
    assert stands_for_the_shop("E-mail: [email protected]")
    assert stands_for_the_shop("Pište nám na [email protected], jejich odpověď přepošleme.")
    assert not stands_for_the_shop("Their DPO can be e-mailed at [email protected].")
    assert not stands_for_the_shop("Їхній DPO: [email protected]")


def _translated_i18n(tmp_path) -> I18n:  # type: ignore[no-untyped-def]
    from bot.i18n import create_i18n

    return create_i18n(tmp_path / "compiled")


def test_a_foreign_quote_begins_with_a_gist_line_in_the_customers_language(tmp_path) -> None:  # type: ignore[no-untyped-def]
    passage = _passage(
        "Údaje o objednávkách uchováváme 10 let. Účet smažeme 3 roky po posledním přihlášení.",
        section="Jak dlouho údaje uchováváme",
    )
    passage = passage.with_topics(("retention", "rights"))
    i18n = _translated_i18n(tmp_path)
    with i18n.context(), i18n.use_locale("de"):
        text = render_answer(_result(passage), list(passage.sentences), "de").text
    plain, _entities = parse_telegram_html(text)
    first_line = plain.splitlines()[0]
    # The passage's likeliest practice (the question asked about cookies, which it does
    # not cover), and the figures verbatim, in German, before the Czech quote.
    assert first_line == (
        "Kurz gesagt geht es in diesem Teil der Richtlinie um: "
        "Wie lange Ihre Daten gespeichert werden. Er nennt: 10 let, 3 roky."
    ), first_line
    assert plain.index(first_line) < plain.index("Údaje o objednávkách")


def test_the_gist_names_the_practice_asked_about_when_the_passage_covers_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    passage = _passage("Používáme cookies pro košík.").with_topics(("security", "cookies"))
    i18n = I18n(path=tmp_path, default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        text = render_answer(_result(passage), list(passage.sentences), "en").text
    assert text.startswith("In short, this part of the policy is about: Cookies and tracking.\n")


def test_no_gist_for_a_quote_in_the_customers_own_language(tmp_path) -> None:  # type: ignore[no-untyped-def]
    passage = _passage("We keep orders for 10 years.", language="en").with_topics(("retention",))
    i18n = I18n(path=tmp_path, default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        text = render_answer(_result(passage), list(passage.sentences), "en").text
    assert "In short" not in text and "states:" not in text


def test_a_long_conversation_does_not_pile_up_evidence_against_a_switch() -> None:
    from bot.i18n import CEILING, with_message, written_language

    evidence: dict[str, float] = {}
    for _ in range(6):
        evidence = with_message(evidence, "Скажите, пожалуйста, как долго вы храните мои данные?")
    assert evidence == {"ru": CEILING}
    # A short message in Ukrainian leaves the conversation Russian…
    assert written_language(with_message(evidence, "дякую, добре"), "ru") == "ru"
    # …one real sentence turns it.
    turned = with_message(evidence, "chy mozhete vydalyty mii akaunt povnistiu")
    assert written_language(turned, "ru") == "uk"
    czech = with_message({}, "Kdo je správce mých osobních údajů?")
    russian = "perestante mne slat reklamu pozhalujsta"
    assert written_language(with_message(czech, russian), "cs") == "ru"
    # A neighbour the bot does not speak counts for its neighbour: Norwegian-looking
    # Swedish is Swedish, Slovak is Czech.
    assert written_language(with_message({}, "kan ni rätta min adress i mitt konto?")) == "sv"
    slovak = "Prosím, vymažte moje osobné údaje z vašej databázy"
    assert written_language(with_message({}, slovak)) == "cs"
