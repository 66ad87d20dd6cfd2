"""normalize_text is shared by the index and the eval gold strings: it must be exact and stable."""

from __future__ import annotations

import pytest

from indexer.normalize import fold_for_match, normalize_text

TRICKY = [
    "",
    "   \n\n  ",
    "LLC \\„KIVI SMART PURCHASING\\“",
    '\\\\„double escaped\\\\“ and \\\\\\"triple\\\\\\"',
    'He said \\"yes\\" and it\\\'s fine',
    "C:\\Users\\shop\\policy.txt and a trailing backslash \\",
    "a\u00a0\u00a0b\u2009c\u202fd\u3000e\t\t f",
    "zero\u200bwidth\u200c\u200djoin\ufeff soft\u00adhyphen",
    "e\u200b\u0301 combining after an invisible",
    "\\\u0301 backslash before a combining mark",
    "\u1100\\\u1161 hangul jamo around a backslash",
    "line one  \r\nline two\rline three\n\n\n\n\nnext paragraph",
    " \u00a0 \n\u200b\n \\ \n",
    "Cafe\u0301 and Caf\u00e9",
    "page one\fpage two\x00\x07 with controls\x85after NEL\u2028after LS\u2029after PS",
    "„typographic“ ”quotes” ’apostrophes’ – dashes —",
]


def test_repairs_the_escaped_quotes_of_the_czech_policy() -> None:
    assert normalize_text("LLC \\„KIVI SMART PURCHASING\\“") == "LLC „KIVI SMART PURCHASING“"


def test_repairs_escaped_ascii_punctuation() -> None:
    assert normalize_text('He said \\"yes\\" and it\\\'s \\*fine\\*') == (
        'He said "yes" and it\'s *fine*'
    )


def test_repairs_repeated_escapes_in_one_pass() -> None:
    assert normalize_text("\\\\„quoted\\\\“") == "„quoted“"


def test_keeps_a_backslash_before_letters_digits_and_spaces() -> None:
    text = "Saved in C:\\Users\\shop\\2024 \\ done"
    assert normalize_text(text) == text


def test_keeps_typographic_quotes_and_dashes() -> None:
    text = "„typographic“ ”quotes” ’apostrophes’ – dashes — «guillemets»"
    assert normalize_text(text) == text


def test_composes_to_nfc() -> None:
    assert normalize_text("Cafe\u0301") == "Caf\u00e9"


@pytest.mark.parametrize(
    "space",
    ["\u00a0", "\u1680", *map(chr, range(0x2000, 0x200B)), "\u202f", "\u205f", "\u3000", "\t"],
)
def test_turns_unicode_spaces_into_one_plain_space(space: str) -> None:
    assert normalize_text(f"a{space}b {space} c") == "a b c"


@pytest.mark.parametrize("invisible", ["\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad"])
def test_drops_zero_width_characters_and_soft_hyphens(invisible: str) -> None:
    assert normalize_text(f"{invisible}pro{invisible}tection{invisible}") == "protection"


def test_drops_an_invisible_between_a_letter_and_its_accent() -> None:
    assert normalize_text("e\u200b\u0301") == "\u00e9"


def test_unifies_line_endings() -> None:
    assert normalize_text("one\r\ntwo\rthree\nfour") == "one\ntwo\nthree\nfour"


def test_keeps_line_structure_and_one_blank_line_between_paragraphs() -> None:
    text = "  Title  \n\n\n\n  first   line \n\tsecond line\t\n\n\nNext  paragraph \n\n"
    assert normalize_text(text) == "Title\n\nfirst line\nsecond line\n\nNext paragraph"


def test_blank_lines_made_of_invisible_characters_collapse() -> None:
    assert normalize_text("one\n \u00a0 \n\u200b\n\ntwo") == "one\n\ntwo"


def test_whitespace_only_becomes_empty() -> None:
    assert normalize_text(" \u00a0\n\u200b\t\r\n ") == ""


@pytest.mark.parametrize("text", TRICKY)
def test_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_is_idempotent_on_combinations_of_tricky_strings() -> None:
    # Joining pieces creates adjacencies (escape then quote, space then newline)
    # that none of the pieces has alone.
    for left in TRICKY:
        for right in TRICKY:
            for joint in ("", " ", "\n", "\\"):
                once = normalize_text(left + joint + right)
                assert normalize_text(once) == once, repr(left + joint + right)


def test_fold_for_match_joins_lines_and_paragraphs() -> None:
    assert fold_for_match("We keep\n  your data\n\n\nfor five\u00a0years.") == (
        "We keep your data for five years."
    )


def test_fold_for_match_lets_a_gold_string_match_across_a_line_break() -> None:
    passage = "LLC \\„KIVI SMART\nPURCHASING\\“ collects data"
    assert fold_for_match("„KIVI SMART PURCHASING“") in fold_for_match(passage)


@pytest.mark.parametrize("text", TRICKY)
def test_fold_for_match_is_idempotent(text: str) -> None:
    once = fold_for_match(text)
    assert fold_for_match(once) == once
    assert "\n" not in once
