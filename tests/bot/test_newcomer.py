"""Issue 13, section 6: what a newcomer hit, end to end through the fake Bot API."""

from __future__ import annotations

import html
import re

from tests.bot.conftest import Assistant


async def test_a_hidden_address_is_quoted_as_the_shops_contact_address(
    assistant: Assistant,
) -> None:
    # Klingit's policy was copied from a page that shows "[email protected]" for addresses.
    await assistant.say("/start klingit")
    answer = await assistant.say("How can I contact your Data Protection Officer?")
    text = html.unescape(answer.params["text"])
    assert "Data Protection Officer (DPO) by email dpo@klingit.example" in text
    assert "[email protected]" not in text and "hides this e-mail address" in text
    # The full section of a longer one, which hides its processor's address too.
    shortened = await assistant.say("Who does marketing for you, Sopro?")
    await assistant.press(shortened, "Show the full section")
    full = html.unescape((await assistant.fake.wait_for("sendMessage", count=4))[-1].params["text"])
    assert "kan mailas på: dpo@klingit.example" in full and "[email protected]" not in full
    # The index keeps the text as loaded: only what is shown changes.
    understanding = await assistant.services.engine.understand(
        "How can I contact your Data Protection Officer?", "klingit"
    )
    assert "[email protected]" in understanding.result.hits[0].passage.text


def _see_also(text: str) -> list[str]:
    line = next((line for line in text.splitlines() if line.startswith("See also:")), "")
    return re.findall(r"<i>(.*?)</i>", line)


async def test_see_also_never_names_a_section_twice(assistant: Assistant) -> None:
    # Questions whose second and third passages come from one section.
    asked = {
        "klingit": ["someone got into my acc i think, what now", "What rights do I have?"],
        "autoparts-ua": ["Why do you need my car make and model when I sign up?"],
    }
    listed = []
    for shop, questions in asked.items():
        await assistant.say(f"/start {shop}")
        for question in questions:
            names = _see_also((await assistant.say(question)).params["text"])
            assert len(names) == len(set(names)), (question, names)
            listed += names
    assert listed  # the check saw some "See also" lines


async def test_an_answer_out_of_scope_shows_no_unrelated_passage(assistant: Assistant) -> None:
    await assistant.say("/start autoparts-ua")
    brakes = (await assistant.say("Brake pads for a Skoda?")).params["text"]
    assert "could not find this" in brakes and "privacy@autoparts-ua.example" in brakes
    assert "closest section" not in brakes and "<blockquote>" not in brakes
    # A question about privacy the policy does not answer well still gets the closest one.
    await assistant.say("/start klingit")
    privacy = (
        await assistant.say("skolko vremeni u vas zanimaet otvet na zapros po moim dannym?")
    ).params["text"]
    assert "could not find this" in privacy and "The closest section is" in privacy
    assert "<blockquote>" in privacy
