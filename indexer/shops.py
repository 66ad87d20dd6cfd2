"""The knowledge base on disk: one folder per shop, ``shop.toml`` plus its policy documents."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from indexer.errors import PolicyError

SHOP_FILE = "shop.toml"
LANGUAGE_CODE = r"^[a-z]{2}$"


def inside_folder(name: str) -> str:
    """A file name of shop.toml, refused unless it stays inside the shop folder."""
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise ValueError("must be a file name inside the shop folder")
    return name


class PolicyDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1, description="file name inside the shop folder")
    title: str = Field(min_length=1)
    languages: list[str] = Field(min_length=1, description="ISO 639-1 codes of the text")
    version: str = Field(min_length=1)
    effective_date: date | None = None
    # The path of the document this one translates (another entry of the same shop): its
    # passages are aligned to the original's, and a customer who writes in this document's
    # language is quoted this version, citing the original it was made from.
    translation_of: str | None = Field(default=None, min_length=1)

    @field_validator("languages")
    @classmethod
    def _lowercase_codes(cls, value: list[str]) -> list[str]:
        import re

        for code in value:
            if not re.fullmatch(LANGUAGE_CODE, code):
                raise ValueError(f"{code!r} is not a two-letter ISO 639-1 code")
        return value

    @field_validator("path")
    @classmethod
    def _inside_folder(cls, value: str) -> str:
        return inside_folder(value)


class SupportGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chat_id: int | None = None
    admins: list[int] = Field(default_factory=list, description="Telegram user ids")


class WebhookEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://")
    events: list[str] = Field(default_factory=lambda: ["*"])


class PrivacyRequestOptions(BaseModel):
    """How this shop handles privacy requests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # "email": the customer proves the address with a one-time code; "shop": the shop's
    # backend confirms the customer through the REST API.
    verification: Literal["email", "shop"] = "email"
    # "link": an access export reaches the customer as a one-time download link;
    # "chat": as a file in the chat.
    export_delivery: Literal["link", "chat"] = "link"
    # The deadline from verification, in months (GDPR: one).
    deadline_months: int = Field(default=1, ge=1, le=3)


class WebOptions(BaseModel):
    """The web chat (issue 14): which sites may embed this shop's chat."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Origins (scheme://host[:port], no path) whose pages may frame the chat page and open
    # its socket; the assistant's own origin always may.
    allowed_origins: list[str] = Field(default_factory=list)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.fullmatch(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"{origin!r} is not an origin like https://shop.example")
        return value


class Shop(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    contact_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    default_language: str = Field(pattern=LANGUAGE_CODE)
    documents: list[PolicyDocument] = Field(min_length=1)
    support: SupportGroup = Field(default_factory=SupportGroup)
    webhooks: list[WebhookEndpoint] = Field(default_factory=list)
    privacy_requests: PrivacyRequestOptions = Field(default_factory=PrivacyRequestOptions)
    web: WebOptions = Field(default_factory=WebOptions)
    # A file of example questions and the policy text that answers each (indexer/examples.py).
    examples: str | None = Field(default=None, min_length=1)
    folder: Path = Field(default=Path(), exclude=True)

    @field_validator("examples")
    @classmethod
    def _examples_inside_folder(cls, value: str | None) -> str | None:
        return None if value is None else inside_folder(value)

    @property
    def languages(self) -> list[str]:
        seen: dict[str, None] = {}
        for document in self.documents:
            seen.update(dict.fromkeys(document.languages))
        return list(seen)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    extra = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{field}: {first['msg']}{extra}"


def load_shop(folder: Path) -> Shop:
    """Read and validate one shop folder; every mistake names the file and the field."""
    manifest = folder / SHOP_FILE
    if not manifest.is_file():
        raise PolicyError(manifest, "missing; every shop folder needs a shop.toml")
    try:
        raw = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(manifest, f"not valid TOML: {exc}") from exc
    try:
        shop = Shop.model_validate({**raw, "folder": folder})
    except ValidationError as exc:
        raise PolicyError(manifest, _describe(exc)) from exc
    if shop.id != folder.name:
        raise PolicyError(manifest, f"id: {shop.id!r} must equal the folder name {folder.name!r}")
    for index, document in enumerate(shop.documents):
        if not (folder / document.path).is_file():
            raise PolicyError(
                folder / document.path, f"listed in {manifest} as documents.{index} but missing"
            )
    problem = translation_problem(shop.documents)
    if problem:
        raise PolicyError(manifest, problem)
    if shop.examples is not None and not (folder / shop.examples).is_file():
        raise PolicyError(folder / shop.examples, f"listed in {manifest} as examples but missing")
    return shop


def translation_problem(documents: list[PolicyDocument]) -> str | None:
    """Why the documents' `translation_of` links do not make sense, or None: each names
    another document of the shop that is an original itself."""
    by_path = {document.path: document for document in documents}
    for index, document in enumerate(documents):
        if document.translation_of is None:
            continue
        where = f"documents.{index}.translation_of"
        original = by_path.get(document.translation_of)
        if original is None or original is document:
            return f"{where}: {document.translation_of!r} is not another document of this shop"
        if original.translation_of is not None:
            return f"{where}: {original.path!r} is itself a translation; name its original"
    return None


def load_shops(knowledge_dir: Path) -> list[Shop]:
    """All shops of the knowledge base, sorted by id; aliases must not collide."""
    if not knowledge_dir.is_dir():
        raise PolicyError(knowledge_dir, "knowledge folder not found")
    shops = [load_shop(folder) for folder in sorted(knowledge_dir.iterdir()) if folder.is_dir()]
    if not shops:
        raise PolicyError(knowledge_dir, "no shop folders")
    names: dict[str, str] = {}
    for shop in shops:
        for name in (shop.id, *shop.aliases):
            if name in names:
                raise PolicyError(
                    shop.folder / SHOP_FILE, f"aliases: {name!r} is already used by {names[name]}"
                )
            names[name] = shop.id
    return shops


def shop_aliases(shops: list[Shop]) -> dict[str, str]:
    """Map every id and alias to the shop id (eval sets may name a shop by its seed file stem)."""
    return {name: shop.id for shop in shops for name in (shop.id, *shop.aliases)}
