"""scripts/local_cluster.py: compose.yaml's services as plain processes on loopback.

The fast tests check how compose's view becomes this machine's; the cluster test starts
the real thing (migrate, index, two replicas of `python -m bot` in webhook mode) against a
fresh PostgreSQL database, the local Redis and a fake Telegram Bot API.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from tests.support.fake_bot_api import FakeBotAPI

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "local_cluster.py"
STARTUP_SECONDS = 90.0
STOP_SECONDS = 45.0


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_cluster", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: its dataclasses look their module up while being defined.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cluster = load_script()


# --- compose.yaml as this machine sees it (fast) -----------------------------------------


def test_one_shots_run_in_dependency_order_and_servers_are_local() -> None:
    compose = cluster.load_compose()
    assert cluster.one_shot_order(compose, "app") == ["migrate", "index"]
    assert set(cluster.external_services(compose)) == {"postgres", "redis"}
    assert cluster.replicas_of(compose["services"]["app"]) == 2
    assert cluster.grace_seconds(compose["services"]["app"]) == 30.0
    assert cluster.local_command(cluster.command_of(compose["services"]["app"], "app")) == [
        sys.executable,
        "-m",
        "bot",
    ]


def test_compose_environment_becomes_local(tmp_path: Path) -> None:
    compose = cluster.load_compose()
    volumes = cluster.prepare_volumes(compose, ["migrate", "index", "app"], tmp_path)
    translation = cluster.Translation(
        state=tmp_path,
        database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/x",
        redis_url="redis://127.0.0.1:6379/5",
        hosts=cluster.external_services(compose),
        volumes=volumes,
    )
    env = translation.environment(compose["services"]["app"])
    assert env["DATABASE_URL"] == "postgresql+asyncpg://postgres@127.0.0.1:5432/x"
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/5"
    assert env["INDEXER_INDEX_DIR"] == str(tmp_path / "index")
    assert env["INDEXER_KNOWLEDGE_DIR"] == str(tmp_path / "knowledge")
    # The knowledge volume is seeded from the image's (the repository's) demo policies; the
    # index volume starts empty, as var/ is not in the image.
    assert sorted(p.name for p in (tmp_path / "knowledge").iterdir()) == sorted(
        p.name for p in (ROOT / "knowledge").iterdir() if p.name != "__pycache__"
    )
    assert list((tmp_path / "index").iterdir()) == []
    # Other values: compose host names become loopback, words that contain them do not.
    assert translation.value("SMTP_HOST", "smtp://postgres:25") == "smtp://127.0.0.1:25"
    assert translation.value("BOT_DEFAULT_SHOP", "redis-shop") == "redis-shop"


def test_env_file_is_read_like_compose(tmp_path: Path) -> None:
    env_file = tmp_path / "test.env"
    env_file.write_text(
        "# comment\n\nBOT_TOKEN=\nexport LOG_LEVEL=DEBUG\nWEBHOOK_URL='https://x/y'\n",
        encoding="utf-8",
    )
    assert cluster.read_env_file(env_file) == {
        "BOT_TOKEN": "",
        "LOG_LEVEL": "DEBUG",
        "WEBHOOK_URL": "https://x/y",
    }


def test_overlapping_ports_are_refused(tmp_path: Path) -> None:
    args = cluster.parser().parse_args(
        ["--state", str(tmp_path), "--no-env-file", "--port-step", "1", "--replicas", "2"]
    )
    with pytest.raises(cluster.ClusterError, match="ports overlap"):
        cluster.start(args)


# --- the cluster (PostgreSQL, Redis, real processes) -------------------------------------


def _ephemeral_ports() -> tuple[int, int]:
    """The range the kernel hands out to outgoing connections (Linux; a common default
    elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port_block(size: int) -> int:
    """A base port with `size` free ports from it (checked, not reserved), below the
    ephemeral range: a block in it was taken, between the check and the replicas' bind, by
    another test's connection to PostgreSQL or Redis ("address already in use")."""
    low, _high = _ephemeral_ports()
    chooser = random.Random()
    for _ in range(50):
        base = chooser.randrange(10000, max(10001, low - size))
        sockets = []
        try:
            for port in range(base, base + size):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no block of free ports")


async def alembic_revision(database_url: str) -> str | None:
    import asyncpg

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        if await connection.fetchval("SELECT to_regclass('alembic_version')") is None:
            return None
        return str(await connection.fetchval("SELECT version_num FROM alembic_version"))
    finally:
        await connection.close()


async def status(session: aiohttp.ClientSession, url: str) -> int | None:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=3)) as response:
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return None


