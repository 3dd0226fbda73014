"""Pseudonymous keys: the only form in which a person is ever stored.

Votes are political opinions and therefore sensitive personal data. Storage never sees a raw
Telegram user id: callers pass a keyed HMAC of it (`pseudonymize`), and a key that looks like a
raw numeric id is rejected (`check_user_key`).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

USER_KEY_MAX_LENGTH: Final = 64


def pseudonymize(secret: str, user_id: int) -> str:
    """Return the pseudonymous key for a Telegram user id: hex HMAC-SHA256(secret, str(user_id)).

    The key is stable for a given secret and cannot be mapped back to the id without the secret.
    Telegram ids are low-entropy, so the protection rests entirely on keeping ``secret`` secret.
    """
    if not secret:
        raise ValueError("the pseudonymization secret must not be empty")
    return hmac.new(
        secret.encode("utf-8"), str(user_id).encode("ascii"), hashlib.sha256
    ).hexdigest()


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


def check_user_key(user_key: str) -> None:
    if not isinstance(user_key, str) or not user_key:
        raise ValueError("user_key must be a non-empty string")
    if len(user_key) > USER_KEY_MAX_LENGTH:
        raise ValueError(f"user_key must be at most {USER_KEY_MAX_LENGTH} characters")
    if user_key.lstrip("-").isdigit():
        # Guard against a handler passing the raw Telegram id by mistake.
        raise ValueError("user_key looks like a raw user id; pass pseudonymize(secret, user_id)")
