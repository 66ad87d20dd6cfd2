"""Inline keyboards and their callback data (kept under Telegram's 64-byte limit)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.settings import SUPPORTED_LANGUAGES

LANGUAGE_NAMES = {
    "en": "English",
    "cs": "Čeština",
    "uk": "Українська",
    "sv": "Svenska",
    "ru": "Русский",
    "de": "Deutsch",
    "pl": "Polski",
}


class FeedbackCallback(CallbackData, prefix="fb"):
    record: int
    helpful: bool


class SectionCallback(CallbackData, prefix="sec"):
    shop: str
    key: str


class ShopCallback(CallbackData, prefix="shop"):
    shop: str


class LanguageCallback(CallbackData, prefix="lang"):
    code: str


class MenuCallback(CallbackData, prefix="menu"):
    action: str  # ask | requests | person | privacy | language | shop | glance


class GlanceCallback(CallbackData, prefix="gl"):
    """A topic of the policy-at-a-glance card: show what the shop's policy says on it."""

    shop: str
    practice: int  # its place in the taxonomy: a shop id and a practice id may pass 64 bytes


class RequestCallback(CallbackData, prefix="req"):
    # No request id: the request is the one in the presser's own conversation state, so a
    # button copied into another account's chat refers to nothing there.
    action: str  # confirm | cancel | resend


class CardCallback(CallbackData, prefix="rc"):
    """A button of a privacy request's card in a support group (bot.request_cards). The
    request id travels in the data, so who may press is decided by the pressing chat and
    user against the request's shop, never by the data: it can be forged."""

    action: str  # start | extend | months | complete | deny | reason | cancel
    request: str
    arg: str = ""  # the months of an extension, the code of a denial


def _feedback_row(record: int) -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(
            text="👍 " + _("Helpful"),
            callback_data=FeedbackCallback(record=record, helpful=True).pack(),
        ),
        InlineKeyboardButton(
            text="👎 " + _("Not helpful"),
            callback_data=FeedbackCallback(record=record, helpful=False).pack(),
        ),
    ]


class ClarifyCallback(CallbackData, prefix="clr"):
    """The answer to "shall I start this request, or tell you what the policy says?"; the
    message itself waits in the presser's own conversation state."""

    choice: str  # request | question
    intent: str  # unsubscribe | access | deletion | handoff


def request_button_text(intent: str) -> str:
    return {
        "unsubscribe": _("Unsubscribe from marketing"),
        "access": _("Get a copy of my data"),
        "deletion": _("Delete my data"),
        "handoff": _("Talk to a person"),
    }[intent]


def request_buttons(intents: list[str]) -> list[list[InlineKeyboardButton]]:
    """One row per request the answer concerns; pressing one starts it (as in the menu)."""
    return [
        [
            InlineKeyboardButton(
                text=request_button_text(intent),
                callback_data=MenuCallback(
                    action="person" if intent == "handoff" else intent
                ).pack(),
            )
        ]
        for intent in intents
    ]


def clarify_keyboard(intent: str) -> InlineKeyboardMarkup:
    request = {
        "unsubscribe": _("Yes, unsubscribe me"),
        "access": _("Yes, request a copy of my data"),
        "deletion": _("Yes, start a deletion request"),
        "handoff": _("Yes, bring in a person"),
    }[intent]
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=request,
                    callback_data=ClarifyCallback(choice="request", intent=intent).pack(),
                )
            ],
            [
                InlineKeyboardButton(
                    text=_("No, tell me what the policy says"),
                    callback_data=ClarifyCallback(choice="question", intent=intent).pack(),
                )
            ],
        ]
    )


def answer_keyboard(
    record: int | None,
    shop: str,
    key: str | None,
    full: bool,
    requests: list[str] | None = None,
) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = request_buttons(requests or [])
    if key and full:
        rows.append(_section_row(shop, key))
    if record is not None:
        rows.append(_feedback_row(record))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _section_row(shop: str, key: str) -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(
            text=_("Show the full section"),
            callback_data=SectionCallback(shop=shop, key=key).pack(),
        )
    ]


def unanswered_keyboard(
    record: int | None,
    requests: list[str] | None = None,
    section: tuple[str, str] | None = None,
) -> InlineKeyboardMarkup:
    """`section`: (shop, passage key) of the passage quoted beside a silence, when more of
    its section can be shown."""
    # A person is always offered, last among the requests.
    rows = request_buttons([*(r for r in requests or [] if r != "handoff"), "handoff"])
    if section is not None:
        rows.append(_section_row(*section))
    if record is not None:
        rows.append(_feedback_row(record))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def menu_keyboard() -> InlineKeyboardMarkup:
    def button(text: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=text, callback_data=MenuCallback(action=action).pack())

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [button("📋 " + _("Policy at a glance"), "glance")],
            *request_buttons(["unsubscribe", "access", "deletion", "handoff"]),
            [button(_("What this bot stores"), "privacy"), button(_("Language"), "language")],
        ]
    )


GLANCE_BUTTONS_PER_ROW = 2


def glance_keyboard(shop: str, topics: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    """One button per covered topic (its place in the taxonomy, its label), two a row."""
    buttons = [
        InlineKeyboardButton(
            text=label, callback_data=GlanceCallback(shop=shop, practice=place).pack()
        )
        for place, label in topics
    ]
    return InlineKeyboardMarkup(
        inline_keyboard=[
            buttons[start : start + GLANCE_BUTTONS_PER_ROW]
            for start in range(0, len(buttons), GLANCE_BUTTONS_PER_ROW)
        ]
    )


def shop_keyboard(shops: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=name, callback_data=ShopCallback(shop=shop_id).pack())]
            for shop_id, name in shops
        ]
    )


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=LANGUAGE_NAMES[code], callback_data=LanguageCallback(code=code).pack()
                )
            ]
            for code in SUPPORTED_LANGUAGES
        ]
    )


def _request_button(text: str, action: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=RequestCallback(action=action).pack())


def confirm_request_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_request_button(_("Confirm"), "confirm"), _request_button(_("Cancel"), "cancel")]
        ]
    )


def code_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_request_button(_("Send the code again"), "resend")],
            [_request_button(_("Cancel"), "cancel")],
        ]
    )


class HandoffRatingCallback(CallbackData, prefix="hr"):
    """The customer's rating of a conversation with a person (bot.handoff). The hand-off id
    is checked against the presser's pseudonym: the data can be forged."""

    handoff: int
    stars: int


class HandoffCommentCallback(CallbackData, prefix="hc"):
    """The "Skip" button under the question for a comment on a rating."""

    handoff: int


def rating_keyboard(handoff: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=f"{stars} ⭐",
                    callback_data=HandoffRatingCallback(handoff=handoff, stars=stars).pack(),
                )
                for stars in range(1, 6)
            ]
        ]
    )


def comment_keyboard(handoff: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("Skip"), callback_data=HandoffCommentCallback(handoff=handoff).pack()
                )
            ]
        ]
    )
