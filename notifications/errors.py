"""Errors of the notifications package; every one derives from ``NotificationsError``.

NotificationsError
├── InvalidRelaySettingError     a relay setting is unusable (key, reason)
├── NaiveDatetimeError           a time without a UTC offset reached the outbox (name)
├── InvalidEventError            an outbox payload is not JSON (event_type, reason)
├── UnknownDeliveryError         no outbox row has this delivery id (delivery_id)
├── DeliveryNotDeadError         only dead-lettered rows are redelivered (delivery_id, status)
└── WebhookSignatureError        a signature header does not verify (reason)
    ├── MalformedSignatureError       the header cannot be parsed
    ├── StaleSignatureError           its timestamp is outside the tolerance (timestamp, now)
    └── SignatureMismatchError        no v1 signature matches the body

``api.problems`` answers these as it answered them when they were claims errors (422
``claim-error``): moving the outbox into a package of its own changed no HTTP answer.
"""

from __future__ import annotations

__all__ = [
    "DeliveryNotDeadError",
    "InvalidEventError",
    "InvalidRelaySettingError",
    "MalformedSignatureError",
    "NaiveDatetimeError",
    "NotificationsError",
    "SignatureMismatchError",
    "StaleSignatureError",
    "UnknownDeliveryError",
    "WebhookSignatureError",
]


class NotificationsError(Exception):
    """Root of every error the notifications package raises."""


class InvalidRelaySettingError(NotificationsError):
    """A relay setting (secret, attempts, delays, timeout) is unusable."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"relay setting {key!r}: {reason}")


class NaiveDatetimeError(NotificationsError):
    """A datetime without a UTC offset; the relay's queue needs absolute times."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.reason = f"{name} needs a UTC offset"
        super().__init__(self.reason)


class InvalidEventError(NotificationsError):
    """An event payload cannot be written as canonical JSON."""

    def __init__(self, event_type: str, reason: str) -> None:
        self.event_type = event_type
        self.reason = reason
        super().__init__(f"event {event_type!r}: {reason}")


class UnknownDeliveryError(NotificationsError):
    """No outbox row has this delivery id."""

    def __init__(self, delivery_id: str) -> None:
        self.delivery_id = delivery_id
        super().__init__(f"no delivery {delivery_id!r}")


class DeliveryNotDeadError(NotificationsError):
    """Only a dead-lettered delivery can be put back in the queue."""

    def __init__(self, delivery_id: str, status: str) -> None:
        self.delivery_id = delivery_id
        self.status = status
        super().__init__(f"delivery {delivery_id!r} is {status}, not dead")


class WebhookSignatureError(NotificationsError):
    """A webhook signature header is missing, malformed, stale or wrong."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"webhook signature rejected: {reason}")


class MalformedSignatureError(WebhookSignatureError):
    """The signature header cannot be parsed."""

    def __init__(self, header: str) -> None:
        self.header = header
        super().__init__("malformed header")


class StaleSignatureError(WebhookSignatureError):
    """The signed timestamp is too far from now: a replay, or a badly wrong clock."""

    def __init__(self, timestamp: int, now: int, tolerance_s: int) -> None:
        self.timestamp = timestamp
        self.now = now
        self.tolerance_s = tolerance_s
        super().__init__(f"timestamp {timestamp} is more than {tolerance_s} s from now ({now})")


class SignatureMismatchError(WebhookSignatureError):
    """No v1 signature in the header matches the body and secret."""

    def __init__(self) -> None:
        super().__init__("signature does not match the body")
