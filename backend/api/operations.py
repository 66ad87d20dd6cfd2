"""Every operation of the REST API in one table: the application registers its routes
from it and the OpenAPI document describes them from it, so the two cannot drift."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, get_args

from aiohttp import web
from pydantic import BaseModel

from backend.api import downloads, inbound, policies, webhook_endpoints
from backend.api import privacy_requests as requests
from backend.api.schemas import (
    Complete,
    CreateEndpoint,
    CreateRequest,
    DeliveryPage,
    DeliveryView,
    Deny,
    EndpointList,
    EndpointView,
    ExampleAddedView,
    ExampleRemovedView,
    ExportView,
    Extend,
    InboundCall,
    InboundResult,
    Outcomes,
    PolicyChangeList,
    PolicyChangeView,
    PolicyCoverageView,
    RequestPage,
    RequestView,
    RotateSecret,
    SuppressionCheck,
    SuppressionResult,
    TaughtExampleList,
    TeachExample,
    Verify,
)
from backend.privacy_requests.exports import EXPORT_TYPES
from backend.privacy_requests.lifecycle import RequestKind, RequestStatus
from indexer.policy_update import VERSION_FORM

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PREFIX: Final = "/api/v1"


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    schema: dict[str, object]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    # A raw body in one of these media types instead of a JSON model.
    upload_types: tuple[str, ...] = ()
    response: type[BaseModel] | None = None
    response_media: str = "application/json"
    status: int = 200
    query: tuple[Query, ...] = ()
    authenticated: bool = True
    idempotent: bool = False
    errors: tuple[int, ...] = ()


STATUS_QUERY = Query(
    "status",
    "only requests in this status",
    {"type": "string", "enum": list(get_args(RequestStatus))},
)
PAGE = (
    Query("limit", "items per page (1 to 100)", {"type": "integer", "minimum": 1, "maximum": 100}),
    Query(
        "cursor",
        "next_cursor of the previous page",
        {"type": "string", "pattern": "^[0-9]{1,9}$"},
    ),
)
REQUEST = f"{PREFIX}/requests/{{request_id}}"
ENDPOINT = f"{PREFIX}/webhook-endpoints/{{endpoint_id}}"
STEP_ERRORS = (404, 409, 422)


def request_step(
    action: str,
    handler: Handler,
    operation_id: str,
    summary: str,
    body: type[BaseModel] | None = None,
) -> Operation:
    """POST /requests/{request_id}/<action>: one step of a request's lifecycle, answered
    with the request as it now is; a step with a body may also meet 400 and 415."""
    return Operation(
        "POST",
        f"{REQUEST}/{action}",
        handler,
        operation_id,
        summary,
        "requests",
        body=body,
        response=RequestView,
        errors=(*STEP_ERRORS, 400, 415) if body is not None else STEP_ERRORS,
    )


OPERATIONS: Final[tuple[Operation, ...]] = (
    Operation(
        "GET",
        f"{PREFIX}/requests",
        requests.list_requests,
        "listRequests",
        "List the shop's privacy requests, newest first",
        "requests",
        response=RequestPage,
        query=(
            STATUS_QUERY,
            Query(
                "kind",
                "only requests of this kind",
                {"type": "string", "enum": list(get_args(RequestKind))},
            ),
            Query(
                "due_before",
                "only requests whose deadline is before this moment (ISO 8601)",
                {"type": "string", "format": "date-time"},
            ),
            *PAGE,
        ),
        errors=(400,),
    ),
    Operation(
        "POST",
        f"{PREFIX}/requests",
        requests.create_request,
        "createRequest",
        "Create a request on a customer's behalf (the shop verified them itself)",
        "requests",
        body=CreateRequest,
        response=RequestView,
        status=201,
        idempotent=True,
        errors=(400, 415, 422),
    ),
    Operation(
        "GET",
        REQUEST,
        requests.read_request,
        "getRequest",
        "Read one request, with the customer's e-mail address while the shop may see it",
        "requests",
        response=RequestView,
        errors=(404,),
    ),
    request_step(
        "verify",
        requests.verify_request,
        "verifyRequest",
        "Confirm the customer's identity (shops that verify themselves)",
        body=Verify,
    ),
    request_step(
        "start",
        requests.start_request,
        "startRequest",
        "Start working on a verified request",
    ),
    request_step(
        "pause",
        requests.pause_request,
        "pauseRequest",
        "Stop the clock while waiting for the customer",
    ),
    request_step(
        "resume",
        requests.resume_request,
        "resumeRequest",
        "Start the clock again; the deadline moves by the pause",
    ),
    request_step(
        "extend",
        requests.extend_request,
        "extendRequest",
        "Extend the deadline by up to two further months, with a reason the customer is told",
        body=Extend,
    ),
    request_step(
        "outcomes",
        requests.report_request_outcomes,
        "reportOutcomes",
        "Report what each system did with a deletion so far",
        body=Outcomes,
    ),
    Operation(
        "PUT",
        f"{REQUEST}/export",
        requests.upload_export,
        "uploadExport",
        "Upload the copy of the customer's data for an access request",
        "requests",
        upload_types=tuple(sorted(EXPORT_TYPES)),
        response=ExportView,
        status=201,
        query=(Query("filename", "the file name the customer sees", {"type": "string"}),),
        errors=(*STEP_ERRORS, 413, 415),
    ),
    request_step(
        "complete",
        requests.complete_request,
        "completeRequest",
        "Complete a request (a deletion with per-system outcomes, an access request once "
        "its export is uploaded)",
        body=Complete,
    ),
    request_step(
        "deny",
        requests.deny_request,
        "denyRequest",
        "Deny a request with a reason code and a text for the customer",
        body=Deny,
    ),
    Operation(
        "POST",
        f"{PREFIX}/suppressions/check",
        requests.check_suppressions,
        "checkSuppressions",
        "Which of these addresses objected to direct marketing",
        "requests",
        body=SuppressionCheck,
        response=SuppressionResult,
        errors=(400, 415, 422),
    ),
    Operation(
        "GET",
        f"{PREFIX}/audit.csv",
        requests.audit_csv,
        "auditTrail",
        "The audit trail of the shop's requests as CSV",
        "requests",
        response_media="text/csv",
        query=(
            Query("since", "from this moment", {"type": "string", "format": "date-time"}),
            Query("until", "before this moment", {"type": "string", "format": "date-time"}),
        ),
        errors=(400,),
    ),
    Operation(
        "GET",
        f"{PREFIX}/webhook-endpoints",
        webhook_endpoints.list_endpoints,
        "listWebhookEndpoints",
        "List the shop's webhook endpoints",
        "webhooks",
        response=EndpointList,
    ),
    Operation(
        "POST",
        f"{PREFIX}/webhook-endpoints",
        webhook_endpoints.add_endpoint,
        "createWebhookEndpoint",
        "Add an endpoint; the answer carries its signing secret, once",
        "webhooks",
        body=CreateEndpoint,
        response=EndpointView,
        status=201,
        idempotent=True,
        errors=(400, 415, 422),
    ),
    Operation(
        "GET",
        ENDPOINT,
        webhook_endpoints.read_endpoint,
        "getWebhookEndpoint",
        "Read one endpoint",
        "webhooks",
        response=EndpointView,
        errors=(404,),
    ),
    Operation(
        "DELETE",
        ENDPOINT,
        webhook_endpoints.remove_endpoint,
        "disableWebhookEndpoint",
        "Disable an endpoint (its deliveries stay listed)",
        "webhooks",
        response=EndpointView,
        errors=(404,),
    ),
    Operation(
        "POST",
        f"{ENDPOINT}/rotate-secret",
        webhook_endpoints.rotate_endpoint_secret,
        "rotateWebhookSecret",
        "Give the endpoint a new secret; the old one signs too for the overlap",
        "webhooks",
        body=RotateSecret,
        response=EndpointView,
        errors=(400, 404, 415, 422),
    ),
    Operation(
        "GET",
        f"{PREFIX}/webhook-deliveries",
        webhook_endpoints.list_deliveries,
        "listWebhookDeliveries",
        "List deliveries, newest first",
        "webhooks",
        response=DeliveryPage,
        query=(
            Query(
                "status",
                "only deliveries in this status",
                {"type": "string", "enum": ["pending", "delivered", "failed", "dead"]},
            ),
            Query("endpoint_id", "only deliveries to this endpoint", {"type": "string"}),
            *PAGE,
        ),
        errors=(400,),
    ),
    Operation(
        "POST",
        f"{PREFIX}/webhook-deliveries/{{delivery_id}}/replay",
        webhook_endpoints.replay_delivery,
        "replayWebhookDelivery",
        "Send a delivery again now (same webhook-id)",
        "webhooks",
        response=DeliveryView,
        status=202,
        errors=(404, 409),
    ),
    Operation(
        "POST",
        f"{PREFIX}/shops/{{shop_id}}/inbound",
        inbound.receive_signed_call,
        "signedCall",
        "A step on a request sent as a Standard Webhooks signed call instead of with a key",
        "webhooks",
        body=InboundCall,
        response=InboundResult,
        authenticated=False,
        errors=(401, 404, 409, 413, 422),
    ),
    Operation(
        "POST",
        f"{PREFIX}/policies",
        policies.upload_policy,
        "publishPolicy",
        "Publish a new version of the shop's privacy policy (the file as the body): it is "
        "checked, indexed and served at once; refused, nothing changes",
        "policies",
        upload_types=tuple(policies.POLICY_TYPES),
        response=PolicyChangeView,
        status=201,
        query=(
            Query(
                "language",
                "the language of the document it replaces (default: the shop's)",
                {"type": "string", "enum": list(policies.LANGUAGES)},
            ),
            Query(
                "filename",
                "the file's name; its extension agrees with the media type",
                {"type": "string", "pattern": policies.FILENAME_FORM},
            ),
            Query(
                "version",
                "the version the customers see (default: today's date)",
                {"type": "string", "pattern": VERSION_FORM.pattern},
            ),
            Query(
                "translation_of",
                "the document is a translation of this original: its file name (`document` "
                "of a change) or its language, e.g. cs (default: a translation stays one); "
                "422 when it names no original of the shop",
                {"type": "string", "minLength": 1, "maxLength": 200},
            ),
            Query(
                "original",
                "true: the document, a translation until now, becomes an original of its own "
                "(its text binds the shop); not with translation_of",
                {"type": "boolean", "default": False},
            ),
        ),
        errors=(400, 404, 409, 413, 415, 422),
    ),
    Operation(
        "POST",
        f"{PREFIX}/policies/rollback",
        policies.rollback_policy,
        "rollBackPolicy",
        "Restore the policy version from before the latest upload",
        "policies",
        response=PolicyChangeView,
        status=201,
        errors=(404, 409, 422),
    ),
    Operation(
        "POST",
        f"{PREFIX}/policies/examples",
        policies.add_policy_example,
        "addPolicyExample",
        "Teach an example question: customers who ask alike get the passage holding the "
        "answer, and that sentence quoted; indexed and served at once",
        "policies",
        body=TeachExample,
        response=ExampleAddedView,
        status=201,
        errors=(400, 404, 415, 422),
    ),
    Operation(
        "GET",
        f"{PREFIX}/policies/examples",
        policies.list_policy_examples,
        "listPolicyExamples",
        "The shop's example questions, each with the id that takes it out",
        "policies",
        response=TaughtExampleList,
        errors=(404,),
    ),
    Operation(
        "DELETE",
        f"{PREFIX}/policies/examples/{{example_id}}",
        policies.remove_policy_example,
        "removePolicyExample",
        "Take an example question out (by its id in the list); indexed and served at once",
        "policies",
        response=ExampleRemovedView,
        errors=(404,),
    ),
    Operation(
        "GET",
        f"{PREFIX}/policies",
        policies.list_policy_changes,
        "listPolicyChanges",
        "The shop's latest policy changes (up to 50), newest first",
        "policies",
        response=PolicyChangeList,
    ),
    Operation(
        "GET",
        f"{PREFIX}/policies/{{shop_id}}/coverage",
        policies.read_policy_coverage,
        "getPolicyCoverage",
        "What the shop's policy covers, practice by practice (with the sections), and the "
        "disclosures GDPR art. 13 expects that it lacks",
        "policies",
        response=PolicyCoverageView,
        errors=(404,),
    ),
    Operation(
        "GET",
        "/exports/{token}",
        downloads.export_landing,
        "exportLanding",
        "The page the customer's link opens: one button, which downloads (GET uses nothing)",
        "customers",
        response_media="text/html",
        authenticated=False,
        errors=(410,),
    ),
    Operation(
        "POST",
        "/exports/{token}",
        downloads.download_export,
        "downloadExport",
        "The customer's one-time download of their data (a page, or the file)",
        "customers",
        response_media="text/html",
        authenticated=False,
        errors=(410,),
    ),
)
