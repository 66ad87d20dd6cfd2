"""One dispatcher, the same in every mode: Telegram polling, webhook, or the local chat."""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.utils.i18n import I18n

from bot.i18n import CustomerLanguageMiddleware
from bot.inline_filters import run_filters_inline
from bot.middlewares.customer import CustomerMiddleware
from bot.middlewares.observing import ObservingMiddleware
from bot.middlewares.throttling import MemoryRateWindows, RateWindows, ThrottlingMiddleware
from bot.routers import (
    admin,
    callbacks,
    commands,
    errors,
    glance,
    handoff,
    media,
    privacy_requests,
    questions,
    request_cards,
)
from bot.services import Services


def build_dispatcher(
    services: Services,
    i18n: I18n,
    storage: BaseStorage | None = None,
    windows: RateWindows | None = None,
    isolation: BaseEventIsolation | None = None,
) -> Dispatcher:
    """`storage` (flows' state), `windows` (flood control) and `isolation` (one update of
    a chat at a time) are in memory unless given: replicas pass Redis-backed ones
    (bot.shared_state).

    Isolation matters because Telegram delivers every tap of a button and every copy of a
    message as an update of its own, and the dispatcher handles updates concurrently:
    without it, twenty taps of Confirm all find the flow still waiting for Confirm."""
    dispatcher = Dispatcher(
        storage=storage or MemoryStorage(),
        events_isolation=isolation or SimpleEventIsolation(),
        services=services,
    )
    # Order matters: counted and logged under its id, who the customer is, then their
    # language, then flood control.
    dispatcher.update.outer_middleware(ObservingMiddleware())
    dispatcher.update.outer_middleware(
        CustomerMiddleware(services.database, services.pseudonym_key)
    )
    CustomerLanguageMiddleware(i18n).setup(dispatcher)
    dispatcher.message.outer_middleware(
        ThrottlingMiddleware(
            windows
            or MemoryRateWindows(
                services.settings.throttle_messages, services.settings.throttle_seconds
            )
        )
    )
    dispatcher.include_routers(
        errors.create_router(),
        commands.create_router(),
        # /summary and its topic buttons: before the callbacks' catch-all.
        glance.create_router(),
        # Admins' commands and /notify, in private chats: before a flow's state or the
        # questions could take "/stats" or a policy file as theirs.
        admin.create_router(),
        # Staff's steps on request cards in support groups: before /cancel of a customer's
        # flow and before the group questions, which would take a reply to the bot as one.
        request_cards.create_router(),
        # Hand-off: while a customer talks to a person every private message goes to their
        # topic, before a flow, the questions or the media routers could answer it; in a
        # support group, operators' messages in customers' topics and /close, /takeover,
        # /canned.
        handoff.create_router(),
        # Before the catch-alls of callbacks and questions: a flow's own buttons and answers.
        privacy_requests.create_router(),
        callbacks.create_router(),
        # A command none of the routers above took: said so, not searched in the policy.
        commands.create_unknown_command_router(),
        questions.create_router(),
        media.create_router(),
    )
    run_filters_inline(dispatcher)
    return dispatcher
