"""Stations, the simulator and the logger CSV import build their events through the one
builder (``supplychain.epcis.build``), and what reaches the ledger did not change.

Each producer's events as it wrote them before the builder (the literal dicts, kept here
verbatim as the reference) and as it writes them now are parsed and captured into two
ledgers on the same clock: the same `CaptureEvent`s, CBV §8.9 event hashes and stored views,
and the same ledger records byte for byte (the raw event is kept on the ledger, so this
covers every timestamp's spelling too). Only the order of keys inside the JSON may differ,
which canonical JSON (RFC 8785) and the event hash both ignore.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from ledger.hashing import canonical_json
from ledger.log import Ledger
from simulator.builder import Gen
from simulator.chain import Chain, document, lot_class
from simulator.faults import GENERATORS
from stations.batches import Station, epcis_document, inspection_event
from stations.grading import Grade
from supplychain import coldchain_csv
from supplychain.capture import capture_events, create_projection_tables, event_view
from supplychain.coldchain_csv import TemperatureRow, parse_logger_csv, readings_to_epcis
from supplychain.epcis import event_hash_id, parse_document
from tests.ledger.conftest import StepClock

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


def _ledger(path: Path) -> Ledger:
    engine = sa.create_engine(f"sqlite:///{path}")
    create_projection_tables(engine)
    return Ledger(engine, clock=StepClock())


def assert_same_on_the_ledger(
    old_doc: dict[str, Any], new_doc: dict[str, Any], tmp_path: Path, actor: str = "test"
) -> None:
    """Both documents parse to the same events and leave byte-identical ledger entries."""
    old, new = parse_document(old_doc), parse_document(new_doc)
    assert new == old  # every field of every CaptureEvent but the raw JSON ...
    assert [canonical_json(e.raw) for e in new.events] == [
        canonical_json(e.raw) for e in old.events
    ]
    assert [e.hash_id for e in new.events] == [e.hash_id for e in old.events]
    context = new_doc["@context"]
    assert [e.hash_id for e in new.events] == [
        event_hash_id(e.raw, context=context) for e in new.events
    ]
    assert [event_view(e) for e in new.events] == [event_view(e) for e in old.events]
    assert canonical_json(new_doc) == canonical_json(old_doc)
    ledgers = []
    for name, doc in (("old", old), ("new", new)):
        ledger = _ledger(tmp_path / f"{name}.db")
        capture_events(ledger=ledger, events_in=doc, actor=actor)
        ledgers.append(ledger)
    before, after = ledgers
    assert after.size() == before.size() == len({e.hash_id for e in old.events})
    for i in range(before.size()):
        a, b = before.entry(i), after.entry(i)
        assert (b.record, b.leaf_hash, b.prev_hash) == (a.record, a.leaf_hash, a.prev_hash)


# ------------------------------------------------------------------------------- stations


def _old_inspection_event(
    *,
    uri: str,
    lot: str | None,
    photos: Sequence[str],
    grade: Grade,
    station: Station,
    now: datetime,
    graded_by: str | None = None,
    model: dict[str, str] | None = None,
) -> dict[str, Any]:
    verdict: dict[str, Any] = {"condition": grade.condition}
    if graded_by is None:
        verdict["confidence"] = round(grade.confidence, 4)
    else:
        verdict["graded_by"] = graded_by
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": now.isoformat(),
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "disposition": grade.disposition,
        "epcList": [uri],
        "readPoint": {"id": station.read_point},
        "fp:station": station.station_id,
        "fp:grade": verdict,
        "fp:photos": list(photos),
    }
    if model:
        event["fp:model"] = {
            k: model[k] for k in ("name", "version", "release_entry") if k in model
        }
    if lot:
        event["quantityList"] = [{"epcClass": lot, "quantity": 1}]
    return event


def _old_station_document(events: Sequence[dict[str, Any]], now: datetime) -> dict[str, Any]:
    return {
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"fp": "https://freshproof.dev/epcis/"},
        ],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": now.isoformat(),
        "epcisBody": {"eventList": list(events)},
    }


STATION = Station("DOCK-1", "urn:epc:id:sgln:4000001.00001.0", "key:dock-1")
MODEL = {"name": "fresh", "version": "3", "release_entry": "41", "sha256": "ab" * 32}


@pytest.mark.parametrize(
    "item",
    [
        {"lot": "urn:epc:class:lgtin:4012345.012345.L7", "model": MODEL},
        {"lot": None, "model": None},
        {"lot": "urn:epc:class:lgtin:4012345.012345.L7", "graded_by": "key:olga (adjudicator)"},
    ],
)
def test_a_stations_inspection_event_is_the_one_it_wrote_before(
    item: dict[str, Any], tmp_path: Path
) -> None:
    grades = [
        Grade("produce", "moldy", 0.971234, "destroyed", "scrap", False, "mold"),
        Grade("package", "intact", 0.88, "sellable_accessible", "resell", False, "fine"),
    ]
    args = [
        {
            "uri": f"urn:epc:id:sgtin:4012345.012345.{100 + n}",
            "photos": [f"{n:064x}", f"{n + 7:064x}"][: n + 1],
            "grade": g,
            "station": STATION,
            # A station's clock has microseconds; the event keeps them as written.
            "now": NOW + timedelta(seconds=n, microseconds=250 * n),
            **item,
        }
        for n, g in enumerate(grades)
    ]
    old = _old_station_document([_old_inspection_event(**a) for a in args], NOW)
    new = epcis_document([inspection_event(**a) for a in args], NOW)
    assert_same_on_the_ledger(old, new, tmp_path, actor=STATION.actor)


# ------------------------------------------------------------------------------ simulator


@dataclass
class _OldChain(Chain):
    """The simulator's chain rendering its events as it did before the builder."""

    def _event(
        self,
        at: datetime,
        biz_step: str,
        *,
        shift: timedelta,
        src: str | None = None,
        dst: str | None = None,
        disposition: str | None = None,
        orders: Sequence[str] = (),
        temps: Sequence[tuple[datetime, float]] = (),
        accel: Sequence[tuple[datetime, float]] = (),
        ilmd: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        e: dict[str, Any] = {
            "type": "ObjectEvent",
            "eventTime": _old_epcis_time(at),
            "eventTimeZoneOffset": "+00:00",
            "quantityList": [{"epcClass": lot_class(self.lot), "quantity": 10, "uom": "KGM"}],
            # The maker's use-by came after the builder: written as it writes it.
            "action": "ADD" if ilmd else "OBSERVE",
            "bizStep": biz_step,
        }
        if ilmd:
            e["ilmd"] = ilmd
        if disposition:
            e["disposition"] = disposition
        if orders:  # the purchase orders came after the builder: written as it writes them
            e["bizTransactionList"] = [{"type": "po", "bizTransaction": o} for o in orders]
        if src:
            e["sourceList"] = [{"type": "possessing_party", "source": src}]
        if dst:
            e["destinationList"] = [{"type": "possessing_party", "destination": dst}]
        sensors = []
        device = (src or "").rsplit(":", 1)[-1].replace(".", "")
        if temps:
            sensors.append(
                _old_sensor(
                    f"urn:epc:id:giai:4000001.T{device}", "gs1:Temperature", "CEL", temps, shift
                )
            )
        if accel:
            sensors.append(
                _old_sensor(
                    f"urn:epc:id:giai:4000001.A{device}", "gs1:Acceleration", "MSK", accel, shift
                )
            )
        if sensors:
            e["sensorElementList"] = sensors
        return e


def _old_epcis_time(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _old_sensor(
    device: str,
    kind: str,
    uom: str,
    readings: Sequence[tuple[datetime, float]],
    shift: timedelta,
) -> dict[str, Any]:
    return {
        "sensorMetadata": {"deviceID": device},
        "sensorReport": [
            {"type": kind, "value": v, "uom": uom, "time": _old_epcis_time(t + shift)}
            for t, v in sorted(readings)
        ],
    }


def _old_simulator_document(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    latest = max(
        (datetime.fromisoformat(e["eventTime"].replace("Z", "+00:00")) for e in events),
        default=None,
    )
    created = _old_epcis_time(latest + timedelta(minutes=1)) if latest else "2024-01-01T00:00:00Z"
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": {"eventList": list(events)},
    }


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_the_simulators_events_are_the_ones_it_wrote_before(kind: str, tmp_path: Path) -> None:
    # Every fault generator: skewed clocks, silent legs, unnamed receivers, gaps, shocks.
    built = GENERATORS[kind](Gen(rng=random.Random(23), now=NOW, lot="SIM-BUILD"))
    if built.chain is None:
        pytest.skip(f"{kind} posts no records")
    chain = built.chain
    old_chain = _OldChain(**{f.name: getattr(chain, f.name) for f in fields(Chain)})
    old_events, new_events = old_chain.events(), chain.events()
    assert any("sensorElementList" in e for e in new_events)
    assert_same_on_the_ledger(_old_simulator_document(old_events), document(new_events), tmp_path)


def test_an_empty_simulator_document_is_the_one_it_wrote_before() -> None:
    assert document([]) == _old_simulator_document([])


# ------------------------------------------------------------------------- logger CSV


def _old_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _old_readings_to_epcis(
    rows: Iterable[TemperatureRow],
    *,
    gtin: str | None = None,
    creation_date: datetime | None = None,
    device_uri_prefix: str = coldchain_csv.DEVICE_URI_PREFIX,
) -> dict[str, Any]:
    """``readings_to_epcis`` before the builder (its grouping helpers are unchanged)."""
    rows = list(rows)
    gtin14 = coldchain_csv._gtin14(gtin) if gtin is not None else None
    groups: dict[tuple[str, str, datetime], list[TemperatureRow]] = {}
    for row in rows:
        uri = coldchain_csv._lot_uri(row, gtin14)
        assert uri is not None
        hour = row.time.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        groups.setdefault((row.device_id, uri, hour), []).append(row)
    events = []
    for (device, uri, _hour), members in sorted(groups.items()):
        members.sort(key=lambda r: (r.time, r.row))
        event: dict[str, Any] = {
            "type": "ObjectEvent",
            "eventTime": _old_iso(members[-1].time),
            "eventTimeZoneOffset": "+00:00",
        }
        if coldchain_csv._is_class(uri):
            event["quantityList"] = [{"epcClass": uri}]
        else:
            event["epcList"] = [uri]
        event["action"] = "OBSERVE"
        event["bizStep"] = coldchain_csv.SENSOR_BIZ_STEP
        event["sensorElementList"] = [
            {
                "sensorMetadata": {
                    "deviceID": coldchain_csv._uri_or_none(device)
                    or device_uri_prefix + quote(device, safe=""),
                    "startTime": _old_iso(members[0].time),
                    "endTime": _old_iso(members[-1].time),
                },
                "sensorReport": [
                    {
                        "type": "gs1:Temperature",
                        "time": _old_iso(r.time),
                        "value": r.original_value,
                        "uom": coldchain_csv._UN_CEFACT[r.original_unit],
                    }
                    for r in members
                ],
            }
        ]
        events.append(event)
    latest = max((r.time for r in rows), default=None)
    created = creation_date or latest or datetime(1970, 1, 1, tzinfo=UTC)
    return {
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"gs1": "https://gs1.org/voc/"},
        ],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _old_iso(created),
        "epcisBody": {"eventList": events},
    }


