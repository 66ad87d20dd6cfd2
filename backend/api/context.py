"""What every API handler needs, kept on the aiohttp application, and the small helpers
to read a call: the caller's shop, a validated body, a page cursor."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from backend.api.problems import ProblemError
from backend.api.settings import ApiSettings
from backend.database import Database
from backend.policies import PolicyDesk
from backend.privacy_requests.exports import ExportPolicy
from backend.privacy_requests.settings import RequestRules
from backend.webhooks.settings import WebhookSettings

Model = TypeVar("Model", bound=BaseModel)


@dataclass
class ApiContext:
    database: Database
    rules: RequestRules
    settings: ApiSettings = field(default_factory=ApiSettings)
    webhook_settings: WebhookSettings = field(default_factory=WebhookSettings)
    # The knowledge and index folders that shops publish policies into; None: none here.
    policies: PolicyDesk | None = None

    @property
    def export_policy(self) -> ExportPolicy:
        return self.settings.export_policy()


CONTEXT = web.AppKey("api_context", ApiContext)
SHOP_ID = web.RequestKey("shop_id", str)


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


def shop_of(request: web.Request) -> str:
    """The shop of the API key the call carried (set by the auth middleware)."""
    return request[SHOP_ID]


async def body_of(request: web.Request, model: type[Model]) -> tuple[Model, bytes]:
    """The call's JSON body validated as `model`, and its raw bytes."""
    raw = await request.read()
    if request.content_type != "application/json":
        raise ProblemError(415, "Unsupported media type", "send the body as application/json")
    try:
        parsed = json.loads(raw or b"null")
    except (ValueError, RecursionError) as exc:  # RecursionError: "[" nested 100,000 deep
        raise ProblemError(400, "Malformed JSON", "the body is not valid JSON") from exc
    return model.model_validate(parsed), raw


def encode_cursor(offset: int) -> str:
    """The cursor of the page starting at `offset` (a count of items skipped)."""
    return str(offset)


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 9:
        raise ProblemError(400, "Bad cursor", "pass a next_cursor from an earlier page")
    return int(cursor)


def limit_of(request: web.Request) -> int:
    ceiling = context(request).settings.page_limit
    text = request.query.get("limit", str(min(50, ceiling)))
    # isdigit() alone takes "²", which int() refuses.
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or not 1 <= int(text) <= ceiling:
        raise ProblemError(400, "Bad limit", f"limit is a whole number from 1 to {ceiling}")
    return int(text)
