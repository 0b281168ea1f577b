"""Answer an EPCIS query a page at a time: filters and visibility in SQL, then the page's
events read back from the ledger as they were captured.

Only the events of one page are read from the log (``perPage``, at most the server's
maximum); every filter runs on the query index (``supplychain.query.index``), so the cost
of a page does not grow with the events the query skips over as parsing the lots' entries
would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from ledger.record import parse_record
from ledger.schema import entries_table
from supplychain.epcis.build import EPCIS_CONTEXT
from supplychain.projections import event_sensors, event_values, events
from supplychain.query.cursor import PageToken, read_token
from supplychain.query.errors import NoSuchNameError, QueryParameterError, QueryTooLargeError
from supplychain.query.index import identity_field
from supplychain.query.params import EVENT_TYPES, EventQuery, Match, SensorBound, read_query
from supplychain.query.scope import Scope, visible

__all__ = ["PER_PAGE_DEFAULT", "EventPage", "query_document", "search_events"]

PER_PAGE_DEFAULT = 30
"""The REST binding's default ``perPage``."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_e = events.c
_entry = entries_table.c


@dataclass(frozen=True)
class EventPage:
    """One page of a query's events (as captured, with ``recordTime``) and the next token."""

    events: tuple[dict[str, Any], ...]
    next_token: str | None
    per_page: int


def _utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes for a timezone-aware column; they were written in UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _micros(at: datetime) -> int:
    return (_utc(at) - _EPOCH) // timedelta(microseconds=1)


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _match(m: Match) -> ColumnElement[bool]:
    # An IN over the index, not a correlated EXISTS: a selective filter (one lot's EPC)
    # then drives the query from the (field, value) index instead of a scan of all events.
    # An IN, too, is what keeps an event that matches by several values or forms once.
    v = aliased(event_values)
    said = [v.c.value.in_(m.exact)] if m.exact else []
    said += [v.c.value.like(_like(p), escape="\\") for p in m.prefixes]
    found = and_(v.c.field.in_(m.fields), or_(*said))
    if m.identities:
        beside = [identity_field(f) for f in m.fields]
        found = or_(found, and_(v.c.field.in_(beside), v.c.value.in_(m.identities)))
    return _e.hash_id.in_(select(v.c.hash_id).where(found))


def _sensor(b: SensorBound) -> ColumnElement[bool]:
    s = aliased(event_sensors)
    compare = {
        "GT": s.c.high > b.value,
        "GE": s.c.high >= b.value,
        "LT": s.c.low < b.value,
        "LE": s.c.low <= b.value,
    }[b.op]
    return exists().where(
        and_(s.c.hash_id == _e.hash_id, s.c.field == b.field, s.c.uom == b.uom, compare)
    )


def _conditions(query: EventQuery, scope: Scope) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = [visible(scope, _e.hash_id)]
    if query.event_types is not None:
        out.append(_e.event_type.in_(query.event_types))
    low, high = query.event_time
    if low is not None:
        out.append(_e.event_time >= low)
    if high is not None:
        out.append(_e.event_time < high)
    low, high = query.record_time
    if low is not None:
        out.append(_entry.created_at >= low)
    if high is not None:
        out.append(_entry.created_at < high)
    if query.biz_steps is not None:
        out.append(_e.biz_step.in_(query.biz_steps))
    if query.dispositions is not None:
        out.append(_e.disposition.in_(query.dispositions))
    out += [_match(m) for m in query.matches]
    out += [_sensor(b) for b in query.sensors]
    return out


def _select(query: EventQuery, scope: Scope) -> Select[Any]:
    base = select(_e.hash_id, _e.ledger_idx, _e.event_time)
    if query.record_time != (None, None):
        base = base.join(entries_table, _entry.idx == _e.ledger_idx)
    return base.where(*_conditions(query, scope))


