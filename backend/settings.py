"""Settings of the backend, read from the environment.

The three settings a deployment always sets have the conventional unprefixed names
(``DATABASE_URL``, ``PSEUDONYM_KEY``, ``CONVERSATION_RETENTION_DAYS``); the rest use
the package prefix ``BACKEND_``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from pydantic import Field, SecretBytes, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.database import async_driver_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'assistant.sqlite3'}"
# A shorter key would make pseudonyms guessable by anyone who can enumerate Telegram ids.
MIN_PSEUDONYM_KEY_BYTES = 32


class BackendSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BACKEND_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    database_url: str = Field(default=DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    # Read only when PSEUDONYM_KEY is unset; created on first start, so that pseudonyms
    # stay the same across restarts without any set-up.
    pseudonym_key_file: Path = PROJECT_ROOT / "var" / "pseudonym.key"
    pseudonym_key: SecretBytes = Field(
        default_factory=lambda fields: SecretBytes(
            stored_pseudonym_key(fields["pseudonym_key_file"])
        ),
        validation_alias="PSEUDONYM_KEY",
    )
    conversation_retention_days: int = Field(
        default=30, ge=1, validation_alias="CONVERSATION_RETENTION_DAYS"
    )

    @field_validator("database_url")
    @classmethod
    def _with_async_driver(cls, url: str) -> str:
        return async_driver_url(url)

    @field_validator("pseudonym_key")
    @classmethod
    def _long_enough(cls, key: SecretBytes) -> SecretBytes:
        if len(key.get_secret_value()) < MIN_PSEUDONYM_KEY_BYTES:
            raise ValueError(f"must be at least {MIN_PSEUDONYM_KEY_BYTES} bytes long")
        return key


def stored_pseudonym_key(path: Path) -> bytes:
    """The key in `path`, created (random, mode 0600) if there is none yet.

    The file holds the key as hex text, so its content can be copied into PSEUDONYM_KEY
    as is and every pseudonym stays the same.
    """
    if not path.exists():
        _create_key_file(path)
    key = path.read_text(encoding="ascii").strip().encode()
    if len(key) < MIN_PSEUDONYM_KEY_BYTES:
        raise ValueError(f"{path}: pseudonym key must be at least {MIN_PSEUDONYM_KEY_BYTES} bytes")
    return key


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and linked into place, so that a process starting at the same moment
    # either sees no key or the whole key, and only one key ever wins.
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_hex(MIN_PSEUDONYM_KEY_BYTES) + "\n")
        with contextlib.suppress(FileExistsError):  # another process's key won
            os.link(draft, path)
    finally:
        draft.unlink()
