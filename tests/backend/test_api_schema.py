"""The REST API against its own OpenAPI document, by schemathesis: generated calls to
every operation must get answers the document describes (status, media type, body
schema), and never a server error.

The API runs on a real loopback server in a thread of its own (schemathesis calls it
synchronously), over a migrated SQLite file with one shop's key and a request to act on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from backend.api.app import create_api_app
from backend.api.context import ApiContext
from backend.api.keys import create_api_key
from backend.api.openapi import openapi_document
from backend.database import Database
from backend.privacy_requests.intake import create_on_behalf
from backend.webhooks.settings import WebhookSettings
from tests.backend.privacy_requests_support import RULES, SHOP


class ApiThread:
    """The API served from a thread with its own event loop, for as long as it is open."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.base_url = ""
        self.key = ""

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=60)

    async def _start(self) -> None:
        self.database = Database(self.database_url)
        await self.database.migrate()
        async with self.database.session() as session:
            _, self.key = await create_api_key(session, SHOP)
            await create_on_behalf(session, SHOP, "deletion", "anna@example.org", rules=RULES)
        context = ApiContext(
            self.database, RULES, webhook_settings=WebhookSettings(allow_private_targets=True)
        )
        self.runner = web.AppRunner(create_api_app(context))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        async def _stop() -> None:
            if self.runner is not None:
                await self.runner.cleanup()
            await self.database.dispose()

        asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def api_thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiThread]:
    path: Path = tmp_path_factory.mktemp("api-schema") / "assistant.sqlite3"
    running = ApiThread(f"sqlite+aiosqlite:///{path}")
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def api_schema(api_thread: ApiThread) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_dict(openapi_document())
    schema.config.update(base_url=api_thread.base_url)
    return schema


def test_the_document_is_openapi_3_1_and_covers_every_route() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert ("POST", "/api/v1/requests") in operations
    assert ("PUT", "/api/v1/requests/{request_id}/export") in operations
    assert ("POST", "/api/v1/webhook-deliveries/{delivery_id}/replay") in operations
    assert len(operations) >= 20


def _check_every_operation(
    api_schema: schemathesis.BaseSchema,
    check: Callable[[schemathesis.Case], None],
    mode: GenerationMode = GenerationMode.POSITIVE,
) -> None:
    """`check` on 15 generated cases of every operation (deterministic), every failure
    reported with its operation. Driven through Hypothesis directly: schemathesis's pytest
    plugin does not run under this pytest."""
    failures: list[str] = []
    checked = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/exports/"):
            # The customer's one-time link: any made-up token is rightly 410 Gone, which
            # schemathesis would count as valid data rejected; it has its own tests.
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=15,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            check(case)

        try:
            run()
        except Exception as failure:
            failures.append(f"{operation.label}: {failure}")
        checked += 1
    assert checked >= 20
    assert not failures, "\n\n".join(failures)


def test_every_operation_answers_as_documented(
    api_schema: schemathesis.BaseSchema, api_thread: ApiThread
) -> None:
    auth = {"Authorization": f"Bearer {api_thread.key}"}

    def check(case: schemathesis.Case) -> None:
        # Generated keys repeat across different bodies, which the API rightly refuses
        # (422, as the IETF Idempotency-Key draft says); idempotency has its own tests.
        if case.headers:
            case.headers.pop("Idempotency-Key", None)
        case.call_and_validate(headers=auth, timeout=30)

    _check_every_operation(api_schema, check)


def test_the_documented_event_types_are_the_ones_the_outbox_takes() -> None:
    from typing import get_args

    from backend.api.schemas import EventType
    from backend.models import WEBHOOK_EVENT_TYPES

    assert set(get_args(EventType)) == {"*", *WEBHOOK_EVENT_TYPES}


def test_invalid_calls_get_a_4xx_problem_and_never_a_server_error(
    api_schema: schemathesis.BaseSchema, api_thread: ApiThread
) -> None:
    # Issue 12: schemathesis's negative mode, data that breaks the document on purpose
    # (wrong types, missing fields, out-of-range values, malformed parameters). Whatever
    # is sent, no operation may answer 5xx, and a refusal is problem+json.
    auth = {"Authorization": f"Bearer {api_thread.key}"}

    def check(case: schemathesis.Case) -> None:
        response = case.call(headers={**(case.headers or {}), **auth}, timeout=30)
        case.validate_response(response, checks=[not_a_server_error])
        if 400 <= response.status_code < 500:
            headers = {name.lower(): value for name, value in response.headers.items()}
            kind = str(headers.get("content-type", ""))
            assert "application/problem+json" in kind, (response.status_code, kind)

    _check_every_operation(api_schema, check, GenerationMode.NEGATIVE)
