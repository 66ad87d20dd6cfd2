"""The notice relay end to end: requests changed through the backend's own functions in a
migrated SQLite database, the notices sent by a real aiogram bot to the fake Bot API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.customers import set_language
from backend.models import AccessExport, CustomerNotice, PrivacyRequest, utc_now
from backend.privacy_requests import (
    StartedRequest,
    cancel,
    complete,
    deny,
    extend,
    get_request,
    mail_code,
    start_request,
    start_work,
    transition,
    verify_code,
)
from backend.privacy_requests.exports import (
    ExportPolicy,
    ExportUnavailableError,
    attach_export,
    redeem,
)
from backend.privacy_requests.fulfilment import SystemOutcome
from backend.privacy_requests.intake import create_on_behalf
from backend.privacy_requests.lifecycle import RequestKind
from bot.i18n import create_i18n
from bot.notice_texts import chunks, render_notice, shown_length
from bot.notices import NoticeRelay
from tests.backend.privacy_requests_support import ConsoleMailbox
from tests.bot.conftest import Assistant, assistant_running, database_serves
from tests.bot.test_privacy_request_flows import shops_with
from tests.support.fake_bot_api import ApiCall

# Now: the backend's housekeeping runs beside the bot on the real clock (and would expire
# or purge what a test made in the past).
T0 = utc_now().replace(microsecond=0)
CHAT = 5001
PSEUDONYM = "p" * 64
PUBLIC_URL = "https://privacy.example/"
EXPORT = b'{"orders": [{"id": 17}]}'
Step = Callable[[AsyncSession, PrivacyRequest], Awaitable[Any]]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def assistant(tmp_path: Path, corpus_index: Path) -> AsyncIterator[Assistant]:
    async with assistant_running(tmp_path, corpus_index, polling=False) as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def new_relay(assistant: Assistant, tmp_path: Path, **options: Any) -> NoticeRelay:
    return NoticeRelay(
        assistant.bot,
        assistant.services,
        create_i18n(tmp_path / "locales"),
        export_policy=ExportPolicy(),
        public_url=PUBLIC_URL,
        **options,
    )


@pytest.fixture
def relay(assistant: Assistant, clock: Clock, tmp_path: Path) -> NoticeRelay:
    return new_relay(assistant, tmp_path, clock=clock)


async def started(session: AsyncSession, assistant: Assistant, kind: RequestKind) -> StartedRequest:
    """A request the customer started in chat CHAT, waiting for the code (not yet mailed)."""
    return await start_request(
        session,
        "webstore",
        kind,
        PSEUDONYM,
        "anna@example.org",
        rules=assistant.services.request_rules,
        chat_id=CHAT,
        now=T0,
    )


async def verified(
    assistant: Assistant, kind: RequestKind, *, language: str | None = None
) -> PrivacyRequest:
    """A request the customer started in chat CHAT and verified with the e-mailed code."""
    services, mailbox = assistant.services, ConsoleMailbox()
    async with services.database.session() as session:
        if language is not None:
            await set_language(session, PSEUDONYM, language)
        begun = await started(session, assistant, kind)
    assert begun.code_mail is not None
    await mail_code(services.database, mailbox.sender, begun.code_mail, now=T0)
    async with services.database.session() as session:
        result = await verify_code(
            session,
            begun.request.id,
            PSEUDONYM,
            mailbox.last_code(),
            rules=services.request_rules,
            now=T0,
        )
    assert result.outcome == "verified"
    return result.request


async def shop_does(assistant: Assistant, request_id: str, *steps: Step) -> PrivacyRequest:
    """The shop's steps on its request, in one unit of work."""
    async with assistant.services.database.session() as session:
        request = await get_request(session, "webstore", request_id)
        for step in steps:
            await step(session, request)
        return request


def working(session: AsyncSession, request: PrivacyRequest) -> Awaitable[Any]:
    return start_work(session, request, now=T0)


def with_export(session: AsyncSession, request: PrivacyRequest) -> Awaitable[Any]:
    return attach_export(
        session, request, "orders.json", "application/json", EXPORT, policy=ExportPolicy(), now=T0
    )


