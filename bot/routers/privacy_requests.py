"""Privacy requests started in the chat: unsubscribe, a copy of my data, deletion.

The steps are FSM states, so that a flow survives a restart once the storage is Redis. The
state holds the kind, the shop and the request id, nothing else: the e-mail address goes
straight to the backend (which keeps it only sealed, for the shop), the code nowhere.

How the customer proves the request is theirs is the shop's choice: a one-time code sent
to the address, or the shop confirms them itself (then the flow ends once the request is
registered, and the customer hears of it from the notices, `bot.notices`).
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatType
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from backend.models import DEADLINE_RUNS_IN, PrivacyRequest, VerificationChallenge, utc_now
from backend.privacy_requests import (
    CodeSendLimitError,
    InvalidRequestError,
    MailNotSentError,
    NotAwaitingVerificationError,
    RequestLimitError,
    RequestNotFoundError,
    ResendTooSoonError,
    cancel,
    get_customer_request,
    list_requests_for,
    mail_code,
    resend_code,
    start_request,
    verify_code,
)
from backend.privacy_requests.hashing import normalise_email
from backend.privacy_requests.lifecycle import RequestKind, transition
from bot.keyboards import RequestCallback, code_keyboard, confirm_request_keyboard
from bot.middlewares.customer import Customer
from bot.replies import Reply, typed_reply
from bot.request_texts import (
    current_language,
    due_date,
    kind_name,
    request_number,
    status_name,
)
from bot.services import Services
from indexer.shops import Shop

KIND = "kind"
SHOP = "shop"
REQUEST = "request"
# What a typed code looks like ("123456", "123 456").
CODE_TEXT = re.compile(r"^\s*\d{3}\s*\d{3}\s*$")
# The statuses a request verified by its code can be in soon after.
VERIFIED_STATUSES = frozenset({"verified", "in_progress", "completed"})


class RequestFlow(StatesGroup):
    confirming = State()  # the request was explained; Confirm or Cancel
    email = State()  # waiting for the address the shop knows
    code = State()  # the request exists; waiting for the one-time code
    resend_email = State()  # the address again, to send a new code to it


def what_happens(kind: RequestKind, shop: Shop) -> str:
    """What the request does, said before the customer confirms it."""
    if kind == "unsubscribe":
        effect = _(
            "Once you confirm, {shop} must stop sending you marketing messages at once; "
            "your objection stays on record so that it keeps being honoured."
        )
    elif kind == "access":
        effect = _(
            "Once you confirm, {shop} must send you a copy of the personal data it holds "
            "about you by the due date I will give you (normally one month)."
        )
    else:
        effect = _(
            "Once you confirm, {shop} must delete your personal data by the due date I will "
            "give you (normally one month), except what the law obliges it to keep; you will "
            "be told what was kept and why."
        )
    if shop.privacy_requests.verification == "shop":
        proof = _(
            "To make sure the request is really yours, I will ask for the e-mail address "
            "{shop} knows you by; {shop} then checks that the request is yours."
        )
    else:
        proof = _(
            "To make sure the request is really yours, I will ask for the e-mail address "
            "{shop} knows you by and send a one-time code to it."
        )
    return effect.format(shop=shop.name) + " " + proof.format(shop=shop.name)


async def offer_request(
    message: Message, state: FSMContext, kind: RequestKind, shop: Shop, explanation: str
) -> None:
    """Show what the request does and ask to confirm it; any earlier flow is left behind."""
    await state.set_state(RequestFlow.confirming)
    await state.set_data({KIND: kind, SHOP: shop.id})
    await message.answer(
        explanation + "\n\n" + what_happens(kind, shop) + "\n\n" + _("Shall I start it?"),
        reply_markup=confirm_request_keyboard(),
    )


def _message(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


async def _flow_shop(state: FSMContext, services: Services) -> Shop | None:
    data = await state.get_data()
    return services.shops.resolve(data.get(SHOP))


async def on_confirm(query: CallbackQuery, state: FSMContext, services: Services) -> None:
    message = _message(query)
    shop = await _flow_shop(state, services)
    if await state.get_state() != RequestFlow.confirming.state or message is None or not shop:
        await query.answer(_("This button is no longer valid."))
        return
    await query.answer()
    await _ask_for_email(message, state, shop)


async def on_typed_reply(
    message: Message,
    state: FSMContext,
    services: Services,
    reply: Reply,
    customer: Customer | None = None,
) -> None:
    """ "yes please" or "нет" typed under "Shall I start it?": as its button would."""
    shop = await _flow_shop(state, services)
    if reply == "yes" and shop is not None:
        await _ask_for_email(message, state, shop)
    else:
        await message.answer(await leave_flow(state, services, customer))


async def _ask_for_email(message: Message, state: FSMContext, shop: Shop) -> None:
    await state.set_state(RequestFlow.email)
    await message.answer(_ask_email(shop))


def _ask_email(shop: Shop) -> str:
    # The address is sealed for the shop (to find the customer's data): say so.
    if shop.privacy_requests.verification == "shop":
        text = _(
            "Which e-mail address does {shop} know you by? Type it here. {shop} receives it to "
            "confirm that it is you and to find your data; it is deleted soon after the "
            "request is closed."
        )
    else:
        text = _(
            "Which e-mail address does {shop} know you by? Type it here. I send the code to "
            "it, and {shop} receives it to find your data; it is deleted soon after the "
            "request is closed."
        )
    return text.format(shop=shop.name)


async def on_cancel_button(
    query: CallbackQuery, state: FSMContext, services: Services, customer: Customer | None = None
) -> None:
    message = _message(query)
    if await state.get_state() is None or message is None:
        await query.answer(_("This button is no longer valid."))
        return
    await query.answer()
    await message.answer(await leave_flow(state, services, customer))


async def on_cancel(
    message: Message, state: FSMContext, services: Services, customer: Customer | None = None
) -> None:
    if await state.get_state() is None:
        await message.answer(_("There is nothing to cancel."))
        return
    await message.answer(await leave_flow(state, services, customer))


async def leave_flow(state: FSMContext, services: Services, customer: Customer | None) -> str:
    """End the flow; a request still waiting for its code is canceled, not left to expire,
    so that nothing half-done stays behind (the canceled request remains in the audit)."""
    request_id = (await state.get_data()).get(REQUEST)
    await state.clear()
    if request_id and customer is not None:
        async with services.database.session() as session:
            try:
                request = await get_customer_request(
                    session, customer.pseudonym, request_id, for_update=True
                )
            except RequestNotFoundError:
                request = None
            if request is not None and request.status == "identity_pending":
                await cancel(session, request, actor="customer")
            if request is not None and request.status == "canceled":
                # The shop was told the request exists (privacy_request.created), so
                # "nothing was sent" would no longer be true.
                return _("Canceled. Your request is closed and will not be processed.")
    return _("Canceled. Nothing was sent to the shop.")


async def on_email(
    message: Message, state: FSMContext, services: Services, customer: Customer | None = None
) -> None:
    assert message.text is not None
    data = await state.get_data()
    shop = services.shops.resolve(data.get(SHOP))
    kind: RequestKind = data.get(KIND, "")
    if shop is None or customer is None:
        await _abandon_flow(message, state)
        return
    try:
        address = normalise_email(message.text)
    except InvalidRequestError:
        await message.answer(_bad_email())
        return
    try:
        async with services.database.session() as session:
            started = await start_request(
                session,
                shop.id,
                kind,
                customer.pseudonym,
                address,
                rules=services.request_rules,
                chat_id=message.chat.id,
                verification=shop.privacy_requests.verification,
                language=current_language(),
                shop_name=shop.name,
            )
        # Committed first: no transaction waits for the mail server. A failed send cancels
        # the new request; the customer may simply type the address again.
        if started.code_mail is not None:
            await mail_code(services.database, services.mail, started.code_mail)
    except RequestLimitError as error:
        await state.clear()
        await message.answer(
            _(
                "You have started {limit} requests with {shop} in the last {days} days, the most "
                "I can take. Please wait, or write to {email}."
            ).format(
                limit=error.limit, shop=shop.name, days=error.period_days, email=shop.contact_email
            )
        )
        return
    except MailNotSentError:
        await message.answer(_mail_failed())
        return
    except InvalidRequestError:
        await _abandon_flow(message, state)
        return
    request = started.request
    if request.status != "identity_pending":
        await state.clear()
        await message.answer(
            _("You already have this request open with {shop}:").format(shop=shop.name)
            + "\n"
            + request_line(request, services)
        )
        return
    if request.verification == "shop":
        # Nothing to type: the shop confirms the customer, and the notices tell them.
        await state.clear()
        await message.answer(registered(request, shop))
        return
    await state.set_state(RequestFlow.code)
    await state.set_data({KIND: kind, SHOP: shop.id, REQUEST: request.id})
    if started.code_mail is None:
        # Merged into the pending request started earlier with this address: no new code.
        text = _(
            "You started this request already. Type the code from the e-mail I sent you, "
            "or ask for a new one."
        )
    else:
        minutes = int(services.request_rules.code_ttl.total_seconds() // 60)
        text = _(
            "I sent a 6-digit code to that address. Type it here; it is valid for "
            "{minutes} minutes."
        ).format(minutes=minutes)
    await message.answer(text, reply_markup=code_keyboard())


def registered(request: PrivacyRequest, shop: Shop) -> str:
    """The request waits for the shop to confirm the customer (verification "shop")."""
    return (
        _(
            "Your request is registered. {shop} will confirm that it is really you and reply "
            "to you here. You can follow it with /requests."
        ).format(shop=escape(shop.name))
        + "\n"
        + request_number(request.id)
    )


async def _abandon_flow(message: Message, state: FSMContext) -> None:
    """The flow's state no longer fits (a restart, a stale step): leave it and say so."""
    await state.clear()
    await message.answer(_("Something changed in the meantime; please start again."))


