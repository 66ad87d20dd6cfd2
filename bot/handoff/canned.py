"""Canned replies: short texts operators save per shop and send by their key, in the
customer's language when a translation was saved.

    /canned add KEY TEXT        /canned add KEY@cs TEXT      /canned KEY
    /canned list                /canned del KEY              /canned del KEY@cs
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from backend.handoffs import (
    canned_replies,
    canned_reply_for,
    check_canned,
    delete_canned_reply,
    save_canned_reply,
    touch_handoff,
)
from backend.models import Handoff
from bot.handoff import staff_texts
from bot.handoff.group_queue import queue_note
from bot.services import Services

Action = Literal["add", "list", "del", "send", "help"]


@dataclass(frozen=True)
class CannedCommand:
    action: Action
    key: str = ""
    language: str = ""  # "" is the default version
    text: str = ""


def _key_and_language(word: str) -> tuple[str, str]:
    key, _, language = word.lower().partition("@")
    return key, language


def parse_canned(args: str | None) -> CannedCommand:
    """The command in `/canned`'s arguments; ValueError saying what is wrong."""
    words = (args or "").strip().split(maxsplit=2)
    if not words:
        return CannedCommand("help")
    verb = words[0].lower()
    if verb == "list":
        return CannedCommand("list")
    if verb in ("add", "del"):
        if len(words) < 2:
            raise ValueError(f"{verb} needs a key")
        key, language = _key_and_language(words[1])
        text = words[2].strip() if verb == "add" and len(words) > 2 else ""
        if verb == "add" and not text:
            raise ValueError("add needs a text after the key")
        check_canned(key, language, text if verb == "add" else None)
        return CannedCommand("add" if verb == "add" else "del", key, language, text)
    key, language = _key_and_language(words[0])
    check_canned(key, language)
    return CannedCommand("send", key, language)


async def manage_canned(services: Services, shop_id: str, command: CannedCommand) -> str:
    """add, list or del; returns the answer for the operator."""
    async with services.database.session() as session:
        if command.action == "add":
            await save_canned_reply(session, shop_id, command.key, command.text, command.language)
            return staff_texts.canned_saved(command.key, command.language)
        if command.action == "del":
            removed = await delete_canned_reply(
                session, shop_id, command.key, command.language or None
            )
            return staff_texts.canned_deleted(command.key, removed)
        if command.action == "list":
            return staff_texts.canned_list(list(await canned_replies(session, shop_id)))
    return staff_texts.CANNED_USAGE


async def send_canned(
    bot: Bot, services: Services, handoff: Handoff, command: CannedCommand
) -> str | None:
    """Send the reply to the customer of `handoff` (in their language if saved; an explicit
    KEY@xx picks that version) and show it in the topic. Returns a refusal, or None."""
    assert handoff.id is not None and handoff.chat_id is not None
    async with services.database.session() as session:
        reply = await canned_reply_for(
            session, handoff.shop_id, command.key, command.language or handoff.language
        )
    if reply is None:
        return staff_texts.canned_missing(command.key)
    try:
        # As typed: an operator's "<" is a character, not the start of a tag.
        sent = await bot.send_message(chat_id=handoff.chat_id, text=reply.text, parse_mode=None)
    except TelegramAPIError as error:
        return staff_texts.not_delivered_note(error.message)
    async with services.database.session() as session:
        await queue_note(
            session,
            handoff,
            staff_texts.canned_sent(reply.key, reply.language, reply.text),
            pair=("to_customer", sent.message_id),
        )
        await touch_handoff(session, handoff.id)
    services.handoff.ring()
    return None
