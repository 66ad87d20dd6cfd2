"""Everything the Telegram bot does, in the web page: a hand-off to the shop's support
group and back (an operator's photo as a file to download), an unsubscribe verified with the e-mailed code, and a finished access
request's notice with its export (a one-time link, or a file only its visitor can fetch)."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
from sqlmodel import select

from backend.models import PrivacyRequest, utc_now
from backend.privacy_requests import complete, get_request, start_work
from backend.privacy_requests.exports import ExportPolicy, attach_export
from backend.privacy_requests.settings import SmtpSettings
from bot.handoff.settings import HandoffSettings
from tests.bot.test_handoff import GROUP, OPERATOR, with_support_group
from tests.bot.test_privacy_request_flows import ANN, BUTTONS
from tests.support.mail_server import Mailbox
from tests.support.web_visitor import Frame, WebVisitor
from tests.web.conftest import WebChat, web_chat_running

FAST_DESK = HandoffSettings(
    group_messages_per_minute=10_000,
    group_min_gap_seconds=0,
    outbox_poll_seconds=0.05,
    idle_check_seconds=3600,
)


async def visitor_of(web_chat: WebChat, shop: str = "webstore") -> tuple[WebVisitor, Frame]:
    person = WebVisitor(web_chat.base_url, shop)
    await person.open_page()
    await person.connect()
    return person, await person.next_bot_message(0)


async def test_a_hand_off_round_trip_through_the_support_group(
    tmp_path: Path,
    corpus_index: Path,
) -> None:
    async with web_chat_running(
        tmp_path,
        corpus_index,
        telegram=True,
        knowledge=with_support_group(tmp_path),
        handoff=FAST_DESK,
        throttle_messages=1000,
    ) as web_chat:
        fake = web_chat.fake
        assert fake is not None
        person, _welcome = await visitor_of(web_chat)
        passed = await person.say("/human")
        assert "passed our conversation to a person" in passed["html"]
        [created] = await fake.wait_for("createForumTopic")
        assert created.params == {"chat_id": GROUP, "name": "Web visitor · Online Store · en"}
        topic = created.result["message_thread_id"]
        await person.send_frame(
            {"type": "message", "text": "My parcel 4711 never came", "nonce": "p1"}
        )
        await fake.wait_for(
            "sendMessage",
            predicate=lambda c: (
                c.ok
                and c.params["chat_id"] == GROUP
                and c.params.get("message_thread_id") == topic
                and c.params["text"] == "My parcel 4711 never came"
            ),
        )
        before = person.last_seq
        operator = fake.message_update(
            "Hello, I am Olga from the shop. Let me look.",
            user_id=OPERATOR,
            first_name="Olga",
            chat_id=GROUP,
            chat_type="supergroup",
            message_thread_id=topic,
        )
        operator["message"]["entities"] = [{"type": "bold", "offset": 0, "length": 5}]
        fake.push_update(operator)
        reply = await person.next_bot_message(before)
        assert reply["html"] == "<b>Hello</b>, I am Olga from the shop. Let me look."
        # A photo reaches the page as a file to download, under its caption.
        before = person.last_seq
        fake.push_update(
            fake.media_update(
                "photo",
                user_id=OPERATOR,
                chat_id=GROUP,
                chat_type="supergroup",
                message_thread_id=topic,
                caption="Your receipt",
                content=b"\xff\xd8 a photo",
            )
        )
        photo = await person.wait(
            lambda: next(
                (m for m in person.bot_messages() if m["seq"] > before and m["file"]), None
            )
        )
        assert photo["html"] == "Your receipt" and photo["file"]["name"] == "photo.jpg"
        async with person.session.get(web_chat.base_url + photo["file"]["url"]) as response:
            assert await response.read() == b"\xff\xd8 a photo"
        await person.close()


async def test_an_unsubscribe_verified_with_the_mailed_code(
    tmp_path: Path,
    corpus_index: Path,
    mailbox: tuple[Mailbox, SmtpSettings],
) -> None:
    inbox, smtp = mailbox
    async with web_chat_running(tmp_path, corpus_index, smtp=smtp) as web_chat:
        person, welcome = await visitor_of(web_chat)
        offer = await person.answer_to_press(welcome, BUTTONS["unsubscribe"])
        assert "Shall I start it?" in offer["html"]
        ask = await person.answer_to_press(offer, "Confirm")
        assert "Which e-mail address does Online Store know you by?" in ask["html"]
        sent = await person.say(ANN)
        assert "I sent a 6-digit code" in sent["html"]
        wrong = await person.say("000000")
        assert "code" in wrong["html"].lower()
        done = await person.say(await inbox.code_for(ANN))
        assert "Done: Online Store will send you no more marketing messages" in done["html"]
        listed = await person.say("/requests")
        assert "Unsubscribe" in listed["html"] or "unsubscribe" in listed["html"].lower()
        async with web_chat.services.database.session() as session:
            [request] = (await session.exec(select(PrivacyRequest))).all()
        assert request.status == "completed" and request.kind == "unsubscribe"
        await person.close()


async def access_verified(
    web_chat: WebChat, person: WebVisitor, welcome: Frame, inbox: Mailbox
) -> str:
    offer = await person.answer_to_press(welcome, BUTTONS["access"])
    ask = await person.answer_to_press(offer, "Confirm")
    assert "e-mail" in ask["html"]
    await person.say(ANN)
    done = await person.say(await inbox.code_for(ANN))
    assert "Confirmed" in done["html"]
    async with web_chat.services.database.session() as session:
        [request] = (await session.exec(select(PrivacyRequest))).all()
    assert request.id is not None
    return request.id


async def shop_completes_with_export(web_chat: WebChat, request_id: str) -> None:
    now = utc_now()
    async with web_chat.services.database.session() as session:
        request = await get_request(session, "webstore", request_id)
        await start_work(session, request, now=now)
        await attach_export(
            session,
            request,
            "orders.json",
            "application/json",
            b'{"orders": []}',
            policy=ExportPolicy(),
            now=now,
        )
        await complete(session, request, now=now)


async def test_a_finished_access_request_brings_its_export_link_into_the_page(
    tmp_path: Path,
    corpus_index: Path,
    mailbox: tuple[Mailbox, SmtpSettings],
) -> None:
    inbox, smtp = mailbox
    async with web_chat_running(tmp_path, corpus_index, smtp=smtp) as web_chat:
        person, welcome = await visitor_of(web_chat)
        request_id = await access_verified(web_chat, person, welcome, inbox)
        before = person.last_seq
        await shop_completes_with_export(web_chat, request_id)
        notice = await person.wait(
            lambda: next(
                (
                    m
                    for m in person.bot_messages()
                    if m["seq"] > before and "/exports/" in m["html"]
                ),
                None,
            )
        )
        link = re.search(r"https?://[^\s\"<]+/exports/[^\s\"<]+", notice["html"])
        assert link is not None, notice["html"]
        async with aiohttp.ClientSession() as session, session.get(link.group(0)) as response:
            # The link's page (a link preview must not spend the one-time download).
            assert response.status == 200
            assert "<form" in await response.text()
        await person.close()


async def test_an_export_sent_as_a_file_reaches_only_its_visitor(
    tmp_path: Path, corpus_index: Path, mailbox: tuple[Mailbox, SmtpSettings]
) -> None:
    knowledge = with_support_group(tmp_path)
    toml = knowledge / "webstore" / "shop.toml"
    toml.write_text(toml.read_text() + '\n[privacy_requests]\nexport_delivery = "chat"\n')
    inbox, smtp = mailbox
    async with web_chat_running(tmp_path, corpus_index, smtp=smtp, knowledge=knowledge) as web_chat:
        person, welcome = await visitor_of(web_chat)
        request_id = await access_verified(web_chat, person, welcome, inbox)
        before = person.last_seq
        await shop_completes_with_export(web_chat, request_id)
        sent = await person.wait(
            lambda: next(
                (m for m in person.bot_messages() if m["seq"] > before and m["file"]), None
            )
        )
        assert sent["file"]["name"] == "orders.json"
        url = web_chat.base_url + sent["file"]["url"]
        async with person.session.get(url) as response:
            assert response.status == 200
            assert await response.read() == b'{"orders": []}'
            assert "attachment" in response.headers["Content-Disposition"]
        stranger = WebVisitor(web_chat.base_url, "webstore")
        await stranger.open_page()
        async with stranger.session.get(url) as response:
            assert response.status == 404
        await stranger.close()
        await person.close()
