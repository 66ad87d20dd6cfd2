"""The bodies the REST API takes and gives, as pydantic models: they validate what comes
in and, through their JSON Schemas, document both directions in the OpenAPI spec."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.models import (
    AccessExport,
    PolicyChange,
    PrivacyRequest,
    WebhookDelivery,
    WebhookEndpoint,
)
from backend.privacy_requests.fulfilment import Outcome as OutcomeValue
from backend.privacy_requests.lifecycle import DenialReason, RequestKind, RequestStatus

# The domain's own vocabularies: the API documents exactly what the lifecycle accepts.
Kind = RequestKind
Status = RequestStatus
# A Literal for the OpenAPI enum; a test holds it equal to the models' WEBHOOK_EVENT_TYPES.
EventType = Literal[
    "*",
    "privacy_request.created",
    "privacy_request.verified",
    "privacy_request.due_soon",
    "privacy_request.overdue",
    "privacy_request.completed",
    "privacy_request.denied",
    "privacy_request.canceled",
    "privacy_request.expired",
    "marketing.unsubscribed",
    "conversation.handoff_requested",
]
# The form documented is a conservative one; the domain's normalise_email decides (it also
# takes internationalised addresses) and says what is wrong with one it refuses.
# Dot-atom local part; host labels of at most 63 characters without a hyphen at either end;
# a top-level domain of two or three letters (no special-use name, such as .test or .local,
# is that short).
EMAIL_FORM = (
    r"^[A-Za-z0-9_%+'-]+(\.[A-Za-z0-9_%+'-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,3}$"
)
Email = Annotated[str, Field(max_length=254, json_schema_extra={"pattern": EMAIL_FORM})]
# A text that is kept and shown (a reason, a system name, a legal basis): a visible
# character at least, and no control character but tab and line feed. Documented
# conservatively: the domain also refuses bidirectional, zero-width, private-use and
# unassigned characters (backend/text_safety.py), which JSON Schema's regular expressions
# cannot all name portably.
_PLAIN = r"[^\x00-\x08\x0b-\x1f\x7f-\x9f]*"
TEXT_FORM = rf"^{_PLAIN}[^\s\x00-\x1f\x7f-\x9f]{_PLAIN}$"
Reason = Annotated[
    str, Field(min_length=1, max_length=2000, json_schema_extra={"pattern": TEXT_FORM})
]
SystemName = Annotated[
    str, Field(min_length=1, max_length=100, json_schema_extra={"pattern": TEXT_FORM})
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def examples(*bodies: dict[str, Any]) -> ConfigDict:
    """A body's examples in the document: what a shop's developer reads first, and what
    schemathesis mixes into the data it generates."""
    return ConfigDict(json_schema_extra={"examples": list(bodies)})


ERASED: Final = {"system": "crm", "outcome": "erased"}
RETAINED: Final = {
    "system": "accounting",
    "outcome": "retained",
    "legal_basis": "Invoices are kept for ten years under tax law.",
    "retained_until": "2035-12-31",
}


class CreateRequest(Body):
    """A request the shop received elsewhere and verified itself."""

    model_config = examples(
        {"kind": "deletion", "email": "anna@example.org"},
        {"kind": "access", "email": "ben@example.com", "deadline_months": 1},
    )

    kind: Kind
    email: Email
    deadline_months: int | None = Field(default=None, ge=1, le=3)


class Verify(Body):
    deadline_months: int | None = Field(default=None, ge=1, le=3)


class Extend(Body):
    model_config = examples(
        {"months": 1, "reason": "Your data is spread over three systems; we need more time."}
    )

    months: int = Field(ge=1, le=2)
    reason: Reason


class Deny(Body):
    model_config = examples(
        {"reason_code": "no_customer_match", "reason_text": "We hold no account for this address."}
    )

    reason_code: DenialReason
    reason_text: Reason


class Outcome(Body):
    # Data kept needs its legal basis and the date it goes; the domain refuses it without.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"outcome": {"const": "retained"}}, "required": ["outcome"]},
            "then": {
                "required": ["legal_basis", "retained_until"],
                "properties": {
                    "legal_basis": {"type": "string", "pattern": TEXT_FORM},
                    "retained_until": {"type": "string", "format": "date"},
                },
            },
        }
    )

    system: SystemName
    outcome: OutcomeValue
    legal_basis: str | None = Field(default=None, max_length=2000)
    retained_until: date | None = None


class Outcomes(Body):
    model_config = examples({"outcomes": [ERASED]}, {"outcomes": [ERASED, RETAINED]})

    outcomes: list[Outcome] = Field(min_length=1, max_length=100)


class Complete(Body):
    # With the last outcomes (a deletion), or nothing more to say (an access request whose
    # export is uploaded, a deletion whose outcomes were all reported).
    model_config = examples({"outcomes": [ERASED, RETAINED]}, {})

    outcomes: list[Outcome] = Field(default_factory=list, max_length=100)


class SuppressionCheck(Body):
    model_config = examples({"emails": ["anna@example.org", "ben@example.com"]})

    emails: list[Email] = Field(min_length=1, max_length=1000)


# 1 to 65535, as a pattern.
PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"


def _all_events() -> list[EventType]:
    return ["*"]


class CreateEndpoint(Body):
    model_config = examples(
        {"url": "https://shop.example.com/hooks/privacy"},
        {"url": "https://shop.example.com/hooks/verified", "events": ["privacy_request.verified"]},
    )

    url: str = Field(
        max_length=2000,
        # What the form check accepts: http(s), a host, an optional port and path, no
        # credentials; a host that resolves to a private address is still refused (422).
        pattern=r"^https?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:" + PORT + r")?(/[!-~]*)?$",
    )
    events: list[EventType] = Field(default_factory=_all_events, min_length=1)


class RotateSecret(Body):
    model_config = examples({"overlap_hours": 24})

    overlap_hours: float | None = Field(default=None, ge=0, le=24 * 7)


class InboundCall(Body):
    """A signed call from a shop's backend: an action on one of its requests."""

    action: Literal["verify", "start", "extend", "complete", "deny"]
    request_id: str = Field(min_length=1, max_length=40)
    months: int | None = Field(default=None, ge=1, le=2)
    reason: str | None = Field(default=None, max_length=2000)
    reason_code: DenialReason | None = None
    outcomes: list[Outcome] = Field(default_factory=list, max_length=100)


