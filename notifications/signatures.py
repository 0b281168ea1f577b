"""Webhook signatures, signed the way Stripe signs its webhooks.

A delivery carries ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` in
``Freshproof-Signature``; receivers check it with ``verify_signature`` and deduplicate on
``Freshproof-Delivery-Id``, which stays the same across retries.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from notifications.errors import (
    MalformedSignatureError,
    SignatureMismatchError,
    StaleSignatureError,
)
from notifications.times import as_utc

__all__ = [
    "DELIVERY_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "Freshproof-Signature"
DELIVERY_ID_HEADER = "Freshproof-Delivery-Id"
EVENT_TYPE_HEADER = "Freshproof-Event-Type"


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(*, secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``Freshproof-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify_signature(
    *, secret: bytes, header: str, body: bytes, now: datetime, tolerance_s: int = 300
) -> None:
    """For receivers: return if ``header`` signs ``body``, else raise a signature error.

    Several ``v1`` entries are allowed (a sender rotating secrets signs with both); the
    timestamp must be within ``tolerance_s`` of ``now`` either way, to refuse replays.
    """
    timestamp: int | None = None
    given: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise MalformedSignatureError(header)
        if key == "t":
            if timestamp is not None or not value.isdigit():
                raise MalformedSignatureError(header)
            timestamp = int(value)
        elif key == "v1":
            given.append(value)
        # Other schemes (v0, future ones) are ignored, as Stripe's receivers do.
    if timestamp is None or not given:
        raise MalformedSignatureError(header)
    current = int(as_utc(now, "now").timestamp())
    if abs(current - timestamp) > tolerance_s:
        raise StaleSignatureError(timestamp, current, tolerance_s)
    expected = _mac(secret, timestamp, body)
    # compare_digest on every candidate: no early exit that leaks which one nearly matched.
    if not any([hmac.compare_digest(expected, g) for g in given]):
        raise SignatureMismatchError()
