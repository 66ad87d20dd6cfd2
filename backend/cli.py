"""`python -m backend`: the backend's commands (today `migrate`).

Each command is one sub-parser and one handler; `serve` and `apikey` slot in the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from backend.database import Database, alembic_config
from backend.settings import BackendSettings

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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m backend", description="The privacy assistant's system of record."
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    migrate = commands.add_parser(
        "migrate", help="bring the database named by DATABASE_URL to the newest schema"
    )
    migrate.set_defaults(handler=cmd_migrate)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args, BackendSettings())
    except ValidationError as exc:
        # Without the input: the rejected value may be the pseudonym key.
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            print(f"error: {where}: {error['msg']}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, OSError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
