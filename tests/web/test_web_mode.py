"""`python -m bot --web` as a user starts it: with no token and no database server it
serves the chat page on API_HOST:API_PORT, prints its address, answers a question over the
socket, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from indexer.settings import PROJECT_ROOT
from tests.support.mail_server import free_port
from tests.support.web_visitor import WebVisitor


async def test_the_web_mode_serves_the_chat_and_prints_its_address(
    tmp_path: Path, corpus_index: Path
) -> None:
    port = free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("BOT_", "API_"))
    } | {
        "API_PORT": str(port),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'web.sqlite3'}",
        "BACKEND_PSEUDONYM_KEY_FILE": str(tmp_path / "pseudonym.key"),
        "INDEXER_INDEX_DIR": str(corpus_index),
        "BOT_DEFAULT_SHOP": "webstore",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--web",
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        address = ""
        async with asyncio.timeout(120):
            while "/chat/" not in address:
                line = (await process.stdout.readline()).decode()
                assert line, "the app ended before serving"
                address = line.strip() if "/chat/" in line else address
        assert address == f"http://localhost:{port}/chat/webstore"
        person = WebVisitor(f"http://localhost:{port}", "webstore")
        response = await person.open_page()
        assert response.status == 200
        await person.connect()
        assert "Online Store" in (await person.next_bot_message(0))["html"]
        answer = await person.say("Do you sell my data?")
        assert answer["html"]
        await person.close()
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            code = await process.wait()
    assert code == 0
