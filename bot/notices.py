"""The relay that tells customers in their chat what happened to their privacy requests.

The backend queues a `CustomerNotice` in the transaction of each change; this relay sends
them, oldest first, in the customer's language. A notice is deleted only once Telegram has
taken its message, so a crash or an outage loses nothing: a notice may go out twice, never
not at all. A chat that is gone for good (the customer blocked the bot) drops its notice.

An access request's completion carries the export. By link: the one-time token is issued in
the transaction that deletes the notice and is committed only if Telegram took the message,
so a token never exists that the customer did not get. In the chat: the file is marked as
handed over in the transaction that deletes the notice, after Telegram took it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import BufferedInputFile, LinkPreviewOptions
from aiogram.utils.i18n import I18n
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.customers import get_profile
from backend.models import AccessExport, CustomerNotice, PrivacyRequest, utc_now
from backend.privacy_requests.exports import (
    ExportPolicy,
    export_of,
    issue_link,
    mark_handed_over,
    withdraw_link,
)
from backend.privacy_requests.notices import due_notices, notice_failed, notice_sent
from bot.i18n import DEFAULT_LANGUAGE
from bot.notice_texts import chunks, export_by_link, export_gone, export_in_chat, render_notice
from bot.services import Services
from bot.settings import SUPPORTED_LANGUAGES
from indexer.shops import Shop

log = logging.getLogger("bot.notices")

# Telegram would open the link for its preview, and a one-time link opened is a link used.
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


@dataclass(frozen=True)
class Outgoing:
    """A notice ready to go: its text, or a file with the text as its caption."""

    text: str
    document: AccessExport | None = None
    # The export's link (export id, token), issued and committed before the send; taken
    # back if the send fails.
    link: tuple[str, str] | None = None


def notice_language(
    profile_language: str | None, shop: Shop | None, request_language: str | None = None
) -> str:
    """The language the customer chose, else the one they wrote the request in, else the
    shop's, else English."""
    for language in (
        profile_language,
        request_language,
        shop.default_language if shop else None,
    ):
        if language is not None and language in SUPPORTED_LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


def is_gone_for_good(error: TelegramAPIError) -> bool:
    """The chat can never receive a message again (blocked, deactivated, deleted)."""
    if isinstance(error, TelegramForbiddenError):
        return True
    return isinstance(error, TelegramBadRequest) and "chat not found" in error.message.lower()


