"""Admin commands in a private chat with the bot, and the customers' /notify.

- a document with the caption `/policy <shop> <language> [version] [translation of
  <original> | original]`: a new version of the shop's policy (a translation of the
  original named by its file or language, or an original again), checked, indexed and
  served at once; the reply says what changed and how a translation aligns to its
  original;
- `/policy_rollback <shop>`: the version before the latest upload, served again;
- `/teach <shop>` and, on the lines below, a customer's question and the policy's words
  that answer it: an example question (indexer/examples.py), indexed and served at once;
- `/examples <shop> [from]`: the shop's example questions, each with its key; `/unteach
  <shop> <key>` takes one out (indexed and served at once);
- `/stats [shop] [days]`: questions, verdicts, hand-offs, ratings, requests, overdue;
- `/unanswered [shop] [days]`: the questions the policy answered poorly, grouped;
- `/notify` (`/notify off`): a customer hears (no longer) of their shop's policy changes.

Each admin command checks the sender's role for the shop it acts on (`bot.admin.access`);
the shop may be left out by an admin of one shop only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from backend.models import utc_now
from backend.policies import (
    PolicyDesk,
    forget_example,
    publish_policy,
    roll_back_policy,
    taught_examples,
    teach_example,
)
from backend.policy_announcements import subscribe, unsubscribe
from backend.shop_stats import poorly_answered, shop_stats
from bot.admin.access import AdminCall, admin_call
from bot.admin.clusters import group_questions
from bot.admin.reports import stats_text, unanswered_text, update_text
from bot.admin.settings import AdminSettings
from bot.admin.uploads import download_policy, upload_caption
from bot.index_follow import serve_newest
from bot.middlewares.customer import Customer
from bot.notice_texts import chunks
from bot.routers.questions import current_language, shop_for
from bot.services import Services
from indexer.errors import PolicyError
from indexer.example_update import example_key
from indexer.policy_update import NothingToRollBackError, PolicyUpdate, ShopNotFoundError

DEFAULT_DAYS = 7
MAX_DAYS = 365


Changed = TypeVar("Changed")  # what teaching or taking out an example returns


async def _say(message: Message, text: str) -> None:
    """Admin texts are plain: titles and questions are shown as they are."""
    await message.answer(text, parse_mode=None)


def policy_usage(shop_id: str) -> str:
    """How to send a policy, in the admin's language (the syntax itself is not translated)."""
    return "\n".join(
        (
            _(
                "Send the new policy as a file (.md, .txt, .html or .pdf) with the caption "
                "/policy <shop> <language> [version], for example: /policy {shop} en"
            ),
            _(
                "For a translation of another document of the shop, end the caption with "
                "translation of <original>, naming the original by its file name or its "
                "language, for example: /policy {shop} de translation of en"
            ),
            _(
                "To make a translation an original of its own again, end the caption with "
                "original, for example: /policy {shop} de original"
            ),
        )
    ).format(shop=shop_id)


def _actor(call: AdminCall) -> str:
    return f"telegram:{call.user_id}"


def _publishing_desk(services: Services, what: str) -> PolicyDesk:
    """Where this process publishes policies; PolicyError when it publishes none."""
    if services.policy_desk is None:
        raise PolicyError(what, "this process publishes no policies")
    return services.policy_desk


def _refusal(error: PolicyError | ShopNotFoundError) -> str:
    reason = error.reason if isinstance(error, PolicyError) else "unknown shop"
    return f"Refused: {reason}. Nothing changed; customers get the same answers."


async def _change_policy(
    message: Message,
    services: Services,
    call: AdminCall,
    change: Callable[[PolicyDesk], Awaitable[PolicyUpdate]],
) -> None:
    """Run an upload or a rollback; on success this process serves it at once and the admin
    reads what changed, else why nothing did."""
    try:
        update = await change(_publishing_desk(services, "policy"))
    except NothingToRollBackError:
        await _say(message, f"Nothing to roll back: {call.shop.id} has no upload left to undo.")
        return
    except (PolicyError, ShopNotFoundError) as error:
        await _say(message, _refusal(error))
        return
    await serve_newest(services)
    # A shop with many sections and translations can say more than one message holds.
    for part in chunks(update_text(call.shop, update)):
        await _say(message, part)


