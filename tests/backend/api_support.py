"""What the REST API tests share: the API on a real loopback server over a migrated
database, with a key for each of two shops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse, ClientSession
from aiohttp.test_utils import TestServer

from backend.api.app import create_api_app
from backend.api.context import ApiContext
from backend.api.keys import create_api_key
from backend.api.settings import ApiSettings
from backend.database import Database
from backend.webhooks.settings import WebhookSettings
from tests.backend.privacy_requests_support import RULES, SHOP

OTHER_SHOP = "kivismart"


@dataclass
class Api:
    base: str
    http: ClientSession
    key: str
    other_key: str
    database: Database

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> tuple[int, Any, ClientResponse]:
        async with self.http.request(
            method,
            self.base + path,
            json=json,
            headers={**self.auth(key), **(headers or {})},
            **options,
        ) as response:
            if response.content_type.endswith("json"):
                body: Any = await response.json(content_type=None)
            else:
                body = await response.text()
            return response.status, body, response


@asynccontextmanager
async def running_api(
    db: Database, settings: ApiSettings | None = None, *, allow_private: bool = True
) -> AsyncIterator[Api]:
    async with db.session() as session:
        _, key = await create_api_key(session, SHOP)
        _, other_key = await create_api_key(session, OTHER_SHOP)
    context = ApiContext(
        db,
        RULES,
        settings or ApiSettings(),
        WebhookSettings(allow_private_targets=allow_private),
    )
    server = TestServer(create_api_app(context), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as http:
            yield Api(f"http://127.0.0.1:{server.port}", http, key, other_key, db)
    finally:
        await server.close()
