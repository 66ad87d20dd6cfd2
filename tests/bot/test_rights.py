"""Which request an answer concerns: the buttons under it (bot/rights.py)."""

from __future__ import annotations

import pytest

from bot.rights import requests_named
from indexer.glossary import default_glossary
from indexer.intents import Intent


@pytest.mark.parametrize(
    "text",
    [
        "How do I correct my details?",
        "Chci si opravit adresu v účtu.",
        "Можна виправити мою адресу доставки?",
        "Можно исправить мой адрес?",
        "Kan ni rätta min adress i mitt konto?",
        "Ich möchte meine falsche Adresse berichtigen lassen.",
        "Żądam sprostowania nieprawidłowych danych.",
        "zadam sprostowania nieprawidlowych danych",
    ],
)
def test_a_correction_in_any_of_the_seven_languages_names_a_person(text: str) -> None:
    assert requests_named([text], default_glossary()) == [Intent.HANDOFF]


def test_requests_named_by_their_objects_and_nothing_else() -> None:
    glossary = default_glossary()
    assert requests_named(["Can I unsubscribe at any time?"], glossary) == [Intent.UNSUBSCRIBE]
    # A repair shop's own word for repairing is no correction of data.
    assert requests_named(["Opravujete i herní konzole?"], glossary) == []
    assert requests_named(["Do you sell my data?"], glossary) == []
    # The quoted passage counts as much as the question.
    rights = "You have the right to request rectification or erasure of your data."
    assert requests_named(["what can I do?", rights], glossary) == [
        Intent.DELETION,
        Intent.HANDOFF,
    ]


def test_each_named_request_is_for_a_right_or_a_detail_the_engine_names() -> None:
    from bot.rights import NAMED_REQUESTS
    from indexer.named_details import default_details
    from indexer.named_rights import RIGHTS

    names = set(RIGHTS) | {detail.name for detail in default_details()}
    assert set(NAMED_REQUESTS) <= names
    assert NAMED_REQUESTS["sms_marketing"] is Intent.UNSUBSCRIBE
