from __future__ import annotations

import itertools

from indexer.loaders import load_document
from indexer.passages import split_passages
from indexer.sentences import split_sentences
from tests.indexer.conftest import KNOWLEDGE


def _passages(shop: str, max_chars: int = 700) -> list:  # type: ignore[type-arg]
    text = load_document(KNOWLEDGE / shop / "privacy-policy.txt").text
    return split_passages(
        text,
        shop_id=shop,
        document="privacy-policy.txt",
        document_title="Policy",
        version="1",
        max_chars=max_chars,
    )


def test_headings_in_plain_text_become_section_titles() -> None:
    klingit = {p.section for p in _passages("klingit")}
    assert "What Are Your Privacy Rights?" in klingit
    assert "Opting out of email marketing" in klingit
    assert "Contacting Us" in klingit  # "Contacting Us:" is a heading, not a lead-in
    kivismart = {p.section for p in _passages("kivismart")}
    assert "Cookies webového prohlížeče" in kivismart
    ukrainian = {p.section for p in _passages("autoparts-ua")}
    assert "Як захищається персональна інформація" in ukrainian


def test_every_passage_has_a_section_and_text_is_not_a_heading() -> None:
    for shop in ("kinaexpert", "kivismart", "autoparts-ua", "klingit", "webstore"):
        for passage in _passages(shop):
            assert passage.section
            assert passage.text.strip()
            assert passage.embedding_text.startswith(passage.section)


def test_bullet_list_stays_with_its_lead_in() -> None:
    cookies = [p for p in _passages("webstore") if p.section == "Cookies and session data"]
    assert len(cookies) == 1
    assert cookies[0].text.startswith("For technical reason we are using cookies to:")
    assert "Transmit and receive informations" in cookies[0].text
    # A long list is cut between items, and every piece repeats the lead-in.
    lead = "Vi använder informationen som vi samlar in eller tar emot:"
    pieces = [p for p in _passages("klingit") if lead in p.text]
    assert len(pieces) > 1
    assert all(p.text.startswith(lead) for p in pieces)


def test_passages_are_bounded() -> None:
    for max_chars in (300, 700):
        for passage in _passages("klingit", max_chars):
            longest_sentence = max(len(s) for s in split_sentences(passage.text))
            assert len(passage.text) <= max(max_chars, longest_sentence) + 200


def test_long_paragraph_is_cut_at_sentences_with_overlap() -> None:
    sentences = [f"Sentence number {i} talks about data retention rules." for i in range(12)]
    passages = split_passages(
        "Retention\n\n" + " ".join(sentences),
        shop_id="s",
        document="d",
        document_title="T",
        version="1",
        max_chars=200,
        overlap_sentences=1,
    )
    assert len(passages) > 2
    for first, second in itertools.pairwise(passages):
        assert first.sentences[-1] == second.sentences[0]
    assert all(p.section == "Retention" for p in passages)


def test_hard_wrapped_paragraph_is_joined() -> None:
    text = "Cookies\n\nWe use cookies to keep you\nlogged in and to remember\nyour cart."
    passages = split_passages(text, shop_id="s", document="d", document_title="T", version="1")
    assert [p.text for p in passages] == [
        "We use cookies to keep you logged in and to remember your cart."
    ]
    assert passages[0].section == "Cookies"


def test_numbered_heading() -> None:
    text = (
        "1. Introduction\n\nThis policy explains what we collect.\n\n2. Cookies\n\nWe use cookies."
    )
    passages = split_passages(
        text, shop_id="s", document="d", document_title="T", version="1", max_chars=50
    )
    assert [p.section for p in passages] == ["1. Introduction", "2. Cookies"]


def test_sentence_splitter_keeps_abbreviations() -> None:
    assert split_sentences("We keep e.g. invoices. Then we delete them.") == [
        "We keep e.g. invoices.",
        "Then we delete them.",
    ]


def test_a_policys_foot_line_is_a_passage_of_the_whole_document() -> None:
    """ "Last update: January 2024, Rev.: 1a" under the last heading is the document's
    date, not part of that section (where it made "Shipping Carrier" read as a passage
    about policy changes)."""
    body = "Shipping Carrier\n\nYour address may be given to the carrier.\n\n"
    passages = split_passages(
        body + "Last update: January 2024, Rev.: 1a\n",
        shop_id="s",
        document="d",
        document_title="Privacy Policy",
        version="1",
    )
    assert [(p.section, p.text) for p in passages] == [
        ("Shipping Carrier", "Your address may be given to the carrier."),
        ("Privacy Policy", "Last update: January 2024, Rev.: 1a"),
    ]
    # A last line without a year, or a sentence, stays in its section.
    for last in ("Phone: +420 123 456 789", "This policy applies from 1 May 2024."):
        [passage] = split_passages(
            body + last, shop_id="s", document="d", document_title="Privacy Policy", version="1"
        )
        assert passage.section == "Shipping Carrier" and passage.text.endswith(last)