# ---- what the API answers ----


class ExportView(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    downloaded_at: datetime | None

    @classmethod
    def of(cls, export: AccessExport) -> ExportView:
        return cls.model_validate(export, from_attributes=True)


class RequestView(BaseModel):
    id: str
    kind: Kind
    status: Status
    verification: Literal["email", "shop"]
    # The address, while the shop may still read it (see the sealing module).
    email: str | None
    created_at: datetime
    verified_at: datetime | None
    due_at: datetime | None
    deadline: datetime | None
    paused: bool
    extension_months: int
    extension_reason: str | None
    denial_reason_code: DenialReason | None
    denial_reason_text: str | None
    outcomes: list[dict[str, str]] | None
    closed_at: datetime | None
    export: ExportView | None = None

    @classmethod
    def of(
        cls, request: PrivacyRequest, email: str | None, export: AccessExport | None = None
    ) -> RequestView:
        return cls(
            id=request.id,
            kind=request.kind,  # type: ignore[arg-type]
            status=request.status,  # type: ignore[arg-type]
            verification=request.verification,  # type: ignore[arg-type]
            email=email,
            created_at=request.created_at,
            verified_at=request.verified_at,
            due_at=request.due_at,
            deadline=request.deadline,
            paused=request.paused_since is not None,
            extension_months=request.extension_months,
            extension_reason=request.extension_reason,
            denial_reason_code=request.denial_reason_code,  # type: ignore[arg-type]
            denial_reason_text=request.denial_reason_text,
            outcomes=request.outcomes,
            closed_at=request.closed_at,
            export=ExportView.of(export) if export is not None else None,
        )


class RequestPage(BaseModel):
    items: list[RequestView]
    next_cursor: str | None


class SuppressionResult(BaseModel):
    suppressed: list[str]


class EndpointView(BaseModel):
    id: str
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    # Only in the answer that created the endpoint or rotated its secret.
    secret: str | None = None
    previous_secret_valid_until: datetime | None = None

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, *, with_secret: bool = False) -> EndpointView:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            events=endpoint.events,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            created_at=endpoint.created_at,
            secret=endpoint.secret if with_secret else None,
            previous_secret_valid_until=endpoint.previous_valid_until,
        )


class EndpointList(BaseModel):
    items: list[EndpointView]


class DeliveryView(BaseModel):
    id: str
    event_id: str
    event_type: str
    endpoint_id: str
    status: Literal["pending", "delivered", "failed", "dead"]
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, delivery: WebhookDelivery, event_type: str) -> DeliveryView:
        return cls.model_validate(
            {**delivery.model_dump(), "event_type": event_type}, from_attributes=False
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryView]
    next_cursor: str | None


class InboundResult(BaseModel):
    request: RequestView


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


class CoveredPractice(BaseModel):
    practice: str = Field(description="a practice of the taxonomy (indexer/data/taxonomy.toml)")
    sections: list[str] = Field(description="the titles of the sections that cover it")


