"""What the EPCIS query filters on, written beside each event in the capture's transaction.

One function reads a captured event's ledger body (the raw event, our view of it, who
captured it) into rows of two tables (``supplychain.projections``):

- ``epcis_event_values``: (field, value) pairs, one per value an equality or MATCH filter
  compares: ``epc`` (epcList and childEPCs), ``parentID``, ``inputEPC``, ``outputEPC``,
  ``epcClass`` (quantityList and childQuantityList), ``inputEPCClass``, ``outputEPCClass``,
  ``readPoint``, ``bizLocation``, ``action``, ``eventID`` (the declared id and the hash id),
  ``source:<type>``, ``destination:<type>``, ``bizTransaction:<type>``, ``sensorType``,
  ``deviceID``; and the two the visibility rule reads (``supplychain.query.scope``):
  ``lotKey`` (the lot URIs and EPCs the event is findable by) and ``party`` (the possessing
  parties it names and the parties its capturing key spoke for). Beside each identifier of
  the seven EPC and class fields, under ``<field>:identity`` (``identity_field``), its
  identity (``supplychain.identifiers.digital_link.identity``: the canonical Digital Link)
  when that is not how it was captured: so a query finds an event by an identifier in
  either form, the URN or the Digital Link on any host (``supplychain.query.params``).
- ``epcis_event_sensors``: per sensorReport number and unit, the lowest and highest the
  event reports; temperatures in CEL and accelerations in MSK whatever unit they came in.

The identities have a field of their own rather than sharing the raw one so that the raw
rows stay what the event says (an ``idpat`` pattern's prefixes match them alone) and the
rows v0014 added can be told apart. ``lotKey`` gets none: only the visibility rule compares
it, and identities there would widen what a party reads (``supplychain.query.scope``).

Capture writes them (``write_index``); v0010 fills them for events captured before, with
the same function (``backfill_query_index``, registered as the ``epcis_query_index`` backfill),
and v0014 writes them again with the identities.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from ledger.record import parse_record
from ledger.schema import entries_table
from storage.backfills import register_backfill
from supplychain.epcis import ACCELERATION_UOMS, TEMPERATURE_UOMS, to_celsius
from supplychain.epcis.vocabulary import GS1_VOC, CBVVocabulary, cbv_short
from supplychain.identifiers.digital_link import identity
from supplychain.projections import event_sensors, event_values, events

__all__ = [
    "EPC_FIELDS",
    "IDENTIFIER_FIELDS",
    "LOT_KEY",
    "PARTY",
    "SENSOR_FIELDS",
    "IndexRows",
    "backfill_query_index",
    "identity_field",
    "index_rows",
    "normalise_reading",
    "sensor_type",
    "write_index",
]

LOT_KEY = "lotKey"
PARTY = "party"
EPC_FIELDS = {
    "epcList": "epc",
    "childEPCs": "epc",
    "inputEPCList": "inputEPC",
    "outputEPCList": "outputEPC",
}
_CLASS_FIELDS = {
    "quantityList": "epcClass",
    "childQuantityList": "epcClass",
    "inputQuantityList": "inputEPCClass",
    "outputQuantityList": "outputEPCClass",
}
IDENTIFIER_FIELDS = frozenset({*EPC_FIELDS.values(), "parentID", *_CLASS_FIELDS.values()})
"""The fields whose values are GS1 identifiers, indexed with their identities too."""
SENSOR_FIELDS = ("value", "minValue", "maxValue", "meanValue", "sDev", "percValue")
_MAX_VALUE = 300  # the column's length: longer values are not indexed (no URI we accept is)


@dataclass(frozen=True)
class IndexRows:
    """The rows of one event: (field, value) pairs and (field, uom) → (low, high)."""

    hash_id: str
    values: frozenset[tuple[str, str]]
    sensors: Mapping[tuple[str, str], tuple[float, float]]


def identity_field(field: str) -> str:
    """The field holding the identities of ``field``'s identifiers (one of
    ``IDENTIFIER_FIELDS``) where they differ from the captured value."""
    return f"{field}:identity"


def _identities(values: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {
        (identity_field(f), i)
        for f, v in values
        if f in IDENTIFIER_FIELDS and (i := identity(v)) != v
    }


def sensor_type(value: str) -> str:
    """A measurement type as a full URI: ``Temperature`` and ``gs1:Temperature`` expand."""
    text = value.strip()
    if ":" not in text:
        return GS1_VOC + text
    if text.startswith("gs1:"):
        return GS1_VOC + text[4:]
    return text


def normalise_reading(field: str, value: float, uom: str) -> tuple[float, str]:
    """A sensor number in the unit the index keeps for its kind: °C, m/s², else as given.

    A standard deviation is a difference, so it scales without the offset.
    """
    if uom in TEMPERATURE_UOMS:
        if field == "sDev":
            return value * (5.0 / 9.0 if uom == "FAR" else 1.0), "CEL"
        return to_celsius(value, uom), "CEL"
    if uom in ACCELERATION_UOMS:
        return value * ACCELERATION_UOMS[uom], "MSK"
    return value, uom


def _uri(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _sensors(
    raw: Mapping[str, Any], values: set[tuple[str, str]]
) -> dict[tuple[str, str], tuple[float, float]]:
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for element in raw.get("sensorElementList") or ():
        if not isinstance(element, dict):
            continue
        metadata = element.get("sensorMetadata")
        if isinstance(metadata, dict) and (device := _uri(metadata.get("deviceID"))):
            values.add(("deviceID", device))
        for report in element.get("sensorReport") or ():
            if not isinstance(report, dict):
                continue
            if isinstance(report.get("type"), str) and report["type"].strip():
                values.add(("sensorType", sensor_type(report["type"])))
            if device := _uri(report.get("deviceID")):
                values.add(("deviceID", device))
            uom = _uri(report.get("uom"))
            if uom is None:
                continue
            for field in SENSOR_FIELDS:
                number = _number(report.get(field))
                if number is None:
                    continue
                value, unit = normalise_reading(field, number, uom)
                low, high = out.get((field, unit), (value, value))
                out[(field, unit)] = (min(low, value), max(high, value))
    return out


def index_rows(body: Mapping[str, Any]) -> IndexRows:
    """The query index rows of one captured event, from its ledger entry body."""
    raw: Mapping[str, Any] = body.get("event") or {}
    view: Mapping[str, Any] = body["view"]
    hash_id: str = body["hash_id"]
    values: set[tuple[str, str]] = {("eventID", hash_id)}
    if declared := _uri(body.get("declared_id")):
        values.add(("eventID", declared))
    for name, field in EPC_FIELDS.items():
        values.update((field, e) for v in raw.get(name) or () if (e := _uri(v)))
    for name, field in _CLASS_FIELDS.items():
        for item in raw.get(name) or ():
            if isinstance(item, dict) and (c := _uri(item.get("epcClass"))):
                values.add((field, c))
    if parent := _uri(view.get("parent_id")):
        values.add(("parentID", parent))
    for field, key in (("readPoint", "read_point"), ("bizLocation", "biz_location")):
        if place := _uri(view.get(key)):
            values.add((field, place))
    if view.get("action"):
        values.add(("action", str(view["action"])))
    for side, key in (("source", "sources"), ("destination", "destinations")):
        for kind, ident in view.get(key) or ():
            values.add((f"{side}:{kind}", ident))
            if kind == "possessing_party":
                values.add((PARTY, ident))
    for item in raw.get("bizTransactionList") or ():
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            continue
        kind, _ = cbv_short(item["type"], CBVVocabulary.BIZ_TRANSACTION_TYPE)
        if kind and (ident := _uri(item.get("bizTransaction"))):
            values.add((f"bizTransaction:{kind}", ident))
    # The keys authorship checks (supplychain.capture.lot_keys) less the bare lot numbers,
    # which are not unique across companies: two chains' lot "L1" are different lots.
    values.update((LOT_KEY, k) for k in [*view.get("lots", ()), *view.get("epcs", ())])
    values.update((PARTY, p) for p in body.get("captured_for") or ())
    values |= _identities(values)
    sensors = _sensors(raw, values)
    kept = frozenset((f, v) for f, v in values if len(v) <= _MAX_VALUE)
    return IndexRows(hash_id, kept, sensors)


def write_index(conn: Connection, bodies: Iterable[Mapping[str, Any]]) -> None:
    """Insert the query index rows of these newly captured events (the caller's transaction)."""
    value_rows: list[dict[str, Any]] = []
    sensor_rows: list[dict[str, Any]] = []
    for body in bodies:
        rows = index_rows(body)
        value_rows += [{"hash_id": rows.hash_id, "field": f, "value": v} for f, v in rows.values]
        sensor_rows += [
            {"hash_id": rows.hash_id, "field": f, "uom": u, "low": lo, "high": hi}
            for (f, u), (lo, hi) in rows.sensors.items()
        ]
    if value_rows:
        conn.execute(insert(event_values), value_rows)
    if sensor_rows:
        conn.execute(insert(event_sensors), sensor_rows)


def backfill_query_index(conn: Connection, hash_ids: Sequence[str]) -> None:
    """Index events captured before v0010 (and again at v0014, with the identities), reading
    their entries back from the ledger."""
    if not hash_ids:
        return
    e = entries_table.c
    rows = conn.execute(
        select(e.idx, e.record)
        .join(events, events.c.ledger_idx == e.idx)
        .where(events.c.hash_id.in_(list(hash_ids)))
    )
    write_index(conn, [parse_record(bytes(r.record), index=r.idx).body for r in rows])


register_backfill("epcis_query_index", backfill_query_index)
