"""Keyed hashes: how an e-mail address and a one-time code are kept, since neither is
kept as it is.

Both keys are derived from the one server key, each for its own purpose, so that a hash of
one kind can never stand in for the other.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from email_validator import EmailNotValidError, validate_email

from backend.privacy_requests.errors import InvalidRequestError

EMAIL_MAX_CHARS = 254  # RFC 5321's limit for a forward path


def _purpose_key(server_key: bytes, purpose: str) -> bytes:
    return hmac.new(server_key, f"privacy-requests/{purpose}".encode(), hashlib.sha256).digest()


def normalise_email(email: str) -> str:
    """The address as compared: trimmed, NFKC, lower-case; InvalidRequestError if it cannot be one.

    `email-validator` (deliverability checks off: no DNS from here) decides what an address
    is: it refuses control, bidirectional and zero-width characters, spaces, a domain
    without a dot, and over-long parts, all of which a hand-written check let through.

    Lower-casing the local part is strictly wrong by RFC 5321, but no mail provider a shop
    deals with tells `Anna@` from `anna@`, and a customer typing it either way is the same
    person whose objection must keep being honoured.
    """
    address = unicodedata.normalize("NFKC", email).strip()
    if len(address) > EMAIL_MAX_CHARS:
        raise InvalidRequestError("not an e-mail address")
    try:
        valid = validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidRequestError("not an e-mail address") from error
    return str(valid.normalized).lower()


def email_hash(server_key: bytes, email: str) -> str:
    """The keyed hash of the normalised `email`: equal for the same address, and useless
    to anyone holding the database without the key."""
    address = normalise_email(email)
    return hmac.new(_purpose_key(server_key, "email"), address.encode(), hashlib.sha256).hexdigest()


def code_hash(server_key: bytes, request_id: str, code: str) -> str:
    """The keyed hash of a one-time code, bound to its request so that it is worth nothing
    for any other."""
    message = f"{request_id}:{code}".encode()
    return hmac.new(_purpose_key(server_key, "code"), message, hashlib.sha256).hexdigest()
