"""One dispatcher, the same in every mode: Telegram polling, webhook, or the local chat."""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.utils.i18n import I18n

from bot.i18n import CustomerLanguageMiddleware
from bot.middlewares.customer import CustomerMiddleware
from bot.middlewares.throttling import ThrottlingMiddleware
from bot.routers import callbacks, commands, errors, media, privacy_requests, questions
from bot.services import Services


def build_dispatcher(
    services: Services, i18n: I18n, storage: BaseStorage | None = None
) -> Dispatcher:
    dispatcher = Dispatcher(storage=storage or MemoryStorage(), services=services)
    # Order matters: who the customer is, then their language, then flood control.
    dispatcher.update.outer_middleware(
        CustomerMiddleware(services.database, services.pseudonym_key)
    )
    CustomerLanguageMiddleware(i18n).setup(dispatcher)
    dispatcher.message.outer_middleware(
        ThrottlingMiddleware(
            services.settings.throttle_messages, services.settings.throttle_seconds
        )
    )
    dispatcher.include_routers(
        errors.create_router(),
        commands.create_router(),
        # Before the catch-alls of callbacks and questions: a flow's own buttons and answers.
        privacy_requests.create_router(),
        callbacks.create_router(),
        questions.create_router(),
        media.create_router(),
    )
    return dispatcher
