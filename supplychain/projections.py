"""Query tables derived from the log: the party registry and the EPCIS event index.

The log is the source of truth. These tables are written in the same transaction as the
entries they index (``Ledger.writer``), so they never disagree with it, and they can be
rebuilt from the log at any time.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    String,
    Table,
)

from storage.schema import metadata

__all__ = [
    "PROJECTION_TABLES",
    "event_lots",
    "event_sensors",
    "event_values",
    "events",
    "parties",
    "projection_metadata",
]

projection_metadata = metadata
"""The shared MetaData (``storage.schema``), under the name this module always gave it."""

parties = Table(
    "parties",
    projection_metadata,
    Column("id", String(200), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("ledger_idx", BigInteger, nullable=False),
)

events = Table(
    "epcis_events",
    projection_metadata,
    Column("hash_id", String(120), primary_key=True),
    Column("ledger_idx", BigInteger, nullable=False, unique=True),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("biz_step", String(60)),
    Column("disposition", String(60)),
    Column("source_party", String(200)),
    Column("destination_party", String(200)),
    # The EPCIS query pages through events in event time (or ledger) order (v0010).
    Index("ix_epcis_events_time", "event_time", "ledger_idx"),
)

event_lots = Table(
    "epcis_event_lots",
    projection_metadata,
    Column("lot", String(300), primary_key=True),
    Column("hash_id", String(120), primary_key=True),
    Index("ix_event_lots_hash", "hash_id"),
)

event_values = Table(
    "epcis_event_values",
    projection_metadata,
    Column("hash_id", String(120), primary_key=True),
    # What the EPCIS query filters on (supplychain.query.index): ``epc``, ``readPoint``,
    # ``source:owning_party``, ``lotKey`` and ``party`` (who sees the event), ...
    Column("field", String(80), primary_key=True),
    Column("value", String(300), primary_key=True),
    Index("ix_event_values_lookup", "field", "value"),
)

event_sensors = Table(
    "epcis_event_sensors",
    projection_metadata,
    Column("hash_id", String(120), primary_key=True),
    # A sensorReport number (value, minValue, maxValue, meanValue, sDev, percValue) in one
    # unit (temperatures in CEL, accelerations in MSK, other units as captured): the lowest
    # and highest the event reports, which is what GT/GE and LT/LE filters need.
    Column("field", String(20), primary_key=True),
    Column("uom", String(20), primary_key=True),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
)

PROJECTION_TABLES = (parties, events, event_lots, event_values, event_sensors)
"""The tables ``create_projection_tables`` creates."""
