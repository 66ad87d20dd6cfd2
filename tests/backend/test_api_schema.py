"""The REST API against its own OpenAPI document, by schemathesis: generated calls to
every operation must get answers the document describes (status, media type, body
schema), and never a server error.

The API runs on a real loopback server in a thread of its own (schemathesis calls it
synchronously), over a migrated SQLite file with one shop's key, an endpoint and a request to act on.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import jsonschema_rs
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.stateful.state_machine import normalize_name
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.stateful import OpenAPIStateMachine

from backend.api import schemas as api_schemas
from backend.api.app import create_api_app
from backend.api.context import ApiContext
from backend.api.keys import create_api_key
from backend.api.openapi import openapi_document
from backend.database import Database
from backend.privacy_requests import pause, start_work
from backend.privacy_requests.exports import ExportPolicy, attach_export
from backend.privacy_requests.intake import create_on_behalf
from backend.webhooks.endpoints import create_endpoint
from backend.webhooks.settings import WebhookSettings
from tests.backend.privacy_requests_support import RULES, SHOP

ApiCase = schemathesis.Case[Any]


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
        self.key = await self._open_shop(SHOP)
        context = ApiContext(
            self.database, RULES, webhook_settings=WebhookSettings(allow_private_targets=True)
        )
        self.runner = web.AppRunner(create_api_app(context))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def _open_shop(self, shop_id: str) -> str:
        """A key of `shop_id`, whose shop has a webhook endpoint and two requests being
        worked on, which the endpoint was told of (deliveries pending: no worker runs
        here): a deletion, and an access request with its export uploaded, paused while the
        shop waits for the customer."""
        async with self.database.session() as session:
            _, key = await create_api_key(session, shop_id)
            await create_endpoint(
                session, shop_id, "http://127.0.0.1:9/", allow_private_targets=True
            )
            for kind in ("deletion", "access"):
                request = await create_on_behalf(
                    session, shop_id, kind, "anna@example.org", rules=RULES
                )
                await start_work(session, request)
            await attach_export(
                session, request, "export.json", "application/json", b"{}", policy=ExportPolicy()
            )
            await pause(session, request)
        return key

    def open_shop(self, shop_id: str) -> str:
        return asyncio.run_coroutine_threadsafe(self._open_shop(shop_id), self.loop).result(30)

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
    # Against the OpenAPI 3.1 meta-schema, links included.
    schemathesis.openapi.from_dict(document).validate()


def _links_of(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    responses = document["paths"][path][method]["responses"]
    success = next(answer for code, answer in responses.items() if code.startswith("2"))
    return dict(success.get("links", {}))


def test_answers_link_to_the_operations_that_take_what_they_name() -> None:
    document = openapi_document()
    operation_ids = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    }
    created = _links_of(document, "post", "/api/v1/requests")
    assert {"getRequest", "startRequest", "pauseRequest", "extendRequest"} <= set(created)
    assert {"reportOutcomes", "uploadExport", "denyRequest"} <= set(created)
    assert created["startRequest"]["parameters"] == {"request_id": "$response.body#/id"}
    assert "resumeRequest" in _links_of(document, "post", "/api/v1/requests/{request_id}/pause")
    started = _links_of(document, "post", "/api/v1/requests/{request_id}/start")
    assert "completeRequest" in started
    # The export's answer names the export: on to the request its path names.
    uploaded = _links_of(document, "put", "/api/v1/requests/{request_id}/export")
    assert uploaded["completeRequest"]["parameters"] == {"request_id": "$request.path.request_id"}
    endpoint = _links_of(document, "post", "/api/v1/webhook-endpoints")
    assert set(endpoint) == {
        "getWebhookEndpoint",
        "disableWebhookEndpoint",
        "rotateWebhookSecret",
        "listWebhookDeliveries",
    }
    deliveries = _links_of(document, "get", "/api/v1/webhook-deliveries")
    assert deliveries["replayWebhookDelivery"]["parameters"] == {
        "delivery_id": "$response.body#/items/0/id"
    }
    for item in document["paths"].values():
        for operation in item.values():
            for answer in operation["responses"].values():
                for link in answer.get("links", {}).values():
                    assert link["operationId"] in operation_ids


def test_the_documented_bodies_are_the_ones_the_api_takes() -> None:
    # Found by the stateful tests: the document called bodies valid that the API refuses
    # with 422 (data kept without its legal basis or date, a reason of blanks or with a
    # control character, an empty export), so chains of valid calls stalled there.
    document = openapi_document()

    def valid(model: str, body: object) -> bool:
        schema = {"$ref": f"#/components/schemas/{model}", "components": document["components"]}
        return bool(jsonschema_rs.Draft202012Validator(schema).is_valid(body))

    for model, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            assert valid(model, example), (model, example)
            getattr(api_schemas, model).model_validate(example)
    kept = {"system": "accounting", "outcome": "retained", "retained_until": "2035-12-31"}
    assert not valid("Outcome", kept)
    assert valid("Outcome", {**kept, "legal_basis": "tax law"})
    assert not valid("Extend", {"months": 1, "reason": " \n "})
    assert not valid("Deny", {"reason_code": "other", "reason_text": "a\x00b"})
    assert valid("Deny", {"reason_code": "other", "reason_text": "Première ligne\n\tla suite"})
    export = document["paths"]["/api/v1/requests/{request_id}/export"]["put"]
    for media, content in export["requestBody"]["content"].items():
        if media != "application/json":
            assert content["schema"]["minLength"] == 1, media


def _check_every_operation(
    api_schema: schemathesis.BaseSchema,
    check: Callable[[ApiCase], None],
    mode: GenerationMode = GenerationMode.POSITIVE,
) -> None:
    """`check` on 15 generated cases of every operation (deterministic), every failure
    reported with its operation. Driven through Hypothesis directly: schemathesis's pytest
    plugin does not run under this pytest."""
    failures: list[str] = []
    checked = 0
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok)
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
        def run(case: ApiCase) -> None:
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

    def check(case: ApiCase) -> None:
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

    def check(case: ApiCase) -> None:
        response = case.call(headers={**dict(case.headers or {}), **auth}, timeout=30)
        case.validate_response(response, checks=[not_a_server_error])
        if 400 <= response.status_code < 500:
            headers = {name.lower(): value for name, value in response.headers.items()}
            kind = str(headers.get("content-type", ""))
            assert "application/problem+json" in kind, (response.status_code, kind)

    _check_every_operation(api_schema, check, GenerationMode.NEGATIVE)


def _follow_links(api_thread: ApiThread, tag: str, examples: int) -> Counter[tuple[str, int]]:
    """Issue 12: schemathesis's stateful mode over the operations tagged `tag`. Its state
    machine follows the document's links, and only them (inference is off, so a link
    missing from the document shows): it creates or lists things and acts on what came
    back, up to 20 calls a scenario. Every answer: no 5xx; a documented status, media type
    and body; a resource just created is there. Returns how often each operation answered
    each status when reached through a link, with the id an earlier answer gave."""
    schema = schemathesis.openapi.from_dict(openapi_document()).include(tag=tag)
    # The signed call takes no key: nothing of a scenario's shop to chain from.
    schema = schema.exclude(operation_id="signedCall")
    schema.config.update(base_url=api_thread.base_url)
    schema.config.phases.stateful.inference.algorithms = []
    # Valid data only: an invalid call is refused and feeds no link (the negative test
    # above sends invalid data to every operation). The key is ours to send. Texts in
    # ASCII: the document names the control characters the domain refuses, not every
    # invisible or unassigned one; the tests above send the rest of Unicode.
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE],
        codec="ascii",
        allow_x00=False,
        with_security_parameters=False,
    )
    scenarios = itertools.count()
    linked: Counter[tuple[str, int]] = Counter()
    machine = cast(type[OpenAPIStateMachine], schema.as_state_machine())
    # A chain starts where the API makes or lists something: a step on a made-up id only
    # meets 404, which the tests above cover.
    made_up = {label for label in machine._root_labels if "{" in label}

    class Workflow(machine):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            # Each scenario in a shop of its own: what it lists is what it made or what the
            # shop starts with, whatever ran before (so a replayed scenario runs the same).
            key = api_thread.open_shop(f"{tag}-{next(scenarios)}")
            self.auth = {"Authorization": f"Bearer {key}"}

        def before_call(self, case: ApiCase) -> None:
            # A repeated key with another body is rightly refused (422); idempotency has
            # its own tests.
            if case.headers:
                case.headers.pop("Idempotency-Key", None)

        def get_call_kwargs(self, case: ApiCase) -> dict[str, object]:
            return {"headers": self.auth, "timeout": 30}

        def after_call(self, response: schemathesis.Response, case: ApiCase) -> None:
            super().after_call(response, case)
            step = self.recorder.cases[case.id]
            if step.transition is not None and step.is_transition_applied:
                linked[case.operation.label, response.status_code] += 1

        def validate_response(
            self,
            response: schemathesis.Response,
            case: ApiCase,
            additional_checks: object = None,
            **kwargs: object,
        ) -> None:
            case.validate_response(
                response,
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                    ensure_resource_availability,
                ],
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    for label in made_up:
        setattr(Workflow, normalize_name(f"RANDOM -> {label}"), None)
    Workflow._root_labels = machine._root_labels - made_up
    Workflow.run(
        settings=settings(
            max_examples=examples,
            stateful_step_count=20,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
    )
    return linked


def _assert_reached(linked: Counter[tuple[str, int]], operations: set[str]) -> None:
    """Each of `operations` answered a linked call with a 2xx at least once: the chains
    got past their first step. (Which request a listed chain acts on depends on random ids,
    so a run is not fully repeatable: the budgets leave room — 60 examples for the requests
    once missed the export in a full suite run.)"""
    reached = {label for label, status in linked if 200 <= status < 300}
    assert reached >= operations, (sorted(operations - reached), sorted(linked.items()))


def test_chains_act_on_the_requests_they_create_or_list(api_thread: ApiThread) -> None:
    linked = _follow_links(api_thread, "requests", examples=120)
    # Not verifyRequest: a request the shop creates is verified already (409, rightly).
    _assert_reached(
        linked,
        {
            "GET /api/v1/requests/{request_id}",
            "POST /api/v1/requests/{request_id}/start",
            "POST /api/v1/requests/{request_id}/pause",
            "POST /api/v1/requests/{request_id}/resume",
            "POST /api/v1/requests/{request_id}/extend",
            "POST /api/v1/requests/{request_id}/outcomes",
            "PUT /api/v1/requests/{request_id}/export",
            "POST /api/v1/requests/{request_id}/complete",
            "POST /api/v1/requests/{request_id}/deny",
        },
    )


def test_chains_act_on_the_endpoints_they_create_or_list(api_thread: ApiThread) -> None:
    linked = _follow_links(api_thread, "webhooks", examples=30)
    _assert_reached(
        linked,
        {
            "GET /api/v1/webhook-endpoints/{endpoint_id}",
            "DELETE /api/v1/webhook-endpoints/{endpoint_id}",
            "POST /api/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
            "GET /api/v1/webhook-deliveries",
            "POST /api/v1/webhook-deliveries/{delivery_id}/replay",
        },
    )