def _after(query: EventQuery, after: tuple[int | None, int]) -> ColumnElement[bool]:
    """The keyset condition: strictly past the last event served, in the query's order."""
    event_us, index = after
    if query.order_by == "recordTime" or event_us is None:
        return _e.ledger_idx < index if query.descending else _e.ledger_idx > index
    at = _EPOCH + timedelta(microseconds=event_us)
    if query.descending:
        return or_(_e.event_time < at, and_(_e.event_time == at, _e.ledger_idx < index))
    return or_(_e.event_time > at, and_(_e.event_time == at, _e.ledger_idx > index))


def _order(query: EventQuery) -> list[Any]:
    keys = [_e.ledger_idx] if query.order_by == "recordTime" else [_e.event_time, _e.ledger_idx]
    return [k.desc() for k in keys] if query.descending else list(keys)


def _read(conn: Any, indices: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The captured events at these ledger indices, each with its ``recordTime``."""
    rows = conn.execute(
        select(_entry.idx, _entry.record, _entry.created_at).where(_entry.idx.in_(indices))
    )
    out = {}
    for r in rows:
        body = parse_record(bytes(r.record), index=r.idx).body
        event = dict(body["event"])
        event.setdefault("eventID", body["hash_id"])
        event["recordTime"] = _utc(r.created_at).isoformat().replace("+00:00", "Z")
        out[r.idx] = event
    return out


def search_events(
    *,
    engine: Engine,
    params: Iterable[tuple[str, str]],
    scope: Scope,
    secret: bytes,
    event_type: str | None = None,
    per_page_max: int = 1000,
) -> EventPage:
    """One page of the events the query selects that the scope may read.

    ``params`` are the URL's query parameters (EPCIS 2.0 §8.2.7.1, ``supplychain.query.params``);
    ``event_type`` the one a ``/eventTypes/{eventType}/events`` path names. ``perPage``
    above ``per_page_max`` gets ``per_page_max`` (the REST binding lets a server cap it).
    Raises ``QueryParameterError`` (a bad parameter or token), ``QueryTooLargeError`` (more
    than ``maxEventCount`` match) or ``NoSuchNameError`` (no such event type in the path).
    """
    if event_type is not None and event_type not in EVENT_TYPES:
        raise NoSuchNameError(event_type)
    query = read_query(params, event_type=event_type)
    served = 0
    after: tuple[int | None, int] | None = None
    if query.page_token is not None:
        token = read_token(query.page_token, secret=secret, scope=scope.fingerprint)
        if query.params and query.params != token.params:
            raise QueryParameterError(
                "nextPageToken", "belongs to another query: send it with the same parameters"
            )
        query = replace(read_query(token.params, event_type=event_type), per_page=query.per_page)
        served, after = token.served, token.after
    size = min(query.per_page or PER_PAGE_DEFAULT, per_page_max)
    if query.event_count_limit is not None:
        size = min(size, query.event_count_limit - served)
    with engine.connect() as conn:
        if query.max_event_count is not None and after is None:
            probe = _select(query, scope).limit(query.max_event_count + 1).subquery()
            if conn.execute(select(func.count()).select_from(probe)).scalar_one() > (
                query.max_event_count
            ):
                raise QueryTooLargeError(query.max_event_count)
        stmt = _select(query, scope)
        if after is not None:
            stmt = stmt.where(_after(query, after))
        rows = list(conn.execute(stmt.order_by(*_order(query)).limit(size + 1))) if size else []
        page, more = rows[:size], len(rows) > size
        captured = _read(conn, [r.ledger_idx for r in page])
    found = tuple(captured[r.ledger_idx] for r in page)
    served += len(found)
    if query.event_count_limit is not None and served >= query.event_count_limit:
        more = False
    next_token = None
    if more:
        last = page[-1]
        next_token = PageToken(
            params=query.params,
            scope=scope.fingerprint,
            order_by=query.order_by,
            descending=query.descending,
            after=(_micros(last.event_time), last.ledger_idx),
            served=served,
        ).encode(secret)
    return EventPage(found, next_token, size)


def query_document(page: EventPage, *, now: datetime) -> dict[str, Any]:
    """The page as an EPCIS 2.0 ``EPCISQueryDocument`` (the SimpleEventQuery's results)."""
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {"eventList": list(page.events)},
            }
        },
    }
