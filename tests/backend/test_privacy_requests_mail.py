"""The verification e-mail speaks the customer's language and names the shop."""

from __future__ import annotations

import re

import pytest

from backend.database import Database
from backend.privacy_requests import mail_code, start_request
from backend.privacy_requests.mail_texts import CODE_LETTERS, code_letter
from tests.backend.privacy_requests_support import (
    ALICE,
    RULES,
    SHOP,
    T0,
    ConsoleMailbox,
)


@pytest.mark.parametrize("language", sorted(CODE_LETTERS))
def test_every_letter_carries_the_code_the_shop_and_the_minutes(language: str) -> None:
    letter = code_letter(language, shop="Kinaexpert", code="042917", minutes=10)
    assert "042917" in letter.subject and "042917" in letter.body
    assert "Kinaexpert" in letter.body and "10" in letter.body
    assert "{" not in letter.subject + letter.body


def test_an_unknown_or_regional_language_falls_back_sensibly() -> None:
    english = code_letter("en", shop="S", code="1", minutes=1)
    assert code_letter("xx", shop="S", code="1", minutes=1) == english
    assert code_letter(None, shop="S", code="1", minutes=1) == english
    assert code_letter("pt-BR", shop="S", code="1", minutes=1) == english
    czech = code_letter("cs", shop="S", code="1", minutes=1)
    assert code_letter("cs-CZ", shop="S", code="1", minutes=1) == czech


async def test_the_code_mail_goes_out_in_the_customers_language(db: Database) -> None:
    mailbox = ConsoleMailbox()
    async with db.session() as session:
        begun = await start_request(
            session,
            SHOP,
            "access",
            ALICE,
            "anna@example.org",
            rules=RULES,
            language="uk",
            shop_name="Webstore",
            now=T0,
        )
    assert begun.code_mail is not None
    await mail_code(db, mailbox.sender, begun.code_mail, now=T0)
    sent = mailbox.output.getvalue()
    assert "Ваш код підтвердження" in sent and "Webstore" in sent
    assert re.search(r"\b\d{6}\b", sent)
