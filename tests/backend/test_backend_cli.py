"""`python -m backend apikey …` and `serve`: keys printed once and usable, bad input
refused with one clear line, the server started and stopped by a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from backend.cli import main
from backend.settings import PROJECT_ROOT
from tests.support.broken_knowledge import broken_knowledge

KEY = "k" * 40


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'assistant.sqlite3'}",
        "PSEUDONYM_KEY": KEY,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_a_key_is_printed_once_listed_without_itself_and_revoked(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apikey", "create", "--shop", "webstore", "--label", "erp"]) == 0
    created = capsys.readouterr().out.splitlines()
    key = created[-1]
    assert key.startswith("pha_") and "webstore" in created[0]
    key_id = created[0].split()[2]
    assert main(["apikey", "list", "--shop", "webstore"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "active" in listing and key not in listing
    assert main(["apikey", "revoke", key_id]) == 0
    assert main(["apikey", "revoke", key_id]) == 1
    assert "no active key" in capsys.readouterr().err
    assert main(["apikey", "list"]) == 0
    assert "revoked" in capsys.readouterr().out


def test_a_key_for_an_unknown_shop_is_refused(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apikey", "create", "--shop", "nope"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: --shop: unknown shop 'nope'") and "webstore" in error


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("role", [[], ["--worker-only"]])
def test_serve_runs_until_sigterm(env: dict[str, str], role: list[str]) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve", *role],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env, "API_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        if role:
            assert "outbox worker" in banner and "REST API" not in banner
        else:
            assert f"127.0.0.1:{port}" in banner
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json") as r:
                        assert r.status == 200
                        break
                except OSError:
                    assert time.monotonic() < deadline, "the API never answered"
                    time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("API_PORT", "eighty", "configuration error: API_PORT='eighty': Input should be"),
        ("PSEUDONYM_KEY", "too-short", "configuration error: PSEUDONYM_KEY: Value error, must"),
        ("LOG_LEVEL", "LOUD", "configuration error: LOG_LEVEL='LOUD'"),
    ],
)
def test_serve_stops_at_a_bad_setting_with_one_line_before_the_database(
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    expected: str,
) -> None:
    database = tmp_path / "never" / "assistant.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv(name, value)
    assert main(["serve"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(expected)
    assert "too-short" not in line  # a secret is named, never shown
    assert not database.parent.exists()


def test_a_shop_toml_that_is_not_toml_is_named_in_one_line(
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shop_toml = broken_knowledge(tmp_path)
    monkeypatch.setenv("INDEXER_KNOWLEDGE_DIR", str(shop_toml.parent.parent))
    monkeypatch.setenv("INDEXER_INDEX_DIR", str(tmp_path / "index"))
    expected = f"{shop_toml}: not valid TOML: Invalid value (at line 3, column 8)"
    assert main(["apikey", "create", "--shop", "webstore"]) == 1
    assert capsys.readouterr().err.splitlines() == [f"error: {expected}"]
    assert main(["staff", "grant", "--shop", "webstore", "--user", "7", "--role", "admin"]) == 1
    assert capsys.readouterr().err.splitlines() == [f"error: {expected}"]
    upload = tmp_path / "policy.md"
    upload.write_text("# Privacy\n\nWe keep your data.\n", encoding="utf-8")
    command = ["policy", "add", "--shop", "webstore", "--language", "en", str(upload)]
    assert main(command) == 1
    assert capsys.readouterr().err.splitlines() == [f"error: refused: {expected}"]
