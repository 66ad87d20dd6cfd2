"""Errors as `application/problem+json` (RFC 9457): a status, a short title and a detail
that says what to fix. Every domain error maps to one here, in one place."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from backend.privacy_requests.errors import (
    IllegalTransitionError,
    InvalidRequestError,
    NotAwaitingVerificationError,
    RequestNotFoundError,
    StateConflictError,
)
from backend.webhooks.targets import TargetRefusedError

PROBLEM_TYPE = "application/problem+json"
log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ProblemError(Exception):
    """Raised by a handler to answer with a problem document."""

    def __init__(
        self, status: int, title: str, detail: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    document: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    document["detail"] = detail
    document.update(extra or {})
    return web.Response(
        status=status,
        body=json.dumps(document).encode(),
        content_type=PROBLEM_TYPE,
        headers=headers,
    )


def _validation_errors(error: ValidationError) -> list[dict[str, str]]:
    # Without the input: it may be an e-mail address.
    return [
        {"field": ".".join(str(part) for part in item["loc"]) or "body", "message": item["msg"]}
        for item in error.errors(include_input=False, include_url=False)
    ]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProblemError as error:
        return problem_response(error.status, error.title, error.detail, headers=error.headers)
    except ValidationError as error:
        errors = _validation_errors(error)
        detail = "; ".join(f"{item['field']}: {item['message']}" for item in errors)
        return problem_response(422, "Invalid request body", detail, extra={"errors": errors})
    except RequestNotFoundError as error:
        return problem_response(404, "Not found", str(error))
    except (IllegalTransitionError, NotAwaitingVerificationError, StateConflictError) as error:
        return problem_response(409, "Conflict with the request's status", str(error))
    except (InvalidRequestError, TargetRefusedError) as error:
        return problem_response(422, "Not accepted", str(error))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return problem_response(
            error.status, error.reason, error.text or error.reason, headers=_kept(error)
        )
    except Exception:
        log.exception("API %s %s failed", request.method, request.path)
        return problem_response(500, "Internal error", "the server could not finish this call")


def _kept(error: web.HTTPException) -> dict[str, str]:
    allow = error.headers.get("Allow")
    return {"Allow": allow} if allow else {}
