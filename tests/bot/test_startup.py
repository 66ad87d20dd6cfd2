"""A missing or malformed setting stops the app with one line naming it, before the
database, Redis or Telegram is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.settings_check import SettingsError
from bot.startup import load_config
from indexer.settings import PROJECT_ROOT
from tests.support.broken_knowledge import broken_knowledge

KEY = "k" * 40


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("BOT_", "WEBHOOK_", "API_", "BACKEND_", "INDEXER_", "SMTP_", "LOG_")):
            monkeypatch.delenv(name)
    for name in ("DATABASE_URL", "REDIS_URL", "PSEUDONYM_KEY", "WEB_PORT", "WEB_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("WEB_PORT", "80a", "WEB_PORT='80a': Input should be a valid integer"),
        ("API_PORT", "70000", "API_PORT='70000': Input should be less than or equal to 65535"),
        ("BOT_THROTTLE_SECONDS", "-1", "BOT_THROTTLE_SECONDS='-1': Input should be greater than 0"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml'"),
        ("INDEXER_EMBEDDING_BACKEND", "word2vec", "INDEXER_EMBEDDING_BACKEND='word2vec'"),
        ("WEBHOOK_URL", "example.org/hook", "WEBHOOK_URL"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: must start with redis://"),
        ("DATABASE_URL", "mysql://db/x", "DATABASE_URL: mysql is not supported"),
        ("DATABASE_URL", "not a url", "DATABASE_URL: not a database URL"),
        ("BOT_TOKEN", "", "BOT_TOKEN: not a bot token"),
        ("BOT_TOKEN", "hunter2", "BOT_TOKEN: not a bot token"),
    ],
)
def test_a_bad_value_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_config()
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


def test_secrets_are_named_but_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSEUDONYM_KEY", "short-secret-value")
    with pytest.raises(SettingsError) as raised:
        load_config()
    assert "PSEUDONYM_KEY" in str(raised.value)
    assert "short-secret-value" not in str(raised.value)


def test_combinations_that_cannot_work_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://example.org/hook")
    with pytest.raises(SettingsError, match="WEBHOOK_URL is set but BOT_TOKEN is not"):
        load_config()
    monkeypatch.delenv("WEBHOOK_URL")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    monkeypatch.delenv("PSEUDONYM_KEY")
    with pytest.raises(SettingsError, match="PSEUDONYM_KEY is not set"):
        load_config()


def test_good_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "9000")
    config = load_config()
    assert config.bot.web_port == 9000
    assert not config.telegram


def test_the_app_stops_with_one_line_before_it_opens_anything(tmp_path: Path) -> None:
    database = tmp_path / "never" / "db.sqlite3"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "BOT_TOKEN": "42:TEST",
        "WEBHOOK_URL": "https://example.org/hook",
        "BOT_API_URL": "http://127.0.0.1:9/",  # nothing listens: it must not be called
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "PSEUDONYM_KEY": KEY,
        "WEB_PORT": "eighty",
        "INDEXER_INDEX_DIR": str(tmp_path / "index"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "configuration error: WEB_PORT='eighty': Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
    assert not database.parent.exists()
    assert not (tmp_path / "index").exists()


def test_replicas_without_redis_are_advised_against(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "42:TEST")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    [line] = load_config().advice()
    assert line.startswith("PostgreSQL without REDIS_URL")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert load_config().advice() == []


def test_a_shop_toml_that_is_not_toml_stops_the_app_with_one_line(tmp_path: Path) -> None:
    shop_toml = broken_knowledge(tmp_path)
    database = tmp_path / "never" / "db.sqlite3"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "PSEUDONYM_KEY": KEY,
        "INDEXER_KNOWLEDGE_DIR": str(shop_toml.parent.parent),
        "INDEXER_INDEX_DIR": str(tmp_path / "index"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {shop_toml}: not valid TOML: Invalid value (at line 3, column 8)"
    ]
    assert not database.parent.exists()  # stopped before the database was touched
