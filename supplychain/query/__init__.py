"""The EPCIS 2.0 query interface over captured events (issue 26).

One concern a module: ``errors`` (the standard's query exceptions), ``index`` (what capture
writes for the query to filter on), ``params`` (the URL's query parameters read into a
query), ``scope`` (which events a caller may read: the lots its parties took part in),
``cursor`` (signed ``nextPageToken``), ``search`` (a page of events and the query document).
"""

from __future__ import annotations

from supplychain.query.errors import (
    NoSuchNameError,
    NotYourLotError,
    QueryError,
    QueryParameterError,
    QueryTooLargeError,
)
from supplychain.query.params import EVENT_TYPES, EventQuery, read_query
from supplychain.query.scope import Scope
from supplychain.query.search import PER_PAGE_DEFAULT, EventPage, query_document, search_events

__all__ = [
    "EVENT_TYPES",
    "PER_PAGE_DEFAULT",
    "EventPage",
    "EventQuery",
    "NoSuchNameError",
    "NotYourLotError",
    "QueryError",
    "QueryParameterError",
    "QueryTooLargeError",
    "Scope",
    "query_document",
    "read_query",
    "search_events",
]