class MissingDisclosure(BaseModel):
    disclosure: str
    article: str = Field(description="where GDPR art. 13 asks for it, e.g. 13(2)(a)")
    about: str
    where_applicable: bool = Field(
        description="required only when the shop does it (has a DPO, transfers data abroad)"
    )
    practices: list[str] = Field(description="the practices not covered that would disclose it")


class DetailLeftOut(BaseModel):
    """Something customers ask about that the policy speaks around but never gives; the bot
    answers such questions "the policy does not say"."""

    detail: str = Field(description="the detail's id in the indexer's data/details.toml")
    about: str = Field(description="what it is: 'whether you tell customers about a breach'")


class TeachExample(Body):
    """A question customers ask, and the words of the shop's policy that answer it."""

    model_config = examples(
        {
            "question": "Do you keep my card number?",
            "answer": "never your full card number",
        }
    )

    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=16, max_length=2000, description="copied from the policy")


class ExampleAddedView(BaseModel):
    """An example question taught: indexed and served at once."""

    shop: str
    question: str
    answer: str
    passages: int = Field(description="how many passages of the policy hold the answer")
    examples: int = Field(description="the shop's example questions now")
    index_version: int


class TaughtExampleView(BaseModel):
    """One example question of the shop, with the id that takes it out."""

    id: str = Field(description="a hash of the question and answer: stable while both are")
    question: str
    answer: list[str] = Field(description="the policy's words that answer it")


class TaughtExampleList(BaseModel):
    shop: str
    items: list[TaughtExampleView]


class ExampleRemovedView(BaseModel):
    """An example question taken out: indexed and served at once."""

    shop: str
    question: str
    examples: int = Field(description="the shop's example questions left")
    index_version: int


class PolicyCoverageView(BaseModel):
    """What the shop's policy covers, practice by practice, which disclosures GDPR
    art. 13 expects that it lacks, and which details customers ask about it leaves out."""

    shop: str
    index_version: int
    covered: list[CoveredPractice]
    not_covered: list[str]
    missing_disclosures: list[MissingDisclosure]
    details_left_out: list[DetailLeftOut] = Field(default_factory=list)


class SectionPairView(BaseModel):
    translation: str = Field(description="the section's title in the translation")
    original: str = Field(description="the title of the original's section it translates")
    similarity: float


class TranslationAlignment(BaseModel):
    """How a translation's sections line up with its original's."""

    translation: str = Field(description="the translation's document")
    original: str = Field(description="the original's document")
    pairs: list[SectionPairView]
    missing: list[str] = Field(
        description="sections of the original the translation lacks: it is out of date"
    )
    extra: list[str] = Field(description="sections of the translation the original lacks")


class PolicyChangeView(BaseModel):
    """A new version of the shop's policy published, or the previous one restored, with
    the sections that changed (matched by title, numbering ignored)."""

    id: int
    action: Literal["upload", "rollback"]
    language: str | None
    document: str | None
    version: str | None
    previous_version: str | None
    index_version: int
    previous_index_version: int | None
    added: list[str]
    removed: list[str]
    reworded: list[str]
    unchanged: int
    # What the upload check noticed but let through, e.g. addresses hidden as
    # "[email protected]" by the web page the policy was copied from.
    warnings: list[str]
    # The art. 13 check of the policy after the change (null: recorded before the check).
    coverage: PolicyCoverageView | None
    translation_of: str | None = Field(
        description="the original's document, when this document is a translation of it"
    )
    alignments: list[TranslationAlignment] = Field(
        description="an upload's translations aligned to their original: its own (a "
        "translation), or its translations' (an original)"
    )
    created_at: datetime
    announced_at: datetime | None

    @classmethod
    def of(cls, change: PolicyChange) -> PolicyChangeView:
        summary = change.summary
        assert change.id is not None
        return cls(
            id=change.id,
            action="rollback" if change.action == "rollback" else "upload",
            language=change.language,
            document=change.document,
            version=summary.get("version") or None,
            previous_version=summary.get("previous_version"),
            index_version=change.index_version,
            previous_index_version=change.previous_index_version,
            added=list(summary.get("added") or []),
            removed=list(summary.get("removed") or []),
            reworded=list(summary.get("reworded") or []),
            unchanged=int((summary.get("counts") or {}).get("unchanged", 0)),
            warnings=[str(warning) for warning in summary.get("warnings") or []],
            coverage=PolicyCoverageView.model_validate(summary["coverage"])
            if summary.get("coverage")
            else None,
            translation_of=summary.get("translation_of"),
            alignments=[
                TranslationAlignment.model_validate(alignment)
                for alignment in summary.get("alignments") or []
            ],
            created_at=change.created_at,
            announced_at=change.announced_at,
        )


class PolicyChangeList(BaseModel):
    items: list[PolicyChangeView]
