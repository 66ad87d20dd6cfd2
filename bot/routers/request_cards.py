"""The buttons of privacy requests' cards in a support group, and what staff type or send
there in answer to them (see `bot.request_cards`).

Start acts at once. Extend asks for the months (buttons) and then the reason, Deny for the
reason code (buttons) and then the text the customer is shown, Complete of a deletion for
the outcome of each system: each of these is the next message of the same staff member in
the same chat and topic (a short FSM; /cancel leaves it). An access request is completed by
replying to its card with the export as a file.

Every press and every answer is checked (`bot.request_cards.guard`) before anything changes;
what staff read here is English, the customer hears of each step in their own language.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, get_args

from aiogram import Bot, F, Router
from aiogram.enums import ChatType, ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    ForceReply,
    InaccessibleMessage,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)

from backend.models import DEADLINE_RUNS_IN, PrivacyRequest, RequestCard, utc_now
from backend.privacy_requests.errors import (
    IllegalTransitionError,
    InvalidRequestError,
    PrivacyRequestError,
)
from backend.privacy_requests.lifecycle import TRANSITIONS, DenialReason
from backend.request_cards import card_at
from bot.keyboards import CardCallback
from bot.request_cards.actions import (
    Who,
    act,
    completing,
    denying,
    exporting,
    extending,
    look,
    reporting,
    starting,
)
from bot.request_cards.board import refresh_card
from bot.request_cards.cards import extension_left
from bot.request_cards.guard import REFUSED, RefusedError, log_refusal
from bot.request_cards.outcomes import OutcomeFormatError, parse_outcomes
from bot.request_cards.texts import (
    DENIAL_LABELS,
    OUTCOME_FORMAT,
    day,
    language_label,
    mention,
    months,
    request_ref,
)
from bot.request_cards.uploads import ALLOWED, TooLargeError, download_export, export_type
from bot.services import Services

Clock = Callable[[], datetime]

REQUEST: Final = "card_request"
MONTHS: Final = "card_months"
REASON: Final = "card_reason"
THREAD: Final = "card_thread"
# The first characters of every question the bot asks in the group, to recognise an answer
# to one whose step was lost (a restart with in-memory FSM storage).
ASKING: Final = "✍️"
ALERT_LIMIT: Final = 200
# The buttons under the bot's questions (not under a card or a digest).
QUESTION_ACTIONS: Final = frozenset({"months", "reason", "cancel"})


class CardInput(StatesGroup):
    extend_reason = State()  # the months are chosen; waiting for the reason
    deny_text = State()  # the reason code is chosen; waiting for the text for the customer
    outcomes = State()  # waiting for the outcome of each system of a deletion


@dataclass
class Press:
    """One press of a card's (or a card question's) button, with what handling it needs."""

    query: CallbackQuery
    # The message pressed; inaccessible when Telegram no longer shows it to the bot.
    message: Message | InaccessibleMessage
    data: CardCallback
    who: Who
    state: FSMContext
    services: Services
    now: datetime

    @property
    def bot(self) -> Bot:
        assert self.query.bot is not None
        return self.query.bot

    @property
    def ref(self) -> str:
        return request_ref(self.data.request)


def _thread(message: Message | InaccessibleMessage) -> int | None:
    if isinstance(message, Message) and message.is_topic_message:
        return message.message_thread_id
    return None


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):g} MB"
    if count >= 1024:
        return f"{count / 1024:g} KB"
    return f"{count} bytes"


async def _ask(
    press: Press, text: str, markup: InlineKeyboardMarkup | ForceReply | None = None
) -> None:
    """A question or hint in the group, as a reply to the message pressed."""
    await press.bot.send_message(
        press.who.chat_id,
        text,
        parse_mode=ParseMode.HTML,
        reply_parameters=ReplyParameters(
            message_id=press.message.message_id, allow_sending_without_reply=True
        ),
        reply_markup=markup,
    )


async def _done_asking(press: Press) -> None:
    """The question's buttons are used: take them off (only questions have the buttons
    that lead here; a card keeps its own)."""
    with contextlib.suppress(TelegramBadRequest):  # taken off already
        await press.bot.edit_message_reply_markup(
            chat_id=press.who.chat_id, message_id=press.message.message_id, reply_markup=None
        )


def _button(text: str, action: str, request_id: str, arg: str = "") -> list[InlineKeyboardButton]:
    data = CardCallback(action=action, request=request_id, arg=arg).pack()
    return [InlineKeyboardButton(text=text, callback_data=data)]


async def _ask_next_message(
    press: Press, state: State, question: str, placeholder: str, **data: Any
) -> None:
    """Wait for the presser's next message in this chat and topic, and ask for it by name
    (the reply field opens for them only). A button tapped again while its question waits
    asks nothing more."""
    waiting = {REQUEST: press.data.request, THREAD: _thread(press.message), **data}
    if await press.state.get_state() == state.state and await press.state.get_data() == waiting:
        await press.query.answer()
        return
    await press.state.set_state(state)
    await press.state.set_data(waiting)
    await press.query.answer()
    if press.data.action in QUESTION_ACTIONS:
        await _done_asking(press)
    asker = mention(press.who.user_id, press.query.from_user.full_name)
    await _ask(
        press,
        f"{ASKING} {asker}: {question}\nSend it as your next message here. /cancel to stop.",
        ForceReply(force_reply=True, selective=True, input_field_placeholder=placeholder),
    )


def _open_for(request: PrivacyRequest, to_status: str) -> None:
    """InvalidRequestError, in words for staff, unless the request can go to `to_status`."""
    if to_status in TRANSITIONS[request.status]:
        return
    if request.status == "verified" and to_status == "completed":
        raise InvalidRequestError(f"{request.id} is not in progress yet: press Start first")
    raise InvalidRequestError(f"{request.id} is {request.status} and cannot be {to_status} now")


# ---- The buttons -----------------------------------------------------------------------


async def _start(press: Press) -> None:
    request = await act(press.services, press.data.request, press.who, starting(press.now))
    await press.query.answer("Started. The customer is told.")
    await refresh_card(press.bot, press.services, request)


async def _extend(press: Press) -> None:
    request = await look(press.services, press.data.request, press.who)
    left = _extension_room(request)
    await press.query.answer()
    assert request.deadline is not None  # a working request has its deadline
    rows = [
        _button(f"+{months(count)}", "months", request.id, str(count))
        for count in range(1, left + 1)
    ]
    rows.append(_button("Cancel", "cancel", request.id))
    await _ask(
        press,
        f"⏳ Extend {press.ref} by how many months? It is due {day(request.deadline)}; "
        f"{months(left)} more at most.",
        InlineKeyboardMarkup(inline_keyboard=rows),
    )


def _extension_room(request: PrivacyRequest) -> int:
    if request.status not in DEADLINE_RUNS_IN:
        raise InvalidRequestError(f"{request.id} is {request.status}: it cannot be extended")
    left = extension_left(request)
    if left < 1:
        raise InvalidRequestError(f"{request.id} was extended by the most the law allows")
    return left


async def _months(press: Press) -> None:
    request = await look(press.services, press.data.request, press.who)
    left = _extension_room(request)
    count = int(press.data.arg) if press.data.arg.isdigit() else 0
    if not 1 <= count <= left:
        raise InvalidRequestError(f"an extension of 1 to {months(left)} is possible")
    await _ask_next_message(
        press,
        CardInput.extend_reason,
        f"why does {press.ref} need {months(count)} more? The customer is told the reason.",
        "The reason for the extension",
        **{MONTHS: count},
    )


async def _complete(press: Press) -> None:
    request = await look(press.services, press.data.request, press.who)
    _open_for(request, "completed")
    if request.kind == "unsubscribe":
        await act(press.services, request.id, press.who, completing(press.now))
        await press.query.answer("Completed. The customer is told.")
        await refresh_card(press.bot, press.services, request)
        return
    if request.kind == "access":
        await press.query.answer()
        limit = _size(press.services.export_policy.max_bytes)
        await _ask(
            press,
            f"📎 To complete {press.ref}, reply to its card with the export as a file "
            f"({ALLOWED}, at most {limit}). The customer receives it with the completion.",
        )
        return
    await _ask_next_message(
        press,
        CardInput.outcomes,
        f"what did each of the shop's systems do with the data of {press.ref}? One line per "
        f"system:\n<pre>{OUTCOME_FORMAT}</pre>\nWith a failed system the outcomes are "
        "recorded and the request stays open.",
        "crm: erased",
    )


async def _deny(press: Press) -> None:
    request = await look(press.services, press.data.request, press.who)
    _open_for(request, "denied")
    await press.query.answer()
    rows = [_button(label, "reason", request.id, code) for code, label in DENIAL_LABELS.items()]
    rows.append(_button("Cancel", "cancel", request.id))
    await _ask(press, f"✖️ Why is {press.ref} denied?", InlineKeyboardMarkup(inline_keyboard=rows))


async def _reason(press: Press) -> None:
    request = await look(press.services, press.data.request, press.who)
    _open_for(request, "denied")
    code = press.data.arg
    if code not in get_args(DenialReason):
        raise InvalidRequestError(f"unknown denial reason {code[:32]!r}")
    await _ask_next_message(
        press,
        CardInput.deny_text,
        f"denied as “{DENIAL_LABELS[code]}”. Now the text the customer is shown with it "
        f"(they speak {language_label(request.language)}).",
        "What the customer is told",
        **{REASON: code},
    )


async def _cancel(press: Press) -> None:
    await look(press.services, press.data.request, press.who)
    if (await press.state.get_data()).get(REQUEST) == press.data.request:
        await press.state.clear()
    await press.query.answer("Canceled; nothing changed.")
    await _done_asking(press)


BUTTONS: Final[dict[str, Callable[[Press], Awaitable[None]]]] = {
    "start": _start,
    "extend": _extend,
    "months": _months,
    "complete": _complete,
    "deny": _deny,
    "reason": _reason,
    "cancel": _cancel,
}


async def on_card_button(
    query: CallbackQuery,
    callback_data: CardCallback,
    state: FSMContext,
    services: Services,
    request_card_clock: Clock | None = None,
) -> None:
    message = query.message
    chat_id = message.chat.id if message is not None else 0
    press_of = BUTTONS.get(callback_data.action)
    try:
        if message is None or press_of is None:
            raise RefusedError("a button of no card")
        press = Press(
            query,
            message,
            callback_data,
            Who(chat_id, query.from_user.id),
            state,
            services,
            (request_card_clock or utc_now)(),
        )
        await press_of(press)
    except RefusedError as error:
        log_refusal(
            error,
            f"button {callback_data.action[:16]!r}",
            callback_data.request,
            chat_id=chat_id,
            user_id=query.from_user.id,
        )
        await query.answer(REFUSED, show_alert=True)
    except PrivacyRequestError as error:
        await query.answer(f"Not done: {error}."[:ALERT_LIMIT], show_alert=True)


# ---- What staff type or send -----------------------------------------------------------


async def in_pending_thread(message: Message, state: FSMContext) -> bool:
    """The message is in the chat and topic where its step was asked for."""
    return bool((await state.get_data()).get(THREAD) == _thread(message))


async def on_pending_text(
    message: Message,
    state: FSMContext,
    services: Services,
    request_card_clock: Clock | None = None,
) -> None:
    assert message.text is not None and message.from_user is not None
    data = await state.get_data()
    step = await state.get_state()
    request_id = str(data.get(REQUEST, ""))
    who = Who(message.chat.id, message.from_user.id)
    now = (request_card_clock or utc_now)()
    ref = request_ref(request_id)
    try:
        if step == CardInput.extend_reason.state:
            count = int(data.get(MONTHS, 0))
            request = await act(services, request_id, who, extending(count, message.text, now))
            assert request.deadline is not None
            done = (
                f"⏳ {ref} extended by {months(count)}: now due {day(request.deadline)}. "
                "The customer is told, with the reason."
            )
        elif step == CardInput.deny_text.state:
            code: DenialReason = data.get(REASON, "other")
            request = await act(services, request_id, who, denying(code, message.text, now))
            done = f"✖️ {ref} denied ({DENIAL_LABELS[code]}). The customer is told, with your text."
        else:
            request = await act(
                services, request_id, who, reporting(parse_outcomes(message.text), now)
            )
            done = (
                f"✅ {ref} completed. The customer is told what each system did."
                if request.status == "completed"
                else f"📝 Outcomes of {ref} recorded; it stays open until every system is "
                "done: then press Complete again."
            )
    except RefusedError as error:
        await state.clear()
        log_refusal(
            error, f"answer to {step}", request_id, chat_id=who.chat_id, user_id=who.user_id
        )
        await _reply(message, REFUSED)
        return
    except OutcomeFormatError as error:
        lines = "\n".join(f"• {problem}" for problem in error.problems[:20])
        await _reply(
            message, f"Not recorded, nothing changed:\n{lines}\nSend all lines again, or /cancel."
        )
        return
    except IllegalTransitionError as error:
        await state.clear()  # the request moved on meanwhile: this step is over
        await _reply(message, f"Not done, nothing changed: {error}.")
        return
    except PrivacyRequestError as error:
        await _reply(message, f"Not done, nothing changed: {error}. Send it again, or /cancel.")
        return
    await state.clear()
    await message.reply(done, parse_mode=ParseMode.HTML)
    assert message.bot is not None
    await refresh_card(message.bot, services, request)


async def _reply(message: Message, text: str) -> None:
    """A plain reply (whatever anyone typed stays text, not HTML)."""
    await message.reply(text, parse_mode=None)


async def on_pending_cancel(message: Message, state: FSMContext) -> None:
    await state.clear()
    await _reply(message, "Canceled; nothing changed.")


async def on_pending_other(message: Message) -> None:
    await _reply(message, "Please send it as a text message, or /cancel.")


async def replied_card(message: Message, services: Services) -> dict[str, Any] | bool:
    """A reply to one of the cards in this group: the card."""
    reply = message.reply_to_message
    if reply is None or reply.from_user is None or message.bot is None:
        return False
    if reply.from_user.id != message.bot.id:
        return False
    async with services.database.session() as session:
        card = await card_at(session, message.chat.id, reply.message_id)
    return {"card": card} if card is not None else False


async def on_card_reply(
    message: Message,
    card: RequestCard,
    services: Services,
    request_card_clock: Clock | None = None,
) -> None:
    """An export for an access request, as a file replying to its card."""
    assert message.from_user is not None and message.bot is not None
    document = message.document
    if document is None:
        await _reply(
            message,
            "To act on this request use the card's buttons. An access request is completed "
            "by replying to its card with the export as a file.",
        )
        return
    who = Who(message.chat.id, message.from_user.id)
    now = (request_card_clock or utc_now)()
    policy = services.export_policy
    try:
        request = await look(services, card.request_id, who)
        if request.kind != "access":
            raise InvalidRequestError(f"{request.id} is not an access request: it takes no file")
        _open_for(request, "completed")
        content_type = export_type(document)
        if content_type is None:
            raise InvalidRequestError(
                f"an export is a {ALLOWED} file; this one is {document.mime_type or 'unknown'}"
            )
        data = await download_export(message.bot, document, policy.max_bytes)
        step = exporting(document.file_name or "", content_type, data, policy, now)
        request = await act(services, card.request_id, who, step)
    except RefusedError as error:
        log_refusal(error, "export", card.request_id, chat_id=who.chat_id, user_id=who.user_id)
        await _reply(message, REFUSED)
        return
    except TooLargeError:
        await _reply(
            message,
            f"Not done, nothing changed: the export is larger than {_size(policy.max_bytes)}, "
            "the most accepted.",
        )
        return
    except PrivacyRequestError as error:
        await _reply(message, f"Not done, nothing changed: {error}.")
        return
    await message.reply(
        f"✅ {request_ref(request.id)} completed with the export ({_size(len(data))}). "
        "The customer receives it.",
        parse_mode=ParseMode.HTML,
    )
    await refresh_card(message.bot, services, request)


async def asked_earlier(message: Message) -> bool:
    """An answer to a question of ours whose step is no longer open."""
    reply = message.reply_to_message
    return bool(
        reply is not None
        and message.bot is not None
        and reply.from_user is not None
        and reply.from_user.id == message.bot.id
        and (reply.text or "").startswith(ASKING)
    )


async def on_stale_answer(message: Message) -> None:
    await _reply(
        message,
        "That step is no longer open (the bot may have restarted): press the card's button again.",
    )


def create_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="request_cards")
    group = F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP})
    pending = StateFilter(CardInput)
    router.callback_query.register(on_card_button, CardCallback.filter())
    router.message.register(on_pending_cancel, pending, group, Command("cancel"), in_pending_thread)
    router.message.register(on_pending_text, pending, group, F.text, in_pending_thread)
    router.message.register(on_card_reply, group, replied_card)
    router.message.register(on_pending_other, pending, group, in_pending_thread)
    router.message.register(on_stale_answer, group, asked_earlier)
    return router