def _bad_email() -> str:
    return _(
        "That does not look like an e-mail address. Please type it like name@example.com, "
        "or /cancel to stop."
    )


def _mail_failed() -> str:
    return _("I could not send the code just now. Please try again in a few minutes.")


async def on_code(
    message: Message, state: FSMContext, services: Services, customer: Customer | None = None
) -> None:
    assert message.text is not None
    data = await state.get_data()
    shop = services.shops.resolve(data.get(SHOP))
    if customer is None or shop is None:
        await _abandon_flow(message, state)
        return
    if _is_address(message.text):
        # The address again (sent twice, or by a customer unsure what comes next).
        await message.answer(
            _(
                "I already sent a code by e-mail for this request. Type the code here, or "
                "ask for a new one."
            ),
            reply_markup=code_keyboard(),
        )
        return
    try:
        async with services.database.session() as session:
            verification = await verify_code(
                session,
                data.get(REQUEST, ""),
                customer.pseudonym,
                message.text,
                rules=services.request_rules,
                deadline_months=shop.privacy_requests.deadline_months,
            )
            if verification.outcome == "locked":
                # Dead for good (a new code does not unlock it): cancel it, so that starting
                # again makes a fresh request instead of merging into this one. The reply
                # below tells the customer; a notice would tell them again.
                await transition(
                    session,
                    verification.request,
                    "canceled",
                    actor="system",
                    now=utc_now(),
                    tell_customer=False,
                )
    except NotAwaitingVerificationError as error:
        await state.clear()
        verified = error.status in VERIFIED_STATUSES
        await message.answer(_already_verified() if verified else _start_again())
        return
    except RequestNotFoundError:
        await state.clear()
        await message.answer(_start_again())
        return
    outcome = verification.outcome
    request = verification.request
    if outcome == "verified":
        await state.clear()
        await message.answer(confirmation(request, shop))
    elif outcome == "wrong_code":
        await message.answer(
            _("That code is not right. Tries left: {tries}.").format(tries=verification.tries_left),
            reply_markup=code_keyboard(),
        )
    elif outcome == "malformed":
        await message.answer(
            _("The code has 6 digits, for example 123456. Please type it again."),
            reply_markup=code_keyboard(),
        )
    elif outcome == "expired":
        await message.answer(
            _("This code has expired. Ask for a new one with the button below."),
            reply_markup=code_keyboard(),
        )
    else:
        await state.clear()
        await message.answer(
            _(
                "Too many wrong codes: for your safety I stopped this request. "
                "You can start it again from the menu (/start)."
            )
        )


