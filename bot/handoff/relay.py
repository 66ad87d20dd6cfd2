"""Messages copied between the customer's private chat and their topic, both ways.

Into the group everything is queued (Telegram's ~20 messages a minute per group); into the
customer's chat it goes at once. Every copy is paired with its original (`RelayedMessage`),
so that an edit is mirrored onto the copy and a reply keeps pointing at the same message.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import SendMessage
from aiogram.types import (
    BufferedInputFile,
    Message,
    MessageEntity,
    MessageId,
    ReplyParameters,
)

from backend.handoffs import customer_side, record_relay, touch_handoff
from backend.models import Handoff
from bot.handoff import staff_texts
from bot.handoff.group_queue import post_note, queue_call
from bot.handoff.topics import topic_name
from bot.services import Services
from bot.web.visitors import is_web_chat
from indexer.shops import Shop


def _entities(entities: list[MessageEntity] | None) -> list[dict[str, Any]] | None:
    if not entities:
        return None
    return [entity.model_dump(mode="json", exclude_none=True) for entity in entities]


def replied_in_topic(message: Message) -> int | None:
    """The message an operator replied to; None for a plain message in a topic (Telegram
    makes those replies to the topic's first message)."""
    target = message.reply_to_message
    if target is None or target.message_id == message.message_thread_id:
        return None
    return target.message_id


async def relay_from_customer(
    services: Services, handoff: Handoff, shop: Shop, message: Message
) -> None:
    """Queue a copy of the customer's message (any kind) into their topic."""
    assert handoff.id is not None and handoff.group_chat_id is not None
    method = "copyMessage"
    params: dict[str, Any] = {
        "chat_id": handoff.group_chat_id,
        "from_chat_id": message.chat.id,
        "message_id": message.message_id,
        "message_thread_id": handoff.topic_id,
    }
    if is_web_chat(message.chat.id):
        # Telegram cannot copy from a web page: the text is sent as it was written.
        method = "sendMessage"
        params = {
            "chat_id": handoff.group_chat_id,
            "text": message.text or "",
            "message_thread_id": handoff.topic_id,
            "parse_mode": None,
        }
    async with services.database.session() as session:
        await queue_call(
            session,
            method,
            params,
            handoff_id=handoff.id,
            pair=("to_group", message.message_id),
            reply_to=message.reply_to_message.message_id if message.reply_to_message else None,
            topic_name=topic_name(message.from_user, shop.name, handoff.language),
        )
        await touch_handoff(session, handoff.id)
    services.handoff.ring()


async def relay_customer_edit(services: Services, handoff: Handoff, message: Message) -> None:
    """Queue the same edit of the copy in the topic (text, or a media message's caption)."""
    assert handoff.id is not None and handoff.group_chat_id is not None
    params: dict[str, Any] = {"chat_id": handoff.group_chat_id, "parse_mode": None}
    if message.text is not None:
        method = "editMessageText"
        params |= {"text": message.text, "entities": _entities(message.entities)}
    elif message.caption is not None:
        method = "editMessageCaption"
        params |= {
            "caption": message.caption,
            "caption_entities": _entities(message.caption_entities),
        }
    else:
        return
    async with services.database.session() as session:
        await queue_call(session, method, params, handoff_id=handoff.id, edit_of=message.message_id)
        await touch_handoff(session, handoff.id)
    services.handoff.ring()


async def relay_to_customer(
    bot: Bot, services: Services, handoff: Handoff, message: Message
) -> None:
    """Copy an operator's message to the customer at once; if it cannot go, say so in
    the topic."""
    assert handoff.id is not None and handoff.chat_id is not None
    target: int | None = None
    replied = replied_in_topic(message)
    async with services.database.session() as session:
        if replied is not None:
            target = await customer_side(session, handoff.id, replied)
    reply = (
        ReplyParameters(message_id=target, allow_sending_without_reply=True)
        if target is not None
        else None
    )
    try:
        if is_web_chat(handoff.chat_id):
            copied = await _send_to_web(bot, handoff.chat_id, message, reply)
        else:
            copied = await bot.copy_message(
                chat_id=handoff.chat_id,
                from_chat_id=message.chat.id,
                message_id=message.message_id,
                reply_parameters=reply,
            )
    except TelegramAPIError as error:
        await _not_delivered(services, handoff, message, error)
        return
    async with services.database.session() as session:
        await record_relay(
            session,
            handoff.id,
            "to_customer",
            customer_message_id=copied.message_id,
            group_message_id=message.message_id,
        )
        await touch_handoff(session, handoff.id)


# What an operator's file may weigh to be passed on to a web page (the Bot API lets a bot
# download up to 20 MB).
WEB_FILE_MAX_BYTES = 20 * 1024 * 1024


async def _send_to_web(
    bot: Bot, chat_id: int, message: Message, reply: ReplyParameters | None
) -> MessageId | Message:
    """An operator's message as a web page can show it: its text with its formatting; a
    photo, a document, a voice message… as a file the page offers to download, under its
    caption."""
    attached = operator_file(message)
    if attached is not None:
        file_id, name, size = attached
        if size is not None and size > WEB_FILE_MAX_BYTES:
            raise TelegramBadRequest(
                SendMessage(chat_id=chat_id, text="-"), "the file is too big for the web chat"
            )
        content = await bot.download(file_id)
        assert content is not None
        return await bot.send_document(
            chat_id,
            BufferedInputFile(content.read(), filename=name),
            caption=message.caption,
            caption_entities=message.caption_entities,
            parse_mode=None,
            reply_parameters=reply,
        )
    if message.text is None:
        raise TelegramBadRequest(
            SendMessage(chat_id=chat_id, text="-"), "the web chat cannot show this kind of message"
        )
    return await bot.send_message(
        chat_id, message.text, entities=message.entities, parse_mode=None, reply_parameters=reply
    )


def operator_file(message: Message) -> tuple[str, str, int | None] | None:
    """The file a message carries: its id, a name to save it under, and its size."""
    if message.photo:
        largest = message.photo[-1]
        return largest.file_id, "photo.jpg", largest.file_size
    for kind, default_name in (
        ("document", "document"),
        ("video", "video.mp4"),
        ("audio", "audio.mp3"),
        ("voice", "voice.ogg"),
        ("video_note", "video.mp4"),
        ("animation", "animation.mp4"),
        ("sticker", "sticker.webp"),
    ):
        media = getattr(message, kind, None)
        if media is not None:
            name = getattr(media, "file_name", None) or default_name
            return media.file_id, name, media.file_size
    return None


async def relay_operator_edit(
    bot: Bot, services: Services, handoff: Handoff, message: Message
) -> None:
    """Make the same edit on the customer's copy of an operator's message."""
    assert handoff.id is not None and handoff.chat_id is not None
    async with services.database.session() as session:
        target = await customer_side(session, handoff.id, message.message_id, "to_customer")
    if target is None:
        return
    where: dict[str, Any] = {"chat_id": handoff.chat_id, "message_id": target, "parse_mode": None}
    try:
        if message.text is not None:
            await bot.edit_message_text(text=message.text, entities=message.entities, **where)
        elif message.caption is not None:
            await bot.edit_message_caption(
                caption=message.caption, caption_entities=message.caption_entities, **where
            )
    except TelegramAPIError as error:
        if "not modified" not in error.message.lower():
            await _not_delivered(services, handoff, message, error)


async def _not_delivered(
    services: Services, handoff: Handoff, message: Message, error: TelegramAPIError
) -> None:
    reason = (
        "the customer blocked the bot"
        if isinstance(error, TelegramForbiddenError)
        else error.message
    )
    await post_note(
        services, handoff, staff_texts.not_delivered_note(reason), answering=message.message_id
    )
