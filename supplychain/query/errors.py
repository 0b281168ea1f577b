"""The EPCIS query's exceptions, named as EPCIS 2.0 §8.2.7 names them.

Hierarchy::

    SupplyChainError                 (supplychain.errors)
    └── QueryError
        ├── QueryParameterError      QueryParameterException: a parameter is unknown,
        │                            unsupported, malformed, or repeated
        ├── QueryTooLargeError       QueryTooLargeException: more events match than
        │                            ``maxEventCount`` allows
        └── NoSuchNameError          NoSuchNameException: no such event type (path)
    NotYourLotError                  a supply-chain key asked for a lot none of its parties
                                     took part in (``supplychain.query.scope``)
"""

from __future__ import annotations

from collections.abc import Collection

from supplychain.errors import SupplyChainError

__all__ = [
    "NoSuchNameError",
    "NotYourLotError",
    "QueryError",
    "QueryParameterError",
    "QueryTooLargeError",
]


class QueryError(SupplyChainError):
    """An EPCIS query is refused; ``exception`` is the standard's name for why."""

    exception = "QueryException"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class QueryParameterError(QueryError):
    """A query parameter is unknown, unsupported, malformed or given twice (``parameter``)."""

    exception = "QueryParameterException"

    def __init__(self, parameter: str, reason: str) -> None:
        self.parameter = parameter
        super().__init__(f"{parameter}: {reason}")


class QueryTooLargeError(QueryError):
    """More events match than the query allows (``maxEventCount``)."""

    exception = "QueryTooLargeException"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"more than {limit} events match (maxEventCount={limit}); narrow the query, or "
            "page through it with perPage and nextPageToken without maxEventCount"
        )


class NoSuchNameError(QueryError):
    """The path names an event type that does not exist (``name``)."""

    exception = "NoSuchNameException"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no event type {name!r}")


class NotYourLotError(SupplyChainError):
    """A key asked for the records of a lot none of its parties took part in."""

    def __init__(self, lot: str, parties: Collection[str]) -> None:
        self.lot, self.parties = lot, tuple(sorted(parties))
        self.reason = (
            f"no record of lot {lot} names {', '.join(self.parties) or 'any party of this key'} "
            "as a sender, receiver or holder, nor was captured for one: a supply-chain key reads "
            "only the lots its parties took part in"
        )
        super().__init__(self.reason)
