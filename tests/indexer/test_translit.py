"""Russian and Ukrainian typed in Latin letters, read back into Cyrillic (indexer/translit.py)."""

from __future__ import annotations

from indexer.translit import readable


def test_words_of_the_training_messages_come_back_with_their_letters_right() -> None:
    assert readable("udalite moi dannye", "ru") == "удалите мои данные"
    assert readable("pozhalujsta zabudte menya", "ru") == "пожалуйста забудьте меня"
    assert readable("vydalit mii akaunt bud laska", "uk") == "видаліть мій акаунт будь ласка"
    # Capitals, punctuation and figures stay where they were; words come back in lower case.
    assert readable("Udalite moi dannye!!! 2 akkaunta", "ru") == "удалите мои данные!!! 2 аккаунта"


def test_a_word_the_training_messages_lack_is_read_by_the_common_digraphs() -> None:
    assert readable("krokodil zhaba yula", "ru") == "крокодил жаба юла"


def test_other_messages_are_left_as_they_are() -> None:
    assert readable("Please delete my data", "en") == "Please delete my data"
    assert readable("smazte moje udaje", "cs") == "smazte moje udaje"
    assert readable("удалите мои данные", "ru") == "удалите мои данные"
    # Mixed scripts: the customer chose Cyrillic for part of it; nothing is guessed.
    assert readable("удалите мой akkaunt", "ru") == "удалите мой akkaunt"
    assert readable("udalite moi dannye", None) == "udalite moi dannye"
    assert readable("", "ru") == ""
