"""The customer-facing bot end to end: updates in through the fake Bot API, replies out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import select

from backend.models import ConversationRecord, CustomerProfile
from tests.bot.conftest import Assistant, assistant_running


async def records(assistant: Assistant) -> list[ConversationRecord]:
    async with assistant.services.database.session() as session:
        return list((await session.exec(select(ConversationRecord))).all())


async def test_deep_link_binds_the_shop_and_answers_with_a_cited_quote(
    assistant: Assistant,
) -> None:
    greeting = await assistant.say("/start webstore")
    assert "Online Store" in greeting.params["text"]
    answer = await assistant.say("How long do you keep my personal data?")
    text = answer.params["text"]
    assert "<b>Data retention</b>" in text
    assert "Privacy and Data Protection Policy, version Rev. 1a" in text
    assert "<blockquote>" in text and "5 years" in text
    labels = [b["text"] for row in answer.params["reply_markup"]["inline_keyboard"] for b in row]
    assert any("Helpful" in label for label in labels)
    assert any("Not helpful" in label for label in labels)
    [record] = await records(assistant)
    assert record.shop_id == "webstore" and record.answered and record.section == "Data retention"
    assert str(1001) not in record.pseudonym  # keyed hash, never the Telegram id


async def test_seed_file_stem_works_as_deep_link(assistant: Assistant) -> None:
    reply = await assistant.say("/start 001_12eaf6e1a40f27b1")
    assert "KIVI SMART PURCHASING" in reply.params["text"]


async def test_question_in_another_language_than_the_policy(assistant: Assistant) -> None:
    await assistant.say("/start kivismart")
    answer = await assistant.say("Do you sell my personal data to other companies?")
    assert "The policy says this in Czech" in answer.params["text"]
    assert "neprodáváme" in answer.params["text"]


async def test_out_of_scope_question_is_honest_and_offers_a_person(assistant: Assistant) -> None:
    await assistant.say("/start autoparts-ua")
    reply = await assistant.say("How much do brake pads for a Skoda Octavia cost?")
    text = reply.params["text"]
    assert "could not find this" in text and "privacy@autoparts-ua.example" in text
    labels = [b["text"] for row in reply.params["reply_markup"]["inline_keyboard"] for b in row]
    assert "Talk to a person" in labels
    [record] = await records(assistant)
    assert not record.answered and record.intent == "out_of_scope"


async def test_unknown_shop_in_deep_link(assistant: Assistant) -> None:
    reply = await assistant.say("/start no-such-shop")
    assert "I don't know the shop" in reply.params["text"]


async def test_question_before_choosing_a_shop_is_answered_after_the_choice(
    assistant: Assistant,
) -> None:
    ask = await assistant.say("Do you use cookies?")
    assert "Which shop" in ask.params["text"]
    await assistant.press(ask, "Klingit")
    calls = await assistant.fake.wait_for("sendMessage", count=3)
    assert "cookie" in calls[-1].params["text"].lower()
    assert "Klingit" in calls[-2].params["text"]


async def test_feedback_is_stored_and_a_forged_one_is_refused(assistant: Assistant) -> None:
    await assistant.say("/start webstore")
    answer = await assistant.say("Do you share my address with the courier?")
    await assistant.press(answer, "Not helpful")
    [thanks] = await assistant.fake.wait_for("answerCallbackQuery")
    assert thanks.params["text"] == "Thank you for the feedback!"
    [record] = await records(assistant)
    assert record.feedback == "not_helpful"
    # Another customer replays the same button: refused, nothing changed.
    await assistant.press(answer, "Helpful", user_id=2002)
    calls = await assistant.fake.wait_for("answerCallbackQuery", count=2)
    assert calls[1].params["text"] == "This button is no longer valid."
    [record] = await records(assistant)
    assert record.feedback == "not_helpful"


async def test_garbage_callback_data_gets_a_sensible_answer(assistant: Assistant) -> None:
    assistant.fake.push_update(assistant.fake.callback_update("fb:not-a-number:x"))
    [call] = await assistant.fake.wait_for("answerCallbackQuery")
    assert call.params["text"] == "This button is no longer valid."
    assistant.fake.push_update(assistant.fake.callback_update("totally-unknown"))
    calls = await assistant.fake.wait_for("answerCallbackQuery", count=2)
    assert calls[1].params["text"] == "This button is no longer valid."


async def test_show_the_full_section(assistant: Assistant) -> None:
    await assistant.say("/start klingit")
    answer = await assistant.say("How long do you keep my information?")
    await assistant.press(answer, "Show the full section")
    calls = await assistant.fake.wait_for("sendMessage", count=3)
    full = calls[-1].params["text"]
    assert "<b>For How Long Do We Keep Your Information?</b>" in full
    assert "to be forgotten" in full and len(full) <= 4096


async def test_binding_survives_a_restart(tmp_path: Path, corpus_index: Path) -> None:
    async with assistant_running(tmp_path, corpus_index) as first:
        await first.say("/start klingit")
    async with assistant_running(tmp_path, corpus_index) as second:
        reply = await second.say("Who is your data protection officer?")
        assert "Which shop" not in reply.params["text"]
        assert "Contacting Us" in reply.params["text"]


async def test_shop_command_switches(assistant: Assistant) -> None:
    await assistant.say("/start klingit")
    menu = await assistant.say("/shop")
    assert "Current shop: Klingit." in menu.params["text"]
    await assistant.press(menu, "Online Store")
    switched = await assistant.fake.wait_for("sendMessage", count=3)
    assert "Now answering about Online Store." in switched[-1].params["text"]
    answer = await assistant.say("Do you keep paper copies?")
    assert "Paper Documents" in answer.params["text"]


async def test_one_shop_deployment_asks_nothing(tmp_path: Path, corpus_index: Path) -> None:
    import shutil

    from tests.conftest import KNOWLEDGE

    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE / "webstore", knowledge / "webstore")
    async with assistant_running(tmp_path, corpus_index, knowledge=knowledge) as one:
        reply = await one.say("Do you sell my data for advertising?")
        assert "Advertising" in reply.params["text"]


async def test_customer_language_from_telegram_and_from_language_command(
    assistant: Assistant,
) -> None:
    reply = await assistant.say("/start webstore", language_code="cs")
    assert "Online Store" in reply.params["text"]
    czech = await assistant.say("/privacy", language_code="cs")
    english = await assistant.say("/privacy", user_id=3003, language_code="en")
    assert czech.params["text"] != english.params["text"]
    choose = await assistant.say("/language", language_code="cs")
    await assistant.press(choose, "Deutsch")
    calls = await assistant.fake.wait_for("sendMessage", count=5)
    assert calls[-1].params["text"] == "Ab jetzt spreche ich Deutsch mit Ihnen."
    german = await assistant.say("/privacy", language_code="cs")
    assert german.params["text"] not in (czech.params["text"], english.params["text"])
    assert "30" in german.params["text"]


async def test_media_gets_a_polite_text_only_reply(assistant: Assistant) -> None:
    for kind in ("photo", "sticker", "voice", "document"):
        before = len(assistant.sent_to(1001))
        assistant.fake.push_update(assistant.fake.media_update(kind))
        calls = await assistant.fake.wait_for("sendMessage", count=before + 1)
        assert "only read text" in calls[-1].params["text"]


async def test_long_message_is_answered_from_its_start(assistant: Assistant) -> None:
    await assistant.say("/start webstore")
    question = "How long do you keep my data? " + "I really want to know. " * 80
    reply = await assistant.say(question)
    assert "first 1000 characters" in reply.params["text"]
    if "No, tell me what the policy says" in str(reply.params.get("reply_markup")):
        # "I really want to know" eighty times could be a request for the data: it asks.
        await assistant.press(reply, "No, tell me what the policy says")
        reply = (await assistant.fake.wait_for("sendMessage", count=3))[-1]
    assert "Data retention" in reply.params["text"]
    [record] = await records(assistant)
    assert len(record.question) <= 1000


async def test_edited_question_is_answered_again(assistant: Assistant) -> None:
    await assistant.say("/start webstore")
    first = await assistant.say("Do you track me?")
    assistant.fake.push_update(
        assistant.fake.edited_message_update(
            "Do you keep paper documents about me?", message_id=first.result["message_id"]
        )
    )
    calls = await assistant.fake.wait_for("sendMessage", count=3)
    assert "Paper Documents" in calls[-1].params["text"]


async def test_group_messages_are_ignored_unless_the_bot_is_addressed(assistant: Assistant) -> None:
    group = -100500
    await assistant.say("/start webstore")
    assistant.fake.push_update(
        assistant.fake.message_update("do you track me?", chat_id=group, chat_type="supergroup")
    )
    addressed = await assistant.say(
        "@privacy_help_bot do you keep paper documents?", chat_id=group, chat_type="supergroup"
    )
    assert "Paper Documents" in addressed.params["text"]
    assert len(assistant.sent_to(group)) == 1


async def test_retry_after_429_is_honoured(assistant: Assistant) -> None:
    assistant.fake.fail_next("sendMessage", error_code=429, retry_after=1)
    assistant.fake.push_update(assistant.fake.message_update("/help"))
    first, second = await assistant.fake.wait_for("sendMessage", count=2)
    assert not first.ok and first.status == 429
    assert second.ok and "Commands:" in second.params["text"]
    assert second.params["text"] == first.params["text"]


async def test_a_flood_gets_one_polite_notice(tmp_path: Path, corpus_index: Path) -> None:
    async with assistant_running(
        tmp_path, corpus_index, throttle_messages=3, throttle_seconds=60
    ) as assistant:
        for number in range(6):
            assistant.fake.push_update(assistant.fake.message_update(f"/help {number}"))
        calls = await assistant.fake.wait_for("sendMessage", count=4)
        await asyncio.sleep(0.5)
        texts = [c.params["text"] for c in assistant.sent_to(1001)]
        assert sum("faster than I can read" in t for t in texts) == 1
        assert len(texts) == 4 and calls


async def test_an_unexpected_error_gets_an_apology_and_the_bot_keeps_serving(
    assistant: Assistant, caplog: pytest.LogCaptureFixture
) -> None:
    await assistant.say("/start webstore")
    engine = assistant.services.engine
    original = engine.understand

    async def broken(*args: object, **kwargs: object) -> object:
        engine.understand = original  # type: ignore[method-assign]
        raise RuntimeError("boom")

    engine.understand = broken  # type: ignore[method-assign]
    apology = await assistant.say("Do you track me?", language_code="de")
    assert apology.params["text"].startswith("Entschuldigung, bei mir ist etwas schiefgelaufen")
    failures = [r for r in caplog.records if r.name == "bot.errors"]
    assert failures and "RuntimeError" in failures[0].getMessage()
    assert not any("track me" in r.getMessage() or "1001" in r.getMessage() for r in caplog.records)
    reply = await assistant.say("Do you keep paper documents?")
    assert "Paper Documents" in reply.params["text"]


async def test_privacy_and_forget(assistant: Assistant) -> None:
    await assistant.say("/start webstore")
    await assistant.say("Do you sell my data?")
    about = await assistant.say("/privacy")
    assert "30 days" in about.params["text"] and "1 questions" in about.params["text"]
    gone = await assistant.say("/forget")
    assert "erased 1 questions" in gone.params["text"]
    assert await records(assistant) == []
    async with assistant.services.database.session() as session:
        assert (await session.exec(select(CustomerProfile))).all() == []
    again = await assistant.say("Do you sell my data?")
    assert "Which shop" in again.params["text"]  # the binding is gone too


async def test_request_intent_quotes_the_right_from_the_policy(assistant: Assistant) -> None:
    await assistant.say("/start klingit")
    reply = await assistant.say("Please stop sending me marketing emails")
    text = reply.params["text"]
    assert "stop marketing messages" in text and "unsubscribe" in text.lower()
    # The request itself starts from here now (tests/bot/test_privacy_request_flows.py).
    labels = [b["text"] for row in reply.params["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Confirm", "Cancel"]
