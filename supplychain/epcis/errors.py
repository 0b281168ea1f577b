"""Errors raised while reading EPCIS documents, and the limits of one capture.

Hierarchy (``EPCISError`` derives from ``supplychain.errors.SupplyChainError``, itself a
``ledger.errors.LedgerError``, so the API's one mapping table answers it as before)::

    EPCISError
    ├── EPCISValidationError   one problem: event index (None: document level), field, reason
    ├── EPCISDocumentError     every problem of one document; nothing of it was accepted
    ├── TooManyEventsError     more events than one capture accepts (limit, actual)
    ├── DocumentTooLargeError  more bytes than one capture accepts, refused before parsing
    └── TooManyReadingsError   more sensor readings in all than one capture accepts
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from supplychain.errors import SupplyChainError

__all__ = [
    "CaptureLimits",
    "DocumentTooLargeError",
    "EPCISDocumentError",
    "EPCISError",
    "EPCISValidationError",
    "TooManyEventsError",
    "TooManyReadingsError",
]


class EPCISError(SupplyChainError):
    """Root of the errors raised while reading EPCIS documents."""


class EPCISValidationError(EPCISError):
    """One problem in an EPCIS document: the event index (None: document level) and field."""

    def __init__(self, *, index: int | None, field: str, reason: str) -> None:
        self.index = index
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def __repr__(self) -> str:
        return (
            f"EPCISValidationError(index={self.index!r}, field={self.field!r}, "
            f"reason={self.reason!r})"
        )


class EPCISDocumentError(EPCISError):
    """Every problem found in one EPCIS document; nothing of the document was accepted."""

    def __init__(self, errors: list[EPCISValidationError]) -> None:
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"{len(self.errors)} error(s) in EPCIS document: {shown}{more}")


class TooManyEventsError(EPCISError):
    """A document with more events than one capture accepts (limit, actual); split it."""

    def __init__(self, *, limit: int, actual: int) -> None:
        self.limit = limit
        self.actual = actual
        super().__init__(
            f"the document has {actual} events; one capture accepts at most {limit}: "
            "send the rest in further documents"
        )


class DocumentTooLargeError(EPCISError):
    """A document over the byte limit (limit, actual), refused before it is parsed."""

    def __init__(self, *, limit: int, actual: int) -> None:
        self.limit = limit
        self.actual = actual
        super().__init__(
            f"the document is {actual} bytes; one capture accepts at most {limit}: "
            "send the rest in further documents"
        )


class TooManyReadingsError(EPCISError):
    """A document with more sensor readings in all than one capture accepts (limit, actual)."""

    def __init__(self, *, limit: int, actual: int) -> None:
        self.limit = limit
        self.actual = actual
        super().__init__(
            f"the document has {actual} sensor readings; one capture accepts at most {limit}: "
            "send the rest in further documents"
        )


@dataclass(frozen=True, slots=True)
class CaptureLimits:
    """What one capture accepts: events, bytes and sensor readings per document; clock skew.

    Reading an event costs tens of microseconds per sensor reading and a few hundred bytes of
    memory per JSON value, so bytes and readings bound a document's parse time and memory
    where the event count alone does not (1,000 events of 1,000 readings each: 57.5 MB).
    ``None``: no limit.
    """

    max_events: int = 1000
    max_bytes: int | None = None
    max_readings: int | None = None
    # Two parties' clocks disagree by seconds to minutes; an event hours ahead is a bad clock
    # or a typing error, and would reorder custody if accepted.
    max_clock_skew: timedelta = timedelta(minutes=5)


class _Errors:
    """Collector so that one pass reports every problem of a document."""

    def __init__(self) -> None:
        self.items: list[EPCISValidationError] = []

    def add(self, index: int | None, field: str, reason: str) -> None:
        self.items.append(EPCISValidationError(index=index, field=field, reason=reason))

    def __len__(self) -> int:
        return len(self.items)
