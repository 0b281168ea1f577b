"""Reading a whole EPCIS 2.0 JSON/JSON-LD document: limits, header, then every event.

`parse_document` collects every problem into one `EPCISDocumentError` and otherwise returns
the document's frozen `CaptureEvent` views, each carrying its event hash id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from supplychain import strict_json
from supplychain.epcis.errors import (
    CaptureLimits,
    DocumentTooLargeError,
    EPCISDocumentError,
    TooManyEventsError,
    TooManyReadingsError,
    _Errors,
)
from supplychain.epcis.eventhash import canonical_number
from supplychain.epcis.timestamps import parse_datetime
from supplychain.epcis.validate import is_number, read_event
from supplychain.epcis.views import EPCISDocument
from supplychain.epcis.vocabulary import context_prefixes

__all__ = ["parse_document"]


def _load(doc: Mapping[str, Any] | bytes | str, errors: _Errors) -> Mapping[str, Any] | None:
    """Decode `doc` into a JSON object, recording why not.

    Bytes and text go through the one strict reader (``supplychain.strict_json``): duplicate keys
    would let two readers see different events behind one hash; NaN is not JSON.
    """
    if isinstance(doc, Mapping):
        return doc
    if not isinstance(doc, bytes | bytearray | str):
        errors.add(None, "$", f"expected a JSON object, bytes or str, got {type(doc).__name__}")
        return None
    try:
        data = strict_json.loads(doc)
    except strict_json.InvalidJSONError as exc:
        plain = exc.fault in ("encoding", "syntax")  # already says "not UTF-8" / "not JSON"
        errors.add(None, "$", exc.reason if plain else f"not JSON: {exc.reason}")
        return None
    if not isinstance(data, dict):
        errors.add(None, "$", f"expected a JSON object, got {type(data).__name__}")
        return None
    return data


def _count_readings(event_list: list[Any]) -> int:
    """Sensor reports in all events, counted as they stand (the event reader checks them)."""
    total = 0
    for event in event_list:
        elements = event.get("sensorElementList") if isinstance(event, dict) else None
        for element in elements if isinstance(elements, list) else ():
            reports = element.get("sensorReport") if isinstance(element, dict) else None
            total += len(reports) if isinstance(reports, list) else 0
    return total


def parse_document(
    doc: Mapping[str, Any] | bytes | str,
    *,
    limits: CaptureLimits | None = None,
    now: datetime | None = None,
) -> EPCISDocument:
    """Validate an EPCIS 2.0 JSON/JSON-LD document; raise `EPCISDocumentError` with all errors.

    With ``limits``, a document over ``max_bytes`` raises `DocumentTooLargeError` before it
    is decoded, one over ``max_events`` `TooManyEventsError` and one over ``max_readings``
    (sensor reports of all events together) `TooManyReadingsError` before any event is read;
    with ``now`` an event later than ``now`` plus the clock skew (the
    limits', else the default 5 minutes) is an error.
    """
    errors = _Errors()
    if limits is not None and limits.max_bytes is not None and isinstance(doc, bytes | str):
        size = len(doc) if isinstance(doc, bytes) else len(doc.encode("utf-8", "surrogatepass"))
        if size > limits.max_bytes:
            raise DocumentTooLargeError(limit=limits.max_bytes, actual=size)
    data = _load(doc, errors)
    if data is None:
        raise EPCISDocumentError(errors.items)

    doc_type = data.get("type")
    if doc_type is None:
        errors.add(None, "type", "missing")
    elif doc_type != "EPCISDocument":
        errors.add(None, "type", f"expected 'EPCISDocument', got {doc_type!r}")
    if "@context" not in data:
        errors.add(None, "@context", "missing")
    version = data.get("schemaVersion")
    # JSON writers emit 2.0 as a number or a string; both mean the same version.
    schema_version = (
        canonical_number(version)
        if isinstance(version, int | float) and is_number(version)
        else version
    )
    if schema_version == "2":
        schema_version = "2.0"
    if version is None:
        errors.add(None, "schemaVersion", "missing")
    elif not isinstance(schema_version, str) or not re.match(r"^2(\.\d+)+$", schema_version):
        errors.add(None, "schemaVersion", f"{version!r} is not an EPCIS 2.x schema version")
    creation = None
    if "creationDate" not in data:
        errors.add(None, "creationDate", "missing")
    else:
        creation, reason = parse_datetime(data["creationDate"])
        if creation is None:
            errors.add(None, "creationDate", str(reason))

    body = data.get("epcisBody")
    event_list: list[Any] = []
    if not isinstance(body, dict):
        errors.add(None, "epcisBody", "missing" if body is None else "not an object")
    elif "eventList" not in body:
        errors.add(None, "epcisBody.eventList", "missing")
    elif not isinstance(body["eventList"], list):
        errors.add(None, "epcisBody.eventList", "not a list")
    else:
        event_list = body["eventList"]

    if limits is not None and len(event_list) > limits.max_events:
        raise TooManyEventsError(limit=limits.max_events, actual=len(event_list))
    if limits is not None and limits.max_readings is not None:
        readings = _count_readings(event_list)
        if readings > limits.max_readings:
            raise TooManyReadingsError(limit=limits.max_readings, actual=readings)
    skew = (limits or CaptureLimits()).max_clock_skew
    latest = now + skew if now is not None else None
    prefixes = context_prefixes(data.get("@context"))
    events = [read_event(e, i, prefixes, errors, latest) for i, e in enumerate(event_list)]
    if errors or creation is None:
        raise EPCISDocumentError(errors.items)
    return EPCISDocument(
        schema_version=str(schema_version),
        creation_date=creation.astimezone(UTC),
        events=tuple(e for e in events if e is not None),
    )
