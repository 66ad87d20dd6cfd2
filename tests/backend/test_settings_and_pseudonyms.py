"""Settings from the environment, and the keyed pseudonyms they feed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from backend.database import async_driver_url
from backend.pseudonyms import pseudonym_for
from backend.settings import PROJECT_ROOT, BackendSettings

KEY = b"0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "PSEUDONYM_KEY", "CONVERSATION_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db:5432/shop", "postgresql+asyncpg://u:p@db:5432/shop"),
        ("postgresql://u@db/shop", "postgresql+asyncpg://u@db/shop"),
        ("postgresql+asyncpg://u@db/shop", "postgresql+asyncpg://u@db/shop"),
        ("sqlite:////srv/a.sqlite3", "sqlite+aiosqlite:////srv/a.sqlite3"),
        ("sqlite+aiosqlite:///a.sqlite3", "sqlite+aiosqlite:///a.sqlite3"),
    ],
)
def test_database_urls_get_the_async_driver(given: str, used: str) -> None:
    assert async_driver_url(given) == used


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/shop")
    monkeypatch.setenv("PSEUDONYM_KEY", KEY.decode())
    monkeypatch.setenv("CONVERSATION_RETENTION_DAYS", "7")
    settings = BackendSettings(pseudonym_key_file=tmp_path / "unused.key")
    assert settings.database_url == "postgresql+asyncpg://u@db/shop"
    assert settings.pseudonym_key.get_secret_value() == KEY
    assert settings.conversation_retention_days == 7
    assert not (tmp_path / "unused.key").exists()
    assert KEY.decode() not in repr(settings)


def test_defaults(tmp_path: Path) -> None:
    settings = BackendSettings(pseudonym_key_file=tmp_path / "pseudonym.key")
    expected = PROJECT_ROOT / "var" / "assistant.sqlite3"
    assert settings.database_url == f"sqlite+aiosqlite:///{expected}"
    assert settings.conversation_retention_days == 30


def test_generated_key_is_private_and_stays(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "pseudonym.key"
    first = BackendSettings(pseudonym_key_file=key_file).pseudonym_key.get_secret_value()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key_file.read_text().strip())) == 32
    again = BackendSettings(pseudonym_key_file=key_file).pseudonym_key.get_secret_value()
    assert again == first
    assert list(key_file.parent.iterdir()) == [key_file]  # no draft left behind


@pytest.mark.parametrize(
    "environment", [{"CONVERSATION_RETENTION_DAYS": "0"}, {"PSEUDONYM_KEY": "too short"}]
)
def test_bad_settings_are_refused(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        BackendSettings(pseudonym_key_file=tmp_path / "pseudonym.key")


def test_pseudonyms_are_stable_keyed_and_not_the_id() -> None:
    user_id = 123456789
    pseudonym = pseudonym_for(user_id, KEY)
    assert len(pseudonym) == 64 and int(pseudonym, 16) >= 0
    assert pseudonym == pseudonym_for(user_id, KEY)
    assert pseudonym != pseudonym_for(user_id, KEY[::-1])
    assert pseudonym != pseudonym_for(user_id + 1, KEY)
    assert str(user_id) not in pseudonym