async def eventually_ok(session: aiohttp.ClientSession, url: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while (code := await status(session, url)) != 200:
        assert time.monotonic() < deadline, f"{url}: {code}"
        await asyncio.sleep(0.2)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def check_state_folder(state: Path, replicas: list[dict[str, Any]]) -> None:
    assert (state / "index" / "CURRENT").read_text().strip()
    assert any((state / "index" / "versions").iterdir())
    assert (state / "knowledge").is_dir()
    assert (state / "migrate.log").exists() and (state / "index.log").exists()
    assert all(Path(replica["log"]).exists() for replica in replicas)


@pytest.fixture
def postgres_database() -> Any:
    from tests.backend.conftest import fresh_postgres_database

    with fresh_postgres_database() as url:
        yield url


@pytest.mark.postgres
@pytest.mark.redis
async def test_two_replicas_start_serve_and_stop_cleanly(
    tmp_path: Path, postgres_database: str, corpus_index: Path, redis_url: str
) -> None:
    state = tmp_path / "state"
    # The embedding cache of the session's demo index (same model, same texts): the
    # `index` step then publishes without embedding anything (about 1 s instead of 8).
    (state / "index").mkdir(parents=True)
    shutil.copy2(corpus_index / "embedding-cache.sqlite3", state / "index")
    base = free_port_block(4)
    async with FakeBotAPI() as fake:
        started = time.monotonic()
        stderr = (tmp_path / "stderr.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            "--state",
            str(state),
            "--no-env-file",
            "--replicas",
            "2",
            "--web-port",
            str(base + 1),
            "--api-port",
            str(base),
            "--database-url",
            postgres_database,
            "--redis-url",
            redis_url,
            "--timeout",
            str(STARTUP_SECONDS),
            "--set",
            f"BOT_API_URL={fake.base_url}",
            "--set",
            f"BOT_TOKEN={fake.token}",
            "--set",
            "WEBHOOK_URL=https://assistant.example.com/telegram/webhook",
            "--set",
            "BOT_SENDING_LIMITS=false",
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
        pids: list[int] = []
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), STARTUP_SECONDS + 30)
            errors = (tmp_path / "stderr.log").read_text()
            assert line, f"the cluster exited with {await process.wait()}:\n{errors}"
            report = json.loads(line)
            startup = time.monotonic() - started
            replicas = report["replicas"]
            pids = [replica["pid"] for replica in replicas]
            assert [r["index"] for r in replicas] == [1, 2]
            assert [r["web"] for r in replicas] == [
                f"http://127.0.0.1:{base + 1}",
                f"http://127.0.0.1:{base + 3}",
            ]
            assert [r["api"] for r in replicas] == [
                f"http://127.0.0.1:{base}",
                f"http://127.0.0.1:{base + 2}",
            ]
            assert report["state"] == str(state)

            # The one-shot steps ran: the schema is there, the index is published in the
            # state folder (the `index` volume), the knowledge volume was seeded.
            assert await alembic_revision(postgres_database) is not None
            check_state_folder(state, replicas)

            async with aiohttp.ClientSession() as session:
                for replica in replicas:
                    assert await status(session, replica["web"] + "/healthz") == 200
                    # Database, Redis and index, as compose's healthcheck asks.
                    await eventually_ok(session, replica["web"] + "/readyz")
                # Both registered the webhook with "Telegram".
                assert len([c for c in fake.calls if c.method == "setWebhook"]) >= 2

                # One replica killed: the other keeps serving, the script keeps running.
                os.kill(pids[1], signal.SIGKILL)
                await asyncio.sleep(1.0)
                assert process.returncode is None
                assert await status(session, replicas[0]["web"] + "/healthz") == 200

            stopping = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), STOP_SECONDS)
            stop = time.monotonic() - stopping
            errors = (tmp_path / "stderr.log").read_text()
            assert code == 0, errors
            assert all(gone(pid) for pid in pids), "a replica outlived the script"
            assert "replica 2" in errors and "exited" in errors
            print(f"cluster healthy after {startup:.1f} s, stopped in {stop:.1f} s")
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            stderr.close()


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ([], "the app needs a Telegram bot's token"),
        (["--set", "BOT_TOKEN=1:x"], "2 replicas need webhook mode: --set WEBHOOK_URL="),
        (["--set", "BOT_TOKEN=1:x", "--set", "WEBHOOK_URL=https://x/y"], "which database?"),
    ],
)
def test_what_the_cluster_needs_is_said_before_anything_starts(
    tmp_path: Path, given: list[str], said: str
) -> None:
    # No token: no replica could serve. No --database-url: nothing is migrated by default
    # (it used to migrate the local PostgreSQL's `test` database).
    state = tmp_path / "state"
    args = cluster.parser().parse_args(
        ["--state", str(state), "--no-env-file", "--replicas", "2", *given]
    )
    with pytest.raises(cluster.ClusterError, match=re.escape(said)):
        cluster.start(args)
    assert not state.exists()