def completed(session: AsyncSession, request: PrivacyRequest) -> Awaitable[Any]:
    return complete(session, request, now=T0)


async def access_completed(assistant: Assistant, language: str | None = None) -> PrivacyRequest:
    """An access request the shop worked on and completed with its export."""
    request = await verified(assistant, "access", language=language)
    return await shop_does(assistant, request.id, working, with_export, completed)


async def notices(assistant: Assistant) -> list[CustomerNotice]:
    async with assistant.services.database.session() as session:
        return list((await session.exec(select(CustomerNotice))).all())


async def stored_export(assistant: Assistant, request_id: str) -> AccessExport:
    async with assistant.services.database.session() as session:
        found = await session.exec(
            select(AccessExport).where(AccessExport.request_id == request_id)
        )
        return found.one()


def sent(assistant: Assistant, method: str = "sendMessage") -> list[ApiCall]:
    return [call for call in assistant.fake.calls_to(method) if call.ok]


def shown(call: ApiCall) -> str:
    """The text as the customer sees it (the fake parsed the HTML)."""
    return str(call.result.get("text") or call.result.get("caption"))


def long_date(day: date, language: str) -> str:
    return format_date(day, format="long", locale=language)


async def test_work_started_is_told_in_english_to_the_requests_chat(
    assistant: Assistant, relay: NoticeRelay
) -> None:
    request = await verified(assistant, "access")
    await shop_does(assistant, request.id, working)
    assert await relay.run_once() == 1
    [call] = sent(assistant)
    assert call.params["chat_id"] == CHAT
    assert call.params["parse_mode"] == "HTML"
    assert call.params["link_preview_options"] == {"is_disabled": True}
    assert request.deadline is not None
    due = long_date(request.deadline.date(), "en")
    assert shown(call) == (
        "A copy of my data · Online Store\n\n"
        f"Online Store has started working on your request. It must be done by {due}.\n\n"
        f"Request number: {request.id}"
    )
    assert await notices(assistant) == []
    assert await relay.run_once() == 0  # nothing twice


async def test_without_a_chosen_language_the_shops_language_is_used(
    assistant: Assistant, relay: NoticeRelay
) -> None:
    assistant.services.shops = shops_with(default_language="cs")
    request = await verified(assistant, "deletion")
    await shop_does(assistant, request.id, working)
    await relay.run_once()
    [call] = sent(assistant)
    assert "Obchod Online Store začal na vaší žádosti pracovat." in shown(call)
    assert "Smazání mých údajů" in shown(call)


EXTENSION_REASON = "Your order history spans <three> systems & an archive."
DENIAL_TEXT = 'We have no account for this address; "guest" orders are not kept.'

# What each event says, in English and in Czech (the customer's chosen language).
EXPECTED: dict[str, dict[str, list[str]]] = {
    "extended": {
        "en": [
            "Online Store has extended the deadline of your request.",
            "The new deadline is {deadline}.",
            "Months added in total: 2.",
            "by at most two further months",
            EXTENSION_REASON,
        ],
        "cs": [
            "Obchod Online Store prodloužil lhůtu pro vyřízení vaší žádosti.",
            "Nový termín je {deadline}.",
            "Prodloužení celkem v měsících: 2.",
            EXTENSION_REASON,
        ],
    },
    "denied": {
        "en": [
            "Online Store has refused your request. Reason: the shop found no data about you.",
            "In the shop's words:\n" + DENIAL_TEXT,
            "you can complain to a data protection authority",
        ],
        "cs": [
            "Obchod Online Store vaši žádost zamítl. Důvod: obchod o vás nenašel žádné údaje.",
            DENIAL_TEXT,
            "stížnost u úřadu pro ochranu osobních údajů",
        ],
    },
    "canceled": {
        "en": ["Online Store has canceled your request; it will not be processed."],
        "cs": ["Obchod Online Store vaši žádost zrušil; nebude zpracována."],
    },
    "expired": {
        "en": ["the e-mail code was not entered in time", "(/start)"],
        "cs": ["kód z e-mailu nebyl včas zadán", "(/start)"],
    },
}