async def on_policy_upload(
    message: Message, command: CommandObject, services: Services, bot: Bot
) -> None:
    call = await admin_call(
        message, services, "policy", (command.args or "").split(), shop_required=True
    )
    if call is None:
        return
    document = message.document
    caption = upload_caption(call.args)
    if caption is None or document is None:
        await _say(message, policy_usage(call.shop.id))
        return

    async def upload(desk: PolicyDesk) -> PolicyUpdate:
        name, data = await download_policy(bot, document, desk.settings.max_file_bytes)
        await _say(message, f"Received {name}: checking it and building the index…")
        update, _change = await publish_policy(
            services.database,
            desk,
            shop_id=call.shop.id,
            language=caption.language,
            filename=name,
            data=data,
            actor=_actor(call),
            version=caption.version,
            translation_of=caption.translation_of,
            original=caption.original,
        )
        return update

    await _change_policy(message, services, call, upload)


async def on_policy_text(message: Message, command: CommandObject, services: Services) -> None:
    """/policy without a file: how to send one (to admins only)."""
    call = await admin_call(message, services, "policy", (command.args or "").split())
    if call is not None:
        await _say(message, policy_usage(call.shop.id))


async def on_policy_rollback(message: Message, command: CommandObject, services: Services) -> None:
    call = await admin_call(
        message, services, "policy_rollback", (command.args or "").split(), shop_required=True
    )
    if call is None:
        return

    async def rollback(desk: PolicyDesk) -> PolicyUpdate:
        update, _change = await roll_back_policy(
            services.database, desk, shop_id=call.shop.id, actor=_actor(call)
        )
        return update

    await _change_policy(message, services, call, rollback)


TEACH_USAGE = (
    "Send /teach {shop}, then on the next line a question as customers ask it, and on the "
    "line after it the words of the policy that answer it, copied as they are. For "
    "example:\n/teach {shop}\nDo you keep my card number?\nnever your full card number"
)


async def on_teach(message: Message, command: CommandObject, services: Services) -> None:
    lines = (command.args or "").split("\n")
    call = await admin_call(message, services, "teach", lines[0].split())
    if call is None:
        return
    rest = [line.strip() for line in lines[1:] if line.strip()]
    if call.args:  # the question on the command's own line
        rest.insert(0, " ".join(call.args))
    if len(rest) < 2:
        await _say(message, TEACH_USAGE.format(shop=call.shop.id))
        return
    added = await _change_examples(
        message,
        services,
        lambda desk: teach_example(
            services.database,
            desk,
            shop_id=call.shop.id,
            question=rest[0],
            answer=" ".join(rest[1:]),
        ),
    )
    if added is not None:
        await _say(
            message,
            f'Learned for {added.shop_id}: customers who ask like "{added.question}" now get '
            f'the passage that says "{added.answer}" and that sentence quoted. The shop has '
            f"{added.examples} example questions; index v{added.index_version}.",
        )


async def _change_examples(
    message: Message, services: Services, change: Callable[[PolicyDesk], Awaitable[Changed]]
) -> Changed | None:
    """Teach or take out an example; on success this process serves the new index at once,
    on a refusal the admin hears why (and None)."""
    try:
        changed = await change(_publishing_desk(services, "examples"))
    except (PolicyError, ShopNotFoundError) as error:
        await _say(message, _refusal(error))
        return None
    await serve_newest(services)
    return changed


SHOWN_EXAMPLES = 15  # per message: each line up to ~200 characters, Telegram's cap is 4096


