"""The pseudonym under which the backend knows a Telegram user.

Keyed, so that someone holding the database but not the key cannot recompute
pseudonyms from Telegram ids (which are few enough to enumerate).
"""

import hashlib
import hmac


def pseudonym_for(telegram_user_id: int, key: bytes) -> str:
    """64 hex characters, the same for the same user and key, on every start."""
    message = f"telegram:{telegram_user_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