async def expire(assistant: Assistant) -> PrivacyRequest:
    async with assistant.services.database.session() as session:
        request = (await started(session, assistant, "access")).request
        await transition(session, request, "expired", actor="system", now=T0)
        return request


async def caused(assistant: Assistant, event: str) -> PrivacyRequest:
    """A request of the customer (who chose their language) that `event` happened to."""
    if event == "expired":
        return await expire(assistant)
    request = await verified(assistant, "access")

    async def step(session: AsyncSession, request: PrivacyRequest) -> None:
        if event == "extended":
            await extend(session, request, 2, EXTENSION_REASON, now=T0)
        elif event == "denied":
            await deny(session, request, "no_customer_match", DENIAL_TEXT, now=T0)
        else:
            await cancel(session, request, actor="shop", now=T0)

    return await shop_does(assistant, request.id, step)


@pytest.mark.parametrize("language", ["en", "cs"])
@pytest.mark.parametrize("event", sorted(EXPECTED))
async def test_each_event_in_the_customers_language(
    assistant: Assistant, relay: NoticeRelay, event: str, language: str
) -> None:
    async with assistant.services.database.session() as session:
        await set_language(session, PSEUDONYM, language)
    request = await caused(assistant, event)
    assert await relay.run_once() == 1
    [call] = sent(assistant)
    assert call.params["chat_id"] == CHAT
    text = shown(call)
    deadline = long_date(request.deadline.date(), language) if request.deadline else ""
    for expected in EXPECTED[event][language]:
        assert expected.format(deadline=deadline) in text, text
    assert text.endswith(request.id)
    # What the shop typed arrives verbatim, escaped for Telegram's HTML.
    if event == "extended":
        assert "&lt;three&gt; systems &amp; an archive" in call.params["text"]


async def test_deletion_outcomes_in_plain_words(assistant: Assistant, relay: NoticeRelay) -> None:
    request = await verified(assistant, "deletion", language="uk")
    outcomes = [
        SystemOutcome("Customer accounts", "erased"),
        SystemOutcome("Newsletter", "no_match"),
        SystemOutcome(
            "Orders system", "retained", "Accounting Act § 31 (tax records)", date(2031, 12, 31)
        ),
    ]

    async def done(session: AsyncSession, request: PrivacyRequest) -> None:
        await complete(session, request, outcomes=outcomes, now=T0)

    await shop_does(assistant, request.id, working, done)
    assert await relay.run_once() == 2  # "in progress", then "completed"
    text = shown(sent(assistant)[-1])
    until = long_date(date(2031, 12, 31), "uk")
    assert "Магазин Online Store завершив видалення." in text
    assert "• Customer accounts: ваші дані видалено." in text
    assert "• Newsletter: не містила даних про вас." in text
    assert (
        f"• Orders system: зберігаються до {until} "
        "(правова підстава: Accounting Act § 31 (tax records))."
    ) in text
    assert "Збережені дані буде видалено не пізніше зазначеної дати." in text


def test_deletion_outcomes_in_english(tmp_path: Path) -> None:
    request = PrivacyRequest(
        id="pr_1",
        shop_id="webstore",
        kind="deletion",
        status="completed",
        email_hash="0" * 64,
        outcomes=[
            {"system": "Shop <accounts>", "outcome": "erased"},
            {
                "system": "Orders system",
                "outcome": "retained",
                "legal_basis": "tax law",
                "retained_until": "2031-12-31",
            },
        ],
    )
    i18n = create_i18n(tmp_path / "locales")
    with i18n.context(), i18n.use_locale("en"):
        text = render_notice("completed", request, None)
    assert "• Shop &lt;accounts&gt;: your data was deleted." in text
    assert "• Orders system: kept until December 31, 2031 (legal basis: tax law)." in text


