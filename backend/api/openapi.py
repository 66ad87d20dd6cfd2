"""The OpenAPI 3.1 document of the REST API, built from the operation table and the
pydantic models' JSON Schemas (OpenAPI 3.1 speaks JSON Schema 2020-12, as pydantic does)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from backend.api.operations import OPERATIONS, Operation
from backend.api.problems import PROBLEM_TYPE
from backend.api.schemas import Problem

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
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in operation.upload_types
            },
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