class NoticeRelay:
    def __init__(
        self,
        bot: Bot,
        services: Services,
        i18n: I18n,
        *,
        export_policy: ExportPolicy,
        public_url: str,
        batch: int = 20,
        poll_seconds: float = 2.0,
        clock: Callable[[], datetime] = utc_now,
        exports_in_chat: bool = False,
    ) -> None:
        """`exports_in_chat`: every access export goes as a file in the chat, whatever the
        shop chose (the local terminal chat, which opens no port for a download link)."""
        self._bot = bot
        self._services = services
        self._i18n = i18n
        self._export_policy = export_policy
        self._public_url = public_url.rstrip("/")
        self._batch = batch
        self._poll_seconds = poll_seconds
        self._clock = clock
        self._exports_in_chat = exports_in_chat

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set: at once again while notices wait, else every
        `poll_seconds`. An error (the database away) is logged and tried again later."""
        while not stop.is_set():
            try:
                fetched, _ = await self._run_batch()
            except Exception:
                log.exception("notice relay failed; retrying at the next interval")
                fetched = 0
            if fetched < self._batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll_seconds)

    async def run_once(self) -> int:
        """Send the notices due now (one batch); returns how many Telegram took."""
        return (await self._run_batch())[1]

    async def _run_batch(self) -> tuple[int, int]:
        async with self._services.database.session() as session:
            notices = await due_notices(session, now=self._clock(), limit=self._batch)
        sent = 0
        for notice in notices:
            sent += await self._relay(notice)
        return len(notices), sent

    async def _relay(self, notice: CustomerNotice) -> bool:
        now = self._clock()
        try:
            await self._deliver(notice, now)
        except TelegramAPIError as error:
            permanent = is_gone_for_good(error)
            await self._failed(notice, now, type(error).__name__, permanent=permanent)
            return False
        except Exception as error:  # a bug must not stop the notices behind this one
            log.exception("notice %s could not be prepared", notice.id)
            await self._failed(notice, now, type(error).__name__, permanent=False)
            return False
        return True

    async def _failed(
        self, notice: CustomerNotice, now: datetime, reason: str, *, permanent: bool
    ) -> None:
        async with self._services.database.session() as session:
            again = await notice_failed(session, notice, now=now, permanent=permanent)
        # Ids and the error's class only: the chat and the text stay out of the log.
        log.warning(
            "notice %s (%s of %s) not sent: %s; %s",
            notice.id,
            notice.event,
            notice.request_id,
            reason,
            "will retry" if again else "dropped",
        )

    async def _deliver(self, notice: CustomerNotice, now: datetime) -> None:
        # No transaction is open while Telegram is called: a slow Bot API must not hold the
        # database (with SQLite's one connection, every API call waited behind it).
        async with self._services.database.session() as session:
            request = await session.get(PrivacyRequest, notice.request_id)
            if request is None:  # purged meanwhile: there is nothing left to tell
                await notice_sent(session, notice.id or 0)
                return
            outgoing = await self._prepare(session, notice, request, now)
        try:
            await self._send(notice.chat_id, outgoing)
        except BaseException:
            if outgoing.link is not None:
                # The link never reached the customer: take it back, so that the export
                # waits for the next attempt rather than for a link nobody has.
                export_id, token = outgoing.link
                async with self._services.database.session() as session:
                    await withdraw_link(session, export_id, token)
            raise
        async with self._services.database.session() as session:
            if outgoing.document is not None:
                export = await session.get(AccessExport, outgoing.document.id)
                if export is not None:
                    await mark_handed_over(session, export, now=now)
            await notice_sent(session, notice.id or 0)

    async def _prepare(
        self, session: AsyncSession, notice: CustomerNotice, request: PrivacyRequest, now: datetime
    ) -> Outgoing:
        shop = self._services.shops.resolve(request.shop_id)
        profile = await get_profile(session, request.pseudonym) if request.pseudonym else None
        language = notice_language(profile.language if profile else None, shop, request.language)
        with self._i18n.context(), self._i18n.use_locale(language):
            if notice.event == "completed" and request.kind == "access":
                return await self._export_notice(session, request, shop, now)
            return Outgoing(render_notice(notice.event, request, shop))

    async def _export_notice(
        self, session: AsyncSession, request: PrivacyRequest, shop: Shop | None, now: datetime
    ) -> Outgoing:
        export = await export_of(session, request.id)
        if export is None or export.downloaded_at is not None:
            return Outgoing(export_gone(request, shop))
        in_chat = shop is not None and shop.privacy_requests.export_delivery == "chat"
        if in_chat or self._exports_in_chat:
            return Outgoing(export_in_chat(request, shop), document=export)
        token = await issue_link(session, export, policy=self._export_policy, now=now)
        assert export.expires_at is not None  # just set by issue_link
        url = f"{self._public_url}/exports/{token}"
        return Outgoing(
            export_by_link(request, shop, url, export.expires_at), link=(export.id, token)
        )

    async def _send(self, chat_id: int, outgoing: Outgoing) -> None:
        if outgoing.document is not None:
            export = outgoing.document
            await self._bot.send_document(
                chat_id,
                BufferedInputFile(export.data, filename=export.filename),
                caption=outgoing.text,
                parse_mode=ParseMode.HTML,
            )
            return
        for text in chunks(outgoing.text):
            await self._bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
            )
