"""Issue 13 §4: a steady conversation language, end to end through the fake Bot API."""

from __future__ import annotations

from tests.bot.conftest import Assistant


async def test_the_language_written_in_wins_and_a_short_message_does_not_flip_it(
    assistant: Assistant,
) -> None:
    await assistant.say("/start webstore")  # an English Telegram client
    first = await assistant.say("Jak dlouho u vás zůstávají uložené moje osobní údaje?")
    assert "Ve zkratce" in first.params["text"]  # the gist line above the English quote
    await assistant.say("A předáváte moje údaje nějakým dalším firmám?")
    thanks = await assistant.say("ok thx")
    assert "Rádo se stalo" in thanks.params["text"] or "Dobrý den" in thanks.params["text"], (
        thanks.params["text"]
    )
    # One short word that reads English: the conversation stays Czech, so the English
    # quote still comes under a Czech gist line.
    short = await assistant.say("cookies?")
    assert short.params["text"].startswith("Ve zkratce: "), short.params["text"]
    assert "verze" in short.params["text"]


async def test_a_language_chosen_with_the_command_beats_what_is_written(
    assistant: Assistant,
) -> None:
    await assistant.say("/start webstore")
    choose = await assistant.say("/language")
    await assistant.press(choose, "Deutsch")
    await assistant.fake.wait_for(
        "sendMessage", predicate=lambda call: "Ab jetzt" in call.params.get("text", "")
    )
    reply = await assistant.say("Jak dlouho u vás zůstávají uložené moje osobní údaje?")
    assert "Kurz gesagt" in reply.params["text"]


async def test_without_writing_or_client_language_the_shop_speaks_its_own(
    assistant: Assistant,
) -> None:
    await assistant.say("/start kivismart", language_code="ja")
    hello = await assistant.say("hi", language_code="ja")
    assert "Dobrý den" in hello.params["text"], hello.params["text"]


async def test_after_a_long_russian_talk_one_ukrainian_sentence_turns_the_conversation(
    assistant: Assistant,
) -> None:
    """Evidence saturates: however long the customer wrote Russian, their first full
    sentence in Ukrainian (here typed in Latin letters) is answered in Ukrainian, while a
    short word in between does not move the conversation."""
    await assistant.say("/start webstore")
    for text in (
        "Скажите, пожалуйста, как долго вы храните мои данные?",
        "А кому вы их передаёте, курьерам или ещё кому-то?",
        "Используете ли вы cookies для рекламы?",
    ):
        await assistant.say(text)
    short = await assistant.say("dyakuyu")
    assert "Всегда пожалуйста" in short.params["text"] or "Пожалуйста" in short.params["text"], (
        short.params["text"]
    )
    offer = await assistant.say("vydalit bud laska mii akaunt ta vsi moi dani")
    assert "Ви хочете, щоб магазин видалив ваші дані." in offer.params["text"], offer.params["text"]
