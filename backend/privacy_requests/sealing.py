"""The e-mail address of a request, kept encrypted for the shop that must act on it.

The keyed hash (`hashing.email_hash`) is what the backend compares; the shop, though, has
to find the customer in its own systems and needs the address itself. It is sealed with
AES-GCM under a key derived from the server key, bound to the request id (a sealed value
copied onto another request does not open), and erased a while after the request closes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
NONCE_BYTES = 12


class SealBrokenError(ValueError):
    """The sealed value does not open with this key for this request."""


def _sealing_key(server_key: bytes) -> bytes:
    return hmac.new(server_key, b"privacy-requests/seal-email", hashlib.sha256).digest()


def seal(server_key: bytes, request_id: str, email: str) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(_sealing_key(server_key)).encrypt(nonce, email.encode(), request_id.encode())
    return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def unseal(server_key: bytes, request_id: str, sealed: str) -> str:
    version, _, encoded = sealed.partition(".")
    if version != VERSION:
        raise SealBrokenError(f"unknown seal version {version!r}")
    try:
        raw = base64.urlsafe_b64decode(encoded.encode("ascii"))
        opened = AESGCM(_sealing_key(server_key)).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], request_id.encode()
        )
    except (InvalidTag, ValueError) as exc:
        raise SealBrokenError("the sealed address does not open") from exc
    return opened.decode()
