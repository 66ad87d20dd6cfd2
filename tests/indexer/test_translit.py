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
    assert readable("", "ru") == ""


def test_a_message_surely_transliterated_is_read_whatever_the_conversation() -> None:
    """A first short message leaves the conversation in the customer's Telegram language;
    the message itself still says what it is."""
    assert readable("udalite moi dannye", "en") == "удалите мои данные"
    assert readable("udalite moi dannye", None) == "удалите мои данные"
    # Too little to be sure of, outside a Russian conversation: left alone.
    assert readable("spasibo", "en") == "spasibo"
    assert readable("spasibo", "ru") == "спасибо"


def test_english_in_a_russian_conversation_stays_english() -> None:
    """The conversation's language is not enough: the bot searches its own English
    question about a right in the customer's language, and a Russian customer may write
    a sentence in English."""
    question = "How can I have my personal data and my account deleted?"
    assert readable(question, "ru") == question
    assert readable("Please delete my account", "uk") == "Please delete my account"
    # Czech or Polish typed with its diacritics is not transliteration either.
    assert readable("Usuńcie moje dane", "ru") == "Usuńcie moje dane"


def test_an_emoji_or_a_curly_apostrophe_does_not_stop_the_reading() -> None:
    assert readable("udalite moi dannye 🙏", "ru") == "удалите мои данные 🙏"
