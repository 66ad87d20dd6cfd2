"""`python -m backend staff …` and `python -m backend policy …`: a shop's staff, and its
policy versions, from the command line.

- `staff grant --shop ID --user TELEGRAM_ID --role admin|operator`, `staff revoke`,
  `staff list`: roles kept in the database (shop.toml's `support.admins` are admins too);
- `policy add --shop ID --language xx [--translation-of ORIGINAL | --original] FILE`:
  check, index and publish a new version of the shop's policy (a translation of the
  original named by its file or language, or an original again), record it and tell the
  running assistants (and, through them, the customers who asked to hear of changes);
  `policy rollback --shop ID` restores the version before the latest upload;
  `policy history --shop ID` lists the changes.

`python -m indexer policy …` does the same index work without a database: nothing is
recorded and nobody is told, the running assistants find the new version by polling.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any, get_args

from backend.database import Database
from backend.policies import PolicyDesk, publish_policy, recent_changes, roll_back_policy
from backend.settings import BackendSettings
from backend.staff import Role, grant, revoke, staff_of
from indexer.cli import add_translation_arguments
from indexer.errors import PolicyError
from indexer.policy_check import check_name_and_size
from indexer.policy_update import NothingToRollBackError, PolicyUpdate, ShopNotFoundError
from indexer.settings import IndexerSettings
from indexer.shops import load_shops

Handler = Callable[[argparse.Namespace, BackendSettings], int]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _with_database(settings: BackendSettings, work: Callable[[Database], Awaitable[int]]) -> int:
    async def run() -> int:
        database = Database(settings.database_url)
        try:
            await database.migrate()
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _known_shop(shop_id: str, knowledge: Path) -> bool:
    known = sorted(shop.id for shop in load_shops(knowledge))
    if shop_id in known:
        return True
    print(f"error: --shop: unknown shop {shop_id!r}; known: {', '.join(known)}", file=sys.stderr)
    return False


def cmd_staff(args: argparse.Namespace, settings: BackendSettings) -> int:
    if args.action != "list" and not _known_shop(args.shop, IndexerSettings().knowledge_dir):
        return 1

    async def work(database: Database) -> int:
        async with database.session() as session:
            if args.action == "grant":
                await grant(session, args.shop, args.user, args.role, granted_by=_actor())
                print(f"user {args.user} is now {args.role} of {args.shop}")
            elif args.action == "revoke":
                if not await revoke(session, args.shop, args.user):
                    print(f"error: user {args.user} has no role in {args.shop}", file=sys.stderr)
                    return 1
                print(f"user {args.user} has no role in {args.shop} any more")
            else:
                shops = (
                    [args.shop]
                    if args.shop
                    else sorted(shop.id for shop in load_shops(IndexerSettings().knowledge_dir))
                )
                for shop_id in shops:
                    for member in await staff_of(session, shop_id):
                        print(f"{shop_id}\t{member.telegram_user_id}\t{member.role}")
        return 0

    return _with_database(settings, work)


def _print_update(update: PolicyUpdate, as_json: bool) -> None:
    if as_json:
        print(json.dumps(update.report(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(update.describe()))


def cmd_policy(args: argparse.Namespace, settings: BackendSettings) -> int:
    desk = PolicyDesk(IndexerSettings())

    async def work(database: Database) -> int:
        if args.action == "history":
            async with database.session() as session:
                changes = await recent_changes(session, args.shop, limit=args.limit)
            for change in changes:
                summary: dict[str, Any] = change.summary
                counts = summary.get("counts") or {}
                print(
                    f"{change.created_at:%Y-%m-%d %H:%M}\t{change.action}\t{change.language}\t"
                    f"version {summary.get('version')}\tindex v{change.index_version}\t"
                    f"+{counts.get('added', 0)} -{counts.get('removed', 0)} "
                    f"~{counts.get('reworded', 0)}\t{change.actor}"
                )
            return 0
        if args.action == "add":
            check_name_and_size(
                args.file.name, args.file.stat().st_size, desk.settings.max_file_bytes
            )
            update, _ = await publish_policy(
                database,
                desk,
                shop_id=args.shop,
                language=args.language,
                filename=args.file.name,
                data=args.file.read_bytes(),
                actor=_actor(),
                version=args.version,
                effective_date=args.effective_date,
                translation_of=args.translation_of,
                original=args.original,
            )
        else:
            update, _ = await roll_back_policy(database, desk, shop_id=args.shop, actor=_actor())
        _print_update(update, args.json)
        return 0

    try:
        return _with_database(settings, work)
    except ShopNotFoundError:
        print(f"error: --shop: unknown shop {args.shop!r}", file=sys.stderr)
    except NothingToRollBackError:
        print(f"error: {args.shop} has no upload left to roll back", file=sys.stderr)
    except PolicyError as exc:
        # The serving index and the knowledge folder are as they were. The upload's own
        # problem is its reason; any other file's (a shop.toml that is not TOML) is named.
        upload = args.file.name if args.action == "add" else None
        print(f"error: refused: {exc.reason if exc.path == upload else exc}", file=sys.stderr)
    return 1


def add_admin_commands(commands: Any) -> None:
    """The `staff` and `policy` sub-parsers (`commands` is the root's subparsers)."""
    staff = commands.add_parser("staff", help="grant, revoke or list shops' admins and operators")
    actions = staff.add_subparsers(dest="action", required=True, metavar="ACTION")
    granting = actions.add_parser("grant", help="give a Telegram user a role in a shop")
    revoking = actions.add_parser("revoke", help="take a user's role in a shop away")
    for sub in (granting, revoking):
        sub.add_argument("--shop", required=True, help="the shop id")
        sub.add_argument("--user", required=True, type=int, help="the Telegram user id")
    granting.add_argument("--role", required=True, choices=get_args(Role))
    listing = actions.add_parser("list", help="the roles kept in the database")
    listing.add_argument("--shop", help="only this shop")
    staff.set_defaults(handler=cmd_staff)

    policy = commands.add_parser(
        "policy", help="publish a new policy version, roll it back, list the changes"
    )
    actions = policy.add_subparsers(dest="action", required=True, metavar="ACTION")
    adding = actions.add_parser("add", help="check, index and publish a new policy file")
    adding.add_argument("--language", required=True, help="ISO 639-1 code of the document")
    adding.add_argument("--version", help="the version customers see (default: today)")
    adding.add_argument("--effective-date", type=date.fromisoformat, help="YYYY-MM-DD")
    add_translation_arguments(adding)
    adding.add_argument("file", type=Path, help=".md, .txt, .html or .pdf")
    rolling = actions.add_parser("rollback", help="restore the version before the latest upload")
    history = actions.add_parser("history", help="the shop's latest policy changes")
    history.add_argument("--limit", type=int, default=10)
    for sub in (adding, rolling, history):
        sub.add_argument("--shop", required=True, help="the shop id")
        sub.add_argument("--json", action="store_true", help="one JSON document on stdout")
    policy.set_defaults(handler=cmd_policy)
