"""Privacy requests (unsubscribe, access, deletion): their lifecycle, verification by an
e-mail one-time code, legal deadlines, marketing suppression, audit trail and retention.

Every function takes the session of the caller's unit of work first, so that a change,
its audit events (and later its outbox event) commit together or not at all. The one
exception is `mail_code`, which sends a code after its transaction has committed.
"""

from backend.privacy_requests.audit_export import audit_trail_csv
from backend.privacy_requests.codes import CodeMail, mail_code
from backend.privacy_requests.deadlines import add_months
from backend.privacy_requests.errors import (
    CodeSendLimitError,
    ExtensionLimitError,
    IllegalTransitionError,
    InvalidRequestError,
    MailNotSentError,
    NotAwaitingVerificationError,
    PrivacyRequestError,
    RequestLimitError,
    RequestNotFoundError,
    ResendTooSoonError,
    StateConflictError,
)
from backend.privacy_requests.fulfilment import (
    cancel,
    complete,
    deny,
    extend,
    get_request,
    pause,
    resume,
    start_work,
)
from backend.privacy_requests.housekeeping import (
    erase_sealed_emails,
    expire_unverified,
    purge_closed,
    purge_idempotency_records,
)
from backend.privacy_requests.intake import (
    StartedRequest,
    Verification,
    get_customer_request,
    list_requests_for,
    resend_code,
    start_request,
    verify_code,
)
from backend.privacy_requests.lifecycle import TRANSITIONS, transition
from backend.privacy_requests.mail import (
    ConsoleMailSender,
    MailSender,
    SmtpMailSender,
    mail_sender_from_settings,
)
from backend.privacy_requests.reminders import send_reminders
from backend.privacy_requests.settings import (
    PrivacyRequestSettings,
    RequestRules,
    SmtpSettings,
    rules_from_environment,
)
from backend.privacy_requests.suppression import is_suppressed

__all__ = [
    "TRANSITIONS",
    "CodeMail",
    "CodeSendLimitError",
    "ConsoleMailSender",
    "ExtensionLimitError",
    "IllegalTransitionError",
    "InvalidRequestError",
    "MailNotSentError",
    "MailSender",
    "NotAwaitingVerificationError",
    "PrivacyRequestError",
    "PrivacyRequestSettings",
    "RequestLimitError",
    "RequestNotFoundError",
    "RequestRules",
    "ResendTooSoonError",
    "SmtpMailSender",
    "SmtpSettings",
    "StartedRequest",
    "StateConflictError",
    "Verification",
    "add_months",
    "audit_trail_csv",
    "cancel",
    "complete",
    "deny",
    "erase_sealed_emails",
    "expire_unverified",
    "extend",
    "get_customer_request",
    "get_request",
    "is_suppressed",
    "list_requests_for",
    "mail_code",
    "mail_sender_from_settings",
    "pause",
    "purge_closed",
    "purge_idempotency_records",
    "resend_code",
    "resume",
    "rules_from_environment",
    "send_reminders",
    "start_request",
    "start_work",
    "transition",
    "verify_code",
]
