"""What can go wrong with a privacy request, as errors the caller turns into a message.

Every message is safe to show or log: it names request ids and statuses, never an e-mail
address, a code or a pseudonym.
"""

from __future__ import annotations


class PrivacyRequestError(Exception):
    """A privacy request could not be started or changed as asked."""


class RequestNotFoundError(PrivacyRequestError):
    """No such request for this customer or shop.

    Raised alike for a request that does not exist and for someone else's, so that the
    answer tells nobody whether another person's request exists.
    """

    def __init__(self, request_id: str) -> None:
        super().__init__(f"privacy request {request_id!r} not found")
        self.request_id = request_id


class IllegalTransitionError(PrivacyRequestError):
    def __init__(self, request_id: str, from_status: str, to_status: str) -> None:
        super().__init__(
            f"privacy request {request_id} cannot go from {from_status!r} to {to_status!r}"
        )
        self.request_id = request_id
        self.from_status = from_status
        self.to_status = to_status


class StateConflictError(PrivacyRequestError):
    """The ask is well formed, but the request as it now stands does not allow it (an API
    answers 409): asked again later, or after another change, it may be accepted."""


class ExtensionLimitError(StateConflictError):
    """The request already has as much extension as the law allows (two months in all)."""

    def __init__(self, request_id: str, extension_months: int) -> None:
        super().__init__(
            f"privacy request {request_id} is already extended by {extension_months} "
            "month(s); two months in all is the most the law allows"
        )
        self.request_id = request_id


class InvalidRequestError(PrivacyRequestError):
    """An argument the domain does not accept: an unknown kind, a malformed e-mail address,
    a denial without a reason, an extension too long."""


class RequestLimitError(PrivacyRequestError):
    def __init__(self, limit: int, period_days: int) -> None:
        super().__init__(f"at most {limit} requests in {period_days} days")
        self.limit = limit
        self.period_days = period_days


class NotAwaitingVerificationError(PrivacyRequestError):
    def __init__(self, request_id: str, status: str) -> None:
        super().__init__(f"privacy request {request_id} is {status}, not awaiting a code")
        self.request_id = request_id
        self.status = status


class ResendTooSoonError(PrivacyRequestError):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"a new code can be sent in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class CodeSendLimitError(PrivacyRequestError):
    def __init__(self, request_id: str) -> None:
        super().__init__(f"no more codes are sent for privacy request {request_id}")
        self.request_id = request_id


class MailNotSentError(PrivacyRequestError):
    """The code could not be handed to the mail server; nothing was stored."""