def _is_address(text: str) -> bool:
    try:
        normalise_email(text)
    except InvalidRequestError:
        return False
    return True


def _already_verified() -> str:
    return _(
        "This code was used already: your request is confirmed. You can follow it with /requests."
    )


async def on_code_again(
    message: Message, services: Services, customer: Customer | None = None
) -> None:
    """A code typed when no flow waits for one: the copy of a code that has just verified
    a request (sent twice) is told so; any other number is a question like any other."""
    if customer is None:
        raise SkipHandler
    async with services.database.session() as session:
        requests = await list_requests_for(session, customer.pseudonym)
    recently = utc_now() - services.request_rules.code_ttl
    if not any(
        request.verification == "email"
        and request.status in VERIFIED_STATUSES
        and request.verified_at is not None
        and request.verified_at > recently
        for request in requests
    ):
        raise SkipHandler
    await message.answer(_already_verified())


def _start_again() -> str:
    return _(
        "This request no longer waits for a code. You can start it again from the menu "
        "(/start) and see your requests with /requests."
    )


def confirmation(request: PrivacyRequest, shop: Shop) -> str:
    if request.kind == "unsubscribe":
        return _(
            "Done: {shop} will send you no more marketing messages. Your objection is on "
            "record and keeps being honoured."
        ).format(shop=shop.name)
    assert request.deadline is not None
    return (
        _access_or_deletion(request.kind).format(shop=shop.name, date=due_date(request.deadline))
        + " "
        + _("You can follow it with /requests.")
    )


