"""What the customer reads about the hand-off, in their language (gettext, bot/locales).

Each function renders in the locale that is current when it is called: a handler's (the
customer's own), or the hand-off's language set by the caller for an operator's action.
"""

from __future__ import annotations

from html import escape

from aiogram.utils.i18n import gettext as _


def handed_off(shop_name: str) -> str:
    return _(
        "I have passed our conversation to a person at {shop}. Write your message here: "
        "they will answer in this chat."
    ).format(shop=escape(shop_name))


def handed_off_by_bot(shop_name: str) -> str:
    return _(
        "I don't seem to be able to help with this, so I have asked a person at {shop} to "
        "take over. Write your message here: they will answer in this chat."
    ).format(shop=escape(shop_name))


def already_with_person(shop_name: str) -> str:
    return _("You are already talking to a person at {shop}. Just write your message here.").format(
        shop=escape(shop_name)
    )


def person_joined(shop_name: str) -> str:
    return _(
        "A person from {shop}'s support team has joined this chat. Write here: they will "
        "answer in this chat."
    ).format(shop=escape(shop_name))


def conversation_closed(shop_name: str, *, idle: bool) -> str:
    closed = (
        _("The conversation with {shop}'s support team was closed, as nobody wrote for a while.")
        if idle
        else _("The conversation with {shop}'s support team has ended.")
    )
    return (
        closed.format(shop=escape(shop_name))
        + " "
        + _("I am answering your questions again.")
        + "\n\n"
        + _("How helpful was the support team? Rate it from 1 to 5.")
    )


def ask_for_comment() -> str:
    return _(
        "Thank you! Would you like to add a comment? Write it in your next message, or press Skip."
    )


def comment_thanks() -> str:
    return _("Thank you for your comment!")


def no_support_reachable(shop_name: str, email: str) -> str:
    """The support group is configured but cannot be reached right now."""
    return _(
        "I could not reach {shop}'s support team just now. You can write to them at {email}."
    ).format(shop=escape(shop_name), email=escape(email))


def private_chat_only() -> str:
    return _("To talk to a person, write to me in a private chat.")