async def test_access_export_by_a_one_time_link(
    assistant: Assistant, relay: NoticeRelay, clock: Clock
) -> None:
    await access_completed(assistant)
    assert await relay.run_once() == 2  # "in progress", then "completed" with the link
    call = sent(assistant)[-1]
    assert call.params["link_preview_options"] == {"is_disabled": True}
    text = shown(call)
    assert "Online Store has completed your request: the copy of your data is ready." in text
    expires = clock.now + ExportPolicy().link_ttl
    assert f"It works only once, until {long_date(expires.date(), 'en')}" in text
    found = re.search(r"https://privacy\.example/exports/(\S+)", text)
    assert found, text
    token = found.group(1)
    async with assistant.services.database.session() as session:
        export = await redeem(session, token, now=clock.now + timedelta(minutes=5))
    assert export.data == EXPORT
    async with assistant.services.database.session() as session:
        with pytest.raises(ExportUnavailableError):
            await redeem(session, token, now=clock.now + timedelta(minutes=6))
    assert await notices(assistant) == []


async def test_access_export_as_a_file_in_the_chat(
    assistant: Assistant, relay: NoticeRelay
) -> None:
    assistant.services.shops = shops_with(export_delivery="chat")
    request = await access_completed(assistant, language="de")
    assert await relay.run_once() == 2
    assert len(sent(assistant)) == 1  # "in progress"
    [call] = sent(assistant, "sendDocument")
    assert call.params["chat_id"] == CHAT
    assert call.files["document"].content == EXPORT
    assert call.files["document"].filename == "orders.json"
    assert "Online Store hat Ihre Anfrage erledigt: Hier ist die Kopie Ihrer Daten." in shown(call)
    export = await stored_export(assistant, request.id)
    assert export.downloaded_at == T0 and export.token_hash is None
    assert await notices(assistant) == []


async def test_a_failed_send_keeps_the_notice_and_issues_no_link(
    assistant: Assistant, relay: NoticeRelay, clock: Clock
) -> None:
    request = await access_completed(assistant)
    assistant.fake.fail_next(
        "sendMessage",
        error_code=500,
        description="Internal Server Error",
        retry_after=None,
        times=2,
    )
    assert await relay.run_once() == 0
    [_, notice] = await notices(assistant)
    assert notice.attempts == 1 and notice.next_attempt_at > clock.now
    assert (await stored_export(assistant, request.id)).token_hash is None
    assert await relay.run_once() == 0  # not due yet
    clock.now = notice.next_attempt_at
    assert await relay.run_once() == 2
    assert "/exports/" in shown(sent(assistant)[-1])
    assert (await stored_export(assistant, request.id)).token_hash is not None
    assert await notices(assistant) == []


@pytest.mark.parametrize("gone", ["blocked", "chat not found"])
async def test_a_chat_gone_for_good_drops_the_notice(
    assistant: Assistant, relay: NoticeRelay, gone: str
) -> None:
    request = await verified(assistant, "access")
    await shop_does(assistant, request.id, working)
    if gone == "blocked":
        assistant.fake.block(CHAT)
    else:
        assistant.fake.fail_next(
            "sendMessage",
            error_code=400,
            description="Bad Request: chat not found",
            retry_after=None,
        )
    assert await relay.run_once() == 0
    assert await notices(assistant) == []
    assert sent(assistant) == []


async def test_requests_made_on_behalf_queue_no_notices(
    assistant: Assistant, relay: NoticeRelay
) -> None:
    async with assistant.services.database.session() as session:
        request = await create_on_behalf(
            session,
            "webstore",
            "deletion",
            "anna@example.org",
            rules=assistant.services.request_rules,
            now=T0,
        )

    async def steps(session: AsyncSession, request: PrivacyRequest) -> None:
        await start_work(session, request, now=T0)
        await extend(session, request, 1, "Archive restore", now=T0)
        await complete(session, request, outcomes=[SystemOutcome("shop", "erased")], now=T0)

    await shop_does(assistant, request.id, steps)
    assert await notices(assistant) == []
    assert await relay.run_once() == 0
    assert assistant.fake.calls_to("sendMessage") == []