def _access_or_deletion(kind: str) -> str:
    if kind == "access":
        return _("Confirmed: {shop} must send you a copy of your data by {date}.")
    return _("Confirmed: {shop} must delete your data by {date}.")


async def on_resend_button(
    query: CallbackQuery, state: FSMContext, services: Services, customer: Customer | None = None
) -> None:
    message = _message(query)
    request_id = (await state.get_data()).get(REQUEST)
    if (
        await state.get_state() != RequestFlow.code.state
        or message is None
        or customer is None
        or not request_id
    ):
        await query.answer(_("This button is no longer valid."))
        return
    wait = await _cooldown_left(services, customer, request_id)
    if wait:
        await query.answer(_too_soon(wait), show_alert=True)
        return
    await query.answer()
    await state.set_state(RequestFlow.resend_email)
    await message.answer(_("Type the e-mail address again, and I will send a new code to it."))


async def _cooldown_left(services: Services, customer: Customer, request_id: str) -> int:
    """Seconds until a new code may be sent, told before the customer types the address
    again; resend_code enforces the same cooldown in any case."""
    async with services.database.session() as session:
        try:
            await get_customer_request(session, customer.pseudonym, request_id)
        except RequestNotFoundError:
            return 0
        challenge = await session.get(VerificationChallenge, request_id)
    if challenge is None:
        return 0
    remaining = services.request_rules.code_resend_cooldown - (utc_now() - challenge.last_sent_at)
    return max(0, int(remaining.total_seconds() + 0.999))


