"""`python -m backend`: the backend's commands.

- `migrate`: bring the database to the newest schema;
- `serve`: the REST API, the webhook outbox worker and the housekeeping jobs, without
  Telegram (for shop developers integrating);
- `apikey create|list|revoke`: the shops' API keys (a new key is printed once);
- `staff grant|revoke|list`, `policy add|rollback|history`: see `backend.admin_cli`.

Each command is one sub-parser and one handler.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from backend.admin_cli import add_admin_commands
from backend.api.keys import create_api_key, list_api_keys, revoke_api_key
from backend.api.settings import ApiSettings
from backend.database import Database, alembic_config
from backend.index_signal import SignalSettings
from backend.observability.health import mark_shutting_down
from backend.observability.logs import LogSettings, configure_logging
from backend.policies import PolicyDesk
from backend.privacy_requests.settings import PrivacyRequestSettings
from backend.runtime import backend_running, stop_on_signals
from backend.settings import BackendSettings
from backend.settings_check import SettingsError, error_line, load
from backend.webhooks.settings import WebhookSettings
from indexer.errors import PolicyError
from indexer.settings import IndexerSettings
from indexer.shops import load_shops

Handler = Callable[[argparse.Namespace, BackendSettings], int]


def cmd_migrate(args: argparse.Namespace, settings: BackendSettings) -> int:
    async def migrate() -> None:
        database = Database(settings.database_url)
        try:
            await database.migrate()
        finally:
            await database.dispose()

    asyncio.run(migrate())
    url = make_url(settings.database_url)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    print(f"{url.render_as_string(hide_password=True)} is at revision {head} (latest)")
    return 0


def cmd_serve(args: argparse.Namespace, settings: BackendSettings) -> int:
    return _run_backend(settings, serve_api=not args.worker_only, work=not args.api_only)


def _run_backend(settings: BackendSettings, *, serve_api: bool, work: bool) -> int:
    # Read before anything starts, so that a bad value stops it with one clear line.
    log_settings = load(LogSettings)
    api_settings = load(ApiSettings)
    rules = load(PrivacyRequestSettings).rules(settings.pseudonym_key.get_secret_value())
    webhook_settings = load(WebhookSettings)
    indexer_settings = load(IndexerSettings)
    load(SignalSettings)
    configure_logging(log_settings.level, log_settings.format)

    async def serve() -> None:
        # Signals are taken over before anything starts, so that a SIGTERM arriving while
        # it does still stops it cleanly.
        stop = stop_on_signals()
        database = Database(settings.database_url)
        try:
            await database.migrate()
            async with backend_running(
                database,
                rules,
                api_settings=api_settings,
                webhook_settings=webhook_settings,
                serve_api=serve_api,
                deliver_webhooks=work,
                housekeeping=work,
                # Shops publish policies through the API into these folders (the model
                # is loaded on the first upload).
                policies=PolicyDesk(indexer_settings) if serve_api else None,
            ) as runtime:
                parts = []
                if serve_api:
                    parts.append(
                        f"REST API on http://{api_settings.host}:{runtime.port} "
                        "(OpenAPI at /openapi.json)"
                    )
                if work:
                    parts.append("webhook outbox worker and housekeeping running")
                print("; ".join(parts) + ". Ctrl-C stops.", flush=True)
                await stop.wait()
                # SIGTERM or Ctrl-C: /readyz answers 503 from now on; leaving the block
                # lets the worker finish its deliveries in flight and closes the API.
                if runtime.app is not None:
                    mark_shutting_down(runtime.app)
        finally:
            await database.dispose()

    asyncio.run(serve())
    return 0


def cmd_apikey(args: argparse.Namespace, settings: BackendSettings) -> int:
    async def run() -> int:
        database = Database(settings.database_url)
        try:
            await database.migrate()
            async with database.session() as session:
                if args.action == "create":
                    record, key = await create_api_key(session, args.shop, label=args.label)
                    print(f"API key {record.id} for shop {record.shop_id} (shown only now):")
                    print(key)
                elif args.action == "list":
                    for record in await list_api_keys(session, args.shop):
                        state = "revoked" if record.revoked_at else "active"
                        used = record.last_used_at.isoformat() if record.last_used_at else "never"
                        print(f"{record.id}\t{record.shop_id}\t{state}\tlast used {used}")
                elif not await revoke_api_key(session, args.key_id):
                    print(f"error: no active key {args.key_id}", file=sys.stderr)
                    return 1
                else:
                    print(f"revoked {args.key_id}")
            return 0
        finally:
            await database.dispose()

    if args.action == "create" and args.shop not in known_shops():
        print(
            f"error: --shop: unknown shop {args.shop!r}; known: {', '.join(sorted(known_shops()))}",
            file=sys.stderr,
        )
        return 1
    return asyncio.run(run())


def known_shops() -> set[str]:
    """The shops of the knowledge base (INDEXER_KNOWLEDGE_DIR)."""
    return {shop.id for shop in load_shops(IndexerSettings().knowledge_dir)}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m backend", description="The privacy assistant's system of record."
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    migrate = commands.add_parser(
        "migrate", help="bring the database named by DATABASE_URL to the newest schema"
    )
    migrate.set_defaults(handler=cmd_migrate)
    serve = commands.add_parser(
        "serve", help="run the REST API and the webhook outbox worker (API_HOST, API_PORT)"
    )
    roles = serve.add_mutually_exclusive_group()
    roles.add_argument(
        "--api-only", action="store_true", help="the REST API alone (workers run elsewhere)"
    )
    roles.add_argument(
        "--worker-only",
        action="store_true",
        help="the outbox worker and housekeeping alone, no port (scale them apart)",
    )
    serve.set_defaults(handler=cmd_serve)
    apikey = commands.add_parser("apikey", help="create, list or revoke shops' API keys")
    actions = apikey.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="a new key for a shop, printed once")
    create.add_argument("--shop", required=True, help="the shop id (its knowledge folder)")
    create.add_argument("--label", help="what the key is for, to tell keys apart")
    listing = actions.add_parser("list", help="the keys (never the keys themselves)")
    listing.add_argument("--shop", help="only this shop's keys")
    revoke = actions.add_parser("revoke", help="stop a key working")
    revoke.add_argument("key_id", help="the key's id (ak_...), as `list` shows it")
    apikey.set_defaults(handler=cmd_apikey)
    add_admin_commands(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args, load(BackendSettings))
    except SettingsError as exc:  # secrets are named, never echoed
        print(error_line(exc), file=sys.stderr)
        return 2
    except (SQLAlchemyError, OSError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except PolicyError as exc:  # a shop.toml that cannot be read: the file, line and problem
        print(f"error: {exc}", file=sys.stderr)
        return 1