LOGGER_CSV = """device_id;lot;timestamp;temperature;unit
L1;urn:epc:class:lgtin:4012345.012345.LOT1;2024-05-02T06:15:00+02:00;4,5;C
L1;urn:epc:class:lgtin:4012345.012345.LOT1;2024-05-02T06:45:00.123456+02:00;40;F
L1;urn:epc:class:lgtin:4012345.012345.LOT1;2024-05-02T05:05:00Z;4;C
LOG 17;LOT9;2024-05-02T07:15:00-05:00;280.5;K
urn:epc:id:giai:4000001.X;urn:epc:id:sgtin:4012345.012345.77;2024-05-02T08:15:00Z;5.25;C
"""


@pytest.mark.parametrize(
    "options",
    [
        {"gtin": "4012345123456"},
        {
            "gtin": "4012345123456",
            "creation_date": datetime(2024, 5, 3, 1, 2, 3, 456789, tzinfo=UTC),
            "device_uri_prefix": "urn:example:logger:",
        },
    ],
)
def test_the_logger_csv_events_are_the_ones_it_wrote_before(
    options: dict[str, Any], tmp_path: Path
) -> None:
    rows = parse_logger_csv(LOGGER_CSV)
    old, new = _old_readings_to_epcis(rows, **options), readings_to_epcis(rows, **options)
    assert len(new["epcisBody"]["eventList"]) == 4  # per device, lot and UTC hour
    assert json.dumps(new) == json.dumps(old)  # even its keys in the order it wrote them
    assert_same_on_the_ledger(old, new, tmp_path)


def test_an_empty_logger_csv_document_is_the_one_it_wrote_before() -> None:
    assert readings_to_epcis([]) == _old_readings_to_epcis([])