def _too_soon(seconds: int) -> str:
    return _("A new code can be sent in {seconds} seconds.").format(seconds=seconds)


def _shop_name(services: Services, data: dict[str, Any]) -> str | None:
    shop = services.shops.resolve(data.get(SHOP))
    return shop.name if shop else None


async def on_resend_email(
    message: Message, state: FSMContext, services: Services, customer: Customer | None = None
) -> None:
    assert message.text is not None
    request_id = (await state.get_data()).get(REQUEST, "")
    if customer is None:
        await _abandon_flow(message, state)
        return
    try:
        address = normalise_email(message.text)
    except InvalidRequestError:
        await message.answer(_bad_email())
        return
    await state.set_state(RequestFlow.code)
    try:
        async with services.database.session() as session:
            code_mail = await resend_code(
                session,
                request_id,
                customer.pseudonym,
                address,
                rules=services.request_rules,
                language=current_language(),
                shop_name=_shop_name(services, await state.get_data()),
            )
        # After the commit; a failed send gives the earlier code and the cooldown back.
        await mail_code(services.database, services.mail, code_mail)
    except ResendTooSoonError as error:
        await message.answer(_too_soon(error.retry_after_seconds), reply_markup=code_keyboard())
    except InvalidRequestError:
        await message.answer(
            _(
                "That is not the address you started this request with. Type the code you "
                "have, or ask for a new one with the right address."
            ),
            reply_markup=code_keyboard(),
        )
    except CodeSendLimitError:
        await message.answer(
            _("I cannot send more codes for this request. Type the last code you received."),
            reply_markup=code_keyboard(),
        )
    except MailNotSentError:
        await message.answer(_mail_failed(), reply_markup=code_keyboard())
    except (RequestNotFoundError, NotAwaitingVerificationError):
        await state.clear()
        await message.answer(_start_again())
    else:
        await message.answer(_("I sent a new code. Type it here."), reply_markup=code_keyboard())


def request_line(request: PrivacyRequest, services: Services) -> str:
    shop = services.shops.resolve(request.shop_id)
    line = _("• {kind} at {shop}: {status}").format(
        kind=kind_name(request.kind),
        shop=shop.name if shop else request.shop_id,
        status=status_name(request.status, request.verification),
    )
    if request.deadline is not None and request.status in DEADLINE_RUNS_IN:
        line += " " + _("(due {date})").format(date=due_date(request.deadline))
    return line


async def on_requests(
    message: Message, services: Services, customer: Customer | None = None
) -> None:
    if customer is None:
        await message.answer(_("You have no privacy requests."))
        return
    async with services.database.session() as session:
        requests = await list_requests_for(session, customer.pseudonym)
    if not requests:
        await message.answer(_("You have no privacy requests."))
        return
    lines = [request_line(request, services) for request in requests]
    await message.answer(_("Your privacy requests:") + "\n" + "\n".join(lines))


def create_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="privacy_requests")
    private = F.chat.type == ChatType.PRIVATE
    router.message.register(on_requests, Command("requests"))
    router.message.register(on_cancel, Command("cancel"))
    router.message.register(
        on_typed_reply,
        StateFilter(RequestFlow.confirming),
        private,
        F.text.func(typed_reply).as_("reply"),
    )
    router.message.register(on_email, StateFilter(RequestFlow.email), private, F.text)
    router.message.register(on_code, StateFilter(RequestFlow.code), private, F.text)
    router.message.register(on_code_again, StateFilter(None), private, F.text.regexp(CODE_TEXT))
    router.message.register(on_resend_email, StateFilter(RequestFlow.resend_email), private, F.text)
    router.callback_query.register(on_confirm, RequestCallback.filter(F.action == "confirm"))
    router.callback_query.register(on_cancel_button, RequestCallback.filter(F.action == "cancel"))
    router.callback_query.register(on_resend_button, RequestCallback.filter(F.action == "resend"))
    return router
