"""The OpenAPI 3.1 document of the REST API, built from the operation table and the
pydantic models' JSON Schemas (OpenAPI 3.1 speaks JSON Schema 2020-12, as pydantic does)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from backend.api.operations import ENDPOINT, OPERATIONS, PREFIX, REQUEST, Operation
from backend.api.problems import PROBLEM_TYPE
from backend.api.schemas import (
    DeliveryPage,
    DeliveryView,
    EndpointList,
    EndpointView,
    InboundResult,
    Problem,
    RequestPage,
    RequestView,
)

REF = "#/components/schemas/{model}"
VERSION = "1.0.0"


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"Problem": Problem}
    for operation in OPERATIONS:
        for model in (operation.body, operation.response):
            if model is not None:
                found[model.__name__] = model
    return list(found.values())


def _reference(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_TYPE: {"schema": _reference(Problem)}}}


DELIVERY: Final = f"{PREFIX}/webhook-deliveries/{{delivery_id}}"
# The answers that name a resource: where the resource lives, and the JSON pointer to its id
# in the answer (a page names its first, newest item).
NAMED_IN: Final[dict[type[BaseModel], tuple[str, str]]] = {
    RequestView: (REQUEST, "/id"),
    RequestPage: (REQUEST, "/items/0/id"),
    InboundResult: (REQUEST, "/request/id"),
    EndpointView: (ENDPOINT, "/id"),
    EndpointList: (ENDPOINT, "/items/0/id"),
    DeliveryView: (DELIVERY, "/id"),
    DeliveryPage: (DELIVERY, "/items/0/id"),
}


# After a step on a request, the steps its lifecycle leads to next: the links of that
# step's answer. (Reading a request, or listing them, leads to every step: the request's
# status decides which one it takes. A step not linked is no less allowed.)
_WORKING: Final = (
    "getRequest",
    "pauseRequest",
    "extendRequest",
    "reportOutcomes",
    "uploadExport",
    "denyRequest",
)
NEXT_STEPS: Final[dict[str, tuple[str, ...]]] = {
    "createRequest": ("startRequest", *_WORKING),
    "verifyRequest": ("startRequest", *_WORKING),
    "startRequest": (*_WORKING, "completeRequest"),
    "pauseRequest": ("getRequest", "resumeRequest", "denyRequest"),
    # Paused before or after the work started.
    "resumeRequest": ("startRequest", *_WORKING, "completeRequest"),
    "extendRequest": ("startRequest", *_WORKING, "completeRequest"),
    "reportOutcomes": ("getRequest", "reportOutcomes", "completeRequest", "denyRequest"),
    "uploadExport": ("getRequest", "uploadExport", "completeRequest"),
    "completeRequest": ("getRequest",),
    "denyRequest": ("getRequest",),
}


def _id_parameter(resource: str) -> str:
    return str(re.findall(r"{(\w+)}", resource)[-1])


def _taking(resource: str) -> Iterator[Operation]:
    """The operations on the resource at `resource`, and those that filter by its id."""
    parameter = _id_parameter(resource)
    for operation in OPERATIONS:
        on_it = operation.path == resource or operation.path.startswith(f"{resource}/")
        if on_it or any(query.name == parameter for query in operation.query):
            yield operation


def _links(operation: Operation) -> dict[str, Any]:
    """OpenAPI links from the operation's answer to the operations that take the id of
    what it names (a request: the steps that come next, NEXT_STEPS; an endpoint: read,
    disable, rotate, its deliveries). An answer that names nothing (the export uploaded)
    leads on from the resource its own path names. Clients and schemathesis's state
    machine follow them to chain calls."""
    if operation.response in NAMED_IN:
        resource, pointer = NAMED_IN[operation.response]
        expression = f"$response.body#{pointer}"
    else:
        under = [r for r, _ in NAMED_IN.values() if operation.path.startswith(f"{r}/")]
        if not under:
            return {}
        resource = under[0]
        expression = f"$request.path.{_id_parameter(resource)}"
    parameter = _id_parameter(resource)
    next_steps = NEXT_STEPS.get(operation.operation_id)
    return {
        target.operation_id: {
            "operationId": target.operation_id,
            "parameters": {parameter: expression},
        }
        for target in _taking(resource)
        if next_steps is None or target.operation_id in next_steps
    }


def _file(media: str) -> dict[str, Any]:
    """A file sent as the body: a JSON document, a text, or bytes; never empty."""
    if media == "application/json":
        return {"description": "a JSON document"}
    if media.startswith("text/"):
        return {"type": "string", "minLength": 1}
    return {"type": "string", "format": "binary", "minLength": 1}


ERROR_TEXT = {
    400: "a query parameter, header or the JSON itself is malformed",
    401: "no valid credentials",
    404: "no such thing for this shop",
    409: "the request's status does not allow this step",
    410: "the link was used or has expired",
    413: "the body is larger than allowed",
    415: "the body's media type is not accepted",
    422: "the body is well-formed but not accepted",
}


def _operation(operation: Operation) -> dict[str, Any]:
    document: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", operation.path)
    ]
    parameters += [
        {
            "name": q.name,
            "in": "query",
            "required": False,
            "description": q.description,
            "schema": q.schema,
        }
        for q in operation.query
    ]
    if operation.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "a retry with the same key gets the first answer",
                "schema": {"type": "string", "pattern": "^[!-~]{1,200}$"},
            }
        )
    if parameters:
        document["parameters"] = parameters
    if operation.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _reference(operation.body)}},
        }
    elif operation.upload_types:
        document["requestBody"] = {
            "required": True,
            "content": {media: {"schema": _file(media)} for media in operation.upload_types},
        }
    if operation.response is not None:
        success: dict[str, Any] = {
            "description": "done",
            "content": {"application/json": {"schema": _reference(operation.response)}},
        }
    else:
        success = {
            "description": "done",
            "content": {operation.response_media: {"schema": {"type": "string"}}},
        }
    links = _links(operation)
    if links:
        success["links"] = links
    responses: dict[str, Any] = {str(operation.status): success}
    codes = set(operation.errors)
    if operation.authenticated:
        codes.add(401)
    for code in sorted(codes):
        if code == 410:
            responses[str(code)] = {
                "description": ERROR_TEXT[code],
                "content": {"text/html": {"schema": {"type": "string"}}},
            }
        else:
            responses[str(code)] = _problem(ERROR_TEXT[code])
    responses["default"] = _problem("any other error")
    document["responses"] = responses
    if not operation.authenticated:
        document["security"] = []
    return document


@cache
def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(model, "validation") for model in _models()], ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Privacy help assistant: shop API",
            "version": VERSION,
            "description": (
                "Privacy requests (unsubscribe, access, deletion) of a shop's customers, and "
                "the webhooks that announce them. Every call under /api/v1 carries "
                "`Authorization: Bearer <key>` (`python -m backend apikey create --shop ID`); "
                "a key sees only its own shop. Errors are application/problem+json."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }
