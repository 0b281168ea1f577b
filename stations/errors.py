"""Errors of the stations package; every one derives from ``StationsError``.

StationsError
├── BatchConflictError           the station used this batch id with other content (batch_id)
├── InvalidGradeError            a person's grade is unacceptable (field, reason)
├── UnknownStationItemError      no station item waits for a person here (batch_id, position)
├── AmbiguousStationItemError    several stations used the batch id: say whose (.., stations)
└── StationItemGradedError       a person graded that item already (batch_id, position, by)
"""

from __future__ import annotations

__all__ = [
    "AmbiguousStationItemError",
    "BatchConflictError",
    "InvalidGradeError",
    "StationItemGradedError",
    "StationsError",
    "UnknownStationItemError",
]


class StationsError(Exception):
    """Root of every error the stations package raises."""


class BatchConflictError(StationsError):
    """The station sent this batch id before with other content: the first batch stands."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        # The wording clients have always read for a reused batch id (the claims' own
        # Idempotency-Key conflict says the same): the problem's detail must not change.
        super().__init__(f"Idempotency-Key {batch_id!r} was used with a different request")


class InvalidGradeError(StationsError):
    """A person's grade of a station item is missing or unacceptable."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


class AmbiguousStationItemError(StationsError):
    """Several stations left an item at this batch id and position: a batch id is a
    station's own, so the caller names the station."""

    def __init__(self, batch_id: str, position: int, stations: tuple[str, ...]) -> None:
        self.batch_id, self.position, self.stations = batch_id, position, stations
        self.reason = (
            f"stations {', '.join(stations)} each left item {position} of a batch "
            f"{batch_id!r}: name one with ?station_id="
        )
        super().__init__(self.reason)


class UnknownStationItemError(StationsError):
    """No station item left to people at this batch and position."""

    def __init__(self, batch_id: str, position: int) -> None:
        self.batch_id, self.position = batch_id, position
        self.reason = f"no item {position} of batch {batch_id!r} waits for a person's grade"
        super().__init__(self.reason)


class StationItemGradedError(StationsError):
    """The station item was graded by a person already; its event is on the ledger."""

    def __init__(self, batch_id: str, position: int, graded_by: str) -> None:
        self.batch_id, self.position, self.graded_by = batch_id, position, graded_by
        self.reason = f"item {position} of batch {batch_id!r} was graded already by {graded_by}"
        super().__init__(self.reason)