def _short(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


async def on_examples(message: Message, command: CommandObject, services: Services) -> None:
    """The shop's example questions, each with its key: the last ones, or from the position
    given."""
    call = await admin_call(message, services, "examples", (command.args or "").split())
    if call is None:
        return
    shop_id = call.shop.id
    try:
        records = await taught_examples(_publishing_desk(services, "examples"), shop_id)
    except (PolicyError, ShopNotFoundError) as error:
        await _say(message, _refusal(error))
        return
    if not records:
        await _say(message, f"{shop_id} has no example questions yet. Teach one: /teach {shop_id}")
        return
    asked = call.args[0] if call.args else ""
    start = (
        int(asked)
        if asked.isdigit() and len(asked) < 7 and 1 <= int(asked) <= len(records)
        else max(1, len(records) - SHOWN_EXAMPLES + 1)
    )
    end = min(len(records), start + SHOWN_EXAMPLES - 1)
    lines = [f"{shop_id}'s example questions {start}-{end} of {len(records)}:"]
    for position in range(start, end + 1):
        record = records[position - 1]
        lines.append(
            f"{position}. [{example_key(record)}] {_short(record.question, 100)} → "
            f"{_short(record.answer[0], 80)}"
        )
    lines.append(
        f"Take one out: /unteach {shop_id} <key in brackets>. "
        f"Others: /examples {shop_id} <from position>"
    )
    await _say(message, "\n".join(lines))


async def on_unteach(message: Message, command: CommandObject, services: Services) -> None:
    """Take a taught example question out, by the key /examples shows."""
    call = await admin_call(message, services, "unteach", (command.args or "").split())
    if call is None:
        return
    shop_id = call.shop.id
    if len(call.args) != 1:
        await _say(
            message,
            f"Send /unteach {shop_id} <key>, the key in brackets /examples {shop_id} shows.",
        )
        return
    key = call.args[0].strip("[]").lower()
    removed = await _change_examples(
        message,
        services,
        lambda desk: forget_example(services.database, desk, shop_id=shop_id, key=key),
    )
    if removed is not None:
        await _say(
            message,
            f'Forgotten for {removed.shop_id}: "{removed.question}". The shop has '
            f"{removed.examples} example questions; index v{removed.index_version}.",
        )


def _days(args: list[str]) -> int | None:
    if not args:
        return DEFAULT_DAYS
    if len(args) == 1 and args[0].isdigit() and 1 <= int(args[0]) <= MAX_DAYS:
        return int(args[0])
    return None


async def _period_call(
    message: Message, command: CommandObject, services: Services
) -> tuple[AdminCall, int] | None:
    """An admin's `/<command> [shop] [days]`: the call and the days, or None (answered)."""
    name = command.command
    call = await admin_call(message, services, name, (command.args or "").split())
    if call is None:
        return None
    days = _days(call.args)
    if days is None:
        await _say(message, f"Usage: /{name} [shop] [days, 1 to {MAX_DAYS}]")
        return None
    return call, days


async def on_stats(message: Message, command: CommandObject, services: Services) -> None:
    period = await _period_call(message, command, services)
    if period is None:
        return
    call, days = period
    async with services.database.session() as session:
        stats = await shop_stats(session, call.shop.id, utc_now() - timedelta(days=days))
    await _say(message, stats_text(call.shop, stats, days))


def _unanswered_handler(
    settings: AdminSettings,
) -> Callable[[Message, CommandObject, Services], Awaitable[None]]:
    async def on_unanswered(message: Message, command: CommandObject, services: Services) -> None:
        period = await _period_call(message, command, services)
        if period is None:
            return
        call, days = period
        async with services.database.session() as session:
            questions = await poorly_answered(
                session, call.shop.id, utc_now() - timedelta(days=days)
            )
        embedder = services.engine.retriever.embedder
        groups = await asyncio.to_thread(
            group_questions, questions, embedder.embed_queries, settings.unanswered_similarity
        )
        shown = groups[: settings.unanswered_groups]
        await _say(message, unanswered_text(call.shop, shown, len(questions), days))

    return on_unanswered


async def on_notify(
    message: Message,
    command: CommandObject,
    services: Services,
    customer: Customer | None = None,
) -> None:
    if customer is None:
        return
    shop = shop_for(customer, services)
    if shop is None:
        await message.answer(
            _("Choose a shop first with /shop, then send /notify again."), parse_mode=None
        )
        return
    off = (command.args or "").strip().lower() in ("off", "stop", "0", "no")
    async with services.database.session() as session:
        if off:
            await unsubscribe(session, shop.id, customer.pseudonym)
        else:
            await subscribe(
                session, shop.id, customer.pseudonym, message.chat.id, current_language()
            )
    if off:
        text = _("Done: I will not tell you about changes to {shop}'s privacy policy.")
    else:
        text = _("I will tell you here when {shop}'s privacy policy changes. /notify off stops it.")
    await message.answer(text.format(shop=shop.name), parse_mode=None)


def create_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    settings = AdminSettings()
    router = Router(name="admin")
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.message.register(on_policy_upload, F.document, Command("policy"))
    router.message.register(on_policy_text, Command("policy"))
    router.message.register(on_policy_rollback, Command("policy_rollback"))
    router.message.register(on_teach, Command("teach"))
    router.message.register(on_examples, Command("examples"))
    router.message.register(on_unteach, Command("unteach"))
    router.message.register(on_stats, Command("stats"))
    router.message.register(_unanswered_handler(settings), Command("unanswered"))
    router.message.register(on_notify, Command("notify"))
    return router