async def test_run_forever_relays_until_stopped(assistant: Assistant, tmp_path: Path) -> None:
    fast = new_relay(assistant, tmp_path, poll_seconds=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(fast.run_forever(stop))
    request = await verified(assistant, "access")
    await shop_does(assistant, request.id, working)
    [call] = await assistant.fake.wait_for("sendMessage")
    assert call.params["chat_id"] == CHAT
    stop.set()
    await asyncio.wait_for(task, 2)


def test_long_notices_are_cut_between_lines() -> None:
    line = "• " + "x" * 1000
    text = "\n".join([line] * 9)
    parts = list(chunks(text))
    assert len(parts) == 3
    assert all(shown_length(part) <= 4096 for part in parts)
    assert "\n".join(parts) == text


async def test_a_request_the_shop_confirms_is_told_with_its_deadline(
    assistant: Assistant, relay: NoticeRelay
) -> None:
    from backend.privacy_requests.intake import confirm_by_shop

    services = assistant.services
    async with services.database.session() as session:
        waiting = await start_request(
            session,
            "webstore",
            "deletion",
            PSEUDONYM,
            "anna@example.org",
            rules=services.request_rules,
            chat_id=CHAT,
            verification="shop",
            language="uk",
            now=T0,
        )
    async with services.database.session() as session:
        found = await get_request(session, "webstore", waiting.request.id)
        await confirm_by_shop(session, found, rules=services.request_rules, now=T0)
    assert await relay.run_once() == 1
    [call] = sent(assistant)
    assert found.deadline is not None
    # Written in Ukrainian and never chose a language: the request's language is used.
    assert "Магазин Online Store підтвердив, що запит ваш." in shown(call)
    assert long_date(found.deadline.date(), "uk") in shown(call)


async def test_the_customers_chosen_language_wins_over_the_requests(
    assistant: Assistant, relay: NoticeRelay
) -> None:
    services = assistant.services
    async with services.database.session() as session:
        await set_language(session, PSEUDONYM, "cs")
        waiting = await start_request(
            session,
            "webstore",
            "deletion",
            PSEUDONYM,
            "anna@example.org",
            rules=services.request_rules,
            chat_id=CHAT,
            verification="shop",
            language="uk",
            now=T0,
        )
    await shop_does(
        assistant, waiting.request.id, lambda session, r: r and _confirm(session, r, services)
    )
    await relay.run_once()
    [call] = sent(assistant)
    assert "Obchod Online Store potvrdil, že žádost je vaše." in shown(call)


def _confirm(session: AsyncSession, request: PrivacyRequest, services: Any) -> Awaitable[Any]:
    from backend.privacy_requests.intake import confirm_by_shop

    return confirm_by_shop(session, request, rules=services.request_rules, now=T0)


async def test_two_relays_never_send_the_same_notice(
    assistant: Assistant, clock: Clock, tmp_path: Path
) -> None:
    request = await verified(assistant, "access")
    await shop_does(assistant, request.id, working)
    first = new_relay(assistant, tmp_path, clock=clock)
    second = new_relay(assistant, tmp_path, clock=clock)
    assert sorted(await asyncio.gather(first.run_once(), second.run_once())) == [0, 1]
    assert len(sent(assistant)) == 1


async def test_a_slow_telegram_does_not_hold_the_database(
    assistant: Assistant, relay: NoticeRelay
) -> None:
    # Issue 12, defect 5: the export link was sent inside an open transaction, so with
    # SQLite's one connection every other database call waited for Telegram.
    request = await verified(assistant, "access")
    await shop_does(assistant, request.id, working)
    assert await relay.run_once() == 1  # "in progress" out of the way
    await shop_does(assistant, request.id, with_export, completed)
    gate = assistant.fake.hold("sendMessage")
    relaying = asyncio.create_task(relay.run_once())
    try:
        await assistant.fake.wait_for("sendMessage", count=2)  # the link, in Telegram's hands
        # While it hangs there, the database serves others (a write, which SQLite's lock
        # would have refused too). The bound only keeps a regression from hanging the run.
        await database_serves(assistant.services.database, PrivacyRequest)
    finally:
        gate.set()
    await relaying
