"""Settings read once at start, and a bad value reported as one line naming its variable.

Every entry point (`python -m bot`, `python -m backend serve`) loads all the settings it
will use through `load_settings` before it touches the database or Telegram, so that a
typo in an env file stops it at once with e.g.

    configuration error: WEB_PORT='80a': Input should be a valid integer

rather than with a traceback minutes later. Secret values are never echoed.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import AliasChoices, SecretBytes, SecretStr, ValidationError
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)
_ECHO_LIMIT = 60


class SettingsError(Exception):
    """A setting is missing or malformed; str() is the one line to print."""


def env_name(settings_cls: type[BaseSettings], field: str) -> str:
    """The environment variable a field is read from (its first alias, or prefix + name)."""
    info = settings_cls.model_fields.get(field)
    if info is not None:
        alias = info.validation_alias
        if isinstance(alias, str):
            return alias
        if isinstance(alias, AliasChoices):
            first = alias.choices[0]
            if isinstance(first, str):
                return first
    prefix = str(settings_cls.model_config.get("env_prefix") or "")
    return (prefix + field).upper()


def _field_of(settings_cls: type[BaseSettings], name: str) -> str | None:
    """The field a reported location names: a field name or one of its aliases."""
    for field, info in settings_cls.model_fields.items():
        if name == field or env_name(settings_cls, field) == name.upper():
            return field
        alias = info.validation_alias
        if isinstance(alias, AliasChoices) and name in alias.choices:
            return field
    return None


def _is_secret(settings_cls: type[BaseSettings], field: str | None) -> bool:
    if field is None:
        return True  # unknown: do not echo
    annotation = repr(settings_cls.model_fields[field].annotation)
    return any(kind.__name__ in annotation for kind in (SecretStr, SecretBytes)) or any(
        word in field for word in ("token", "secret", "password", "key", "url")
    )


def describe(exc: ValidationError, settings_cls: type[BaseSettings]) -> str:
    """One line naming each rejected variable, with its value unless it may be secret."""
    parts = []
    for error in exc.errors(include_url=False):
        where = str(error["loc"][0]) if error["loc"] else settings_cls.__name__
        field = _field_of(settings_cls, where)
        name = env_name(settings_cls, field) if field else where.upper()
        value: Any = error.get("input")
        shown = ""
        if not _is_secret(settings_cls, field) and isinstance(value, str | int | float):
            text = str(value)
            shown = "=" + repr(text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "…")
        message = str(error["msg"])
        if error["type"] == "missing":
            message = "is required but not set"
        parts.append(f"{name}{shown}: {message}")
    return "; ".join(parts)


def load(settings_cls: type[S]) -> S:
    """The settings, or SettingsError with the one line that says what is wrong."""
    try:
        return settings_cls()
    except ValidationError as exc:
        raise SettingsError(describe(exc, settings_cls)) from None


def error_line(exc: SettingsError) -> str:
    return f"configuration error: {exc}"
