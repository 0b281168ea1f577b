"""Validation of one EPCIS event: every field checked, every problem recorded.

`read_event` reads an event into a `CaptureEvent` (times in UTC, temperatures in °C, CBV
values as short names, its event hash id), recording each problem under
``eventList[i].<path>`` so that one pass reports every problem of a document.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from supplychain.epcis.errors import EPCISValidationError, _Errors
from supplychain.epcis.eventhash import (
    _EPC_LISTS,
    _QUANTITY_LISTS,
    HASH_VERSION,
    _Unhashable,
    cbv_prehash,
)
from supplychain.epcis.sensors import (
    _ACCELERATION_TYPES,
    _REPORT_NUMBERS,
    _TEMPERATURE_TYPES,
    ACCELERATION_UOMS,
    TEMPERATURE_UOMS,
    AccelerationReading,
    TemperatureReading,
    implausible_temperature,
    to_celsius,
)
from supplychain.epcis.timestamps import _OFFSET_RE, parse_datetime
from supplychain.epcis.views import CaptureEvent
from supplychain.epcis.vocabulary import (
    EVENT_TYPES,
    GS1_VOC,
    USE_BY_NAMES,
    CBVVocabulary,
    cbv_short,
    context_prefixes,
    local_name,
    use_by_date,
)
from supplychain.identifiers.digital_link import is_lot_class
from supplychain.identifiers.tds import EPCError, check_lot_key

__all__ = ["stored_temperatures"]

_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_ACTIONS = frozenset({"ADD", "OBSERVE", "DELETE"})


class _EventReader:
    """Validates one event, recording errors under ``eventList[i].<path>``."""

    def __init__(self, event: Mapping[str, Any], index: int, errors: _Errors) -> None:
        self.event = event
        self.index = index
        self.errors = errors
        self.start = len(errors)

    def error(self, path: str, reason: str) -> None:
        self.errors.add(self.index, f"eventList[{self.index}]{path}", reason)

    @property
    def failed(self) -> bool:
        return len(self.errors) > self.start

    def uri(self, value: Any, path: str) -> str | None:
        if value is None:
            self.error(path, "missing")
            return None
        if not isinstance(value, str) or not _URI_RE.match(value.strip()):
            self.error(path, f"{value!r} is not a URI")
            return None
        return value.strip()

    def optional_list(self, name: str) -> list[Any]:
        """The event's list field ``name``: [] when absent, [] with an error when not a list."""
        value = self.event.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(f".{name}", "not a list")
            return []
        return value

    def uri_list(self, name: str) -> list[str]:
        value = self.optional_list(name)
        found = [self.uri(v, f".{name}[{i}]") for i, v in enumerate(value)]
        return [v for v in found if v is not None]

    def quantity_list(self, name: str) -> list[str]:
        value = self.optional_list(name)
        classes = []
        for i, item in enumerate(value):
            path = f".{name}[{i}]"
            if not isinstance(item, dict):
                self.error(path, "not an object")
                continue
            epc_class = self.uri(item.get("epcClass"), f"{path}.epcClass")
            if epc_class is not None and epc_class.startswith("urn:epc:class:lgtin:"):
                # An LGTIN is a lot's key: one without its lot would file the event under
                # a "lot" no claim can name, holding every lot of the product.
                try:
                    check_lot_key(epc_class)
                except EPCError as exc:
                    self.error(f"{path}.epcClass", exc.reason)
                    epc_class = None
            if epc_class is not None:
                classes.append(epc_class)
            quantity = item.get("quantity")
            if quantity is not None and not is_number(quantity):
                self.error(f"{path}.quantity", f"{quantity!r} is not a number")
            elif quantity is not None and quantity < 0:
                self.error(f"{path}.quantity", "negative quantity")
            uom = item.get("uom")
            if uom is not None and (not isinstance(uom, str) or not uom.strip()):
                self.error(f"{path}.uom", "not a unit code")
            elif uom is not None and quantity is None:
                self.error(f"{path}.uom", "uom given without quantity")
        return classes

    def cbv(self, vocabulary: CBVVocabulary, path: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(path, f"{value!r} is not a string")
            return None
        short, reason = cbv_short(value, vocabulary)
        if short is None:
            self.error(path, str(reason))
        return short

    def location(self, name: str) -> str | None:
        value = self.event.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.error(f".{name}", "not an object with an id")
            return None
        return self.uri(value.get("id"), f".{name}.id")

    def parties(self, name: str, id_key: str) -> list[tuple[str, str]]:
        value = self.optional_list(name)
        found = []
        for i, item in enumerate(value):
            path = f".{name}[{i}]"
            if not isinstance(item, dict):
                self.error(path, "not an object")
                continue
            kind = item.get("type")
            if kind is None:
                self.error(f"{path}.type", "missing")
            short = self.cbv(CBVVocabulary.SOURCE_DESTINATION_TYPE, f"{path}.type", kind)
            ident = self.uri(item.get(id_key), f"{path}.{id_key}")
            if short is not None and ident is not None:
                found.append((short, ident))
        return found

    def time(self, value: Any, path: str) -> datetime | None:
        parsed, reason = parse_datetime(value)
        if parsed is None:
            self.error(path, str(reason))
        return parsed


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def read_event(
    event: Any,
    index: int,
    prefixes: Mapping[str, str],
    errors: _Errors,
    latest: datetime | None = None,
) -> CaptureEvent | None:
    """Validate one event and build its domain view; None when it had errors."""
    if not isinstance(event, dict):
        errors.add(index, f"eventList[{index}]", "not an object")
        return None
    r = _EventReader(event, index, errors)
    event_type = event.get("type")
    if event_type is None:
        r.error(".type", "missing")
        return None
    if event_type == "TransactionEvent":
        r.error(".type", "TransactionEvent is not supported")
        return None
    if event_type not in EVENT_TYPES:
        r.error(".type", f"unknown event type {event_type!r}")
        return None

    event_time = None
    if "eventTime" not in event:
        r.error(".eventTime", "missing")
    else:
        event_time = r.time(event["eventTime"], ".eventTime")
        if event_time is not None and latest is not None and event_time > latest:
            r.error(
                ".eventTime",
                f"{event['eventTime']} is in the future (later than {latest.isoformat()}, "
                "which allows for clock skew)",
            )
    offset = event.get("eventTimeZoneOffset")
    if offset is None:
        r.error(".eventTimeZoneOffset", "missing")
    elif not isinstance(offset, str) or not _OFFSET_RE.match(offset):
        r.error(".eventTimeZoneOffset", f"{offset!r} is not an offset like +02:00")
    declared = event.get("eventID")
    if declared is not None and not isinstance(declared, str):
        r.error(".eventID", "not a string")

    action = event.get("action")
    if event_type == "TransformationEvent":
        if action is not None:
            r.error(".action", "not allowed on a TransformationEvent")
    elif action is None:
        r.error(".action", "missing")
    elif action not in _ACTIONS:
        r.error(".action", f"{action!r} is not one of ADD, OBSERVE, DELETE")

    epc_lists = {name: r.uri_list(name) for name in _EPC_LISTS}
    quantity_lists = {name: r.quantity_list(name) for name in _QUANTITY_LISTS}
    parent = event.get("parentID")
    parent_id = r.uri(parent, ".parentID") if parent is not None else None
    if "transformationID" in event:
        r.uri(event["transformationID"], ".transformationID")

    has_sensors = bool(event.get("sensorElementList"))
    if event_type == "ObjectEvent" and not (
        epc_lists["epcList"] or quantity_lists["quantityList"] or has_sensors
    ):
        r.error(".epcList", "an ObjectEvent needs epcList or quantityList (or sensor data)")
    if event_type in ("AggregationEvent", "AssociationEvent"):
        needs_parent = event_type == "AssociationEvent" or action in ("ADD", "DELETE")
        if parent is None and needs_parent:
            r.error(".parentID", "missing")
        if action == "ADD" and not (epc_lists["childEPCs"] or quantity_lists["childQuantityList"]):
            r.error(".childEPCs", f"an {event_type} with action ADD needs children")
    if event_type == "TransformationEvent" and not (
        any(epc_lists[n] for n in ("inputEPCList", "outputEPCList"))
        or any(quantity_lists[n] for n in ("inputQuantityList", "outputQuantityList"))
    ):
        r.error(".inputEPCList", "a TransformationEvent needs inputs or outputs")

    biz_step = r.cbv(CBVVocabulary.BIZ_STEP, ".bizStep", event.get("bizStep"))
    disposition = r.cbv(CBVVocabulary.DISPOSITION, ".disposition", event.get("disposition"))
    _check_persistent_disposition(r)
    read_point = r.location("readPoint")
    biz_location = r.location("bizLocation")
    _check_biz_transactions(r)
    sources = r.parties("sourceList", "source")
    destinations = r.parties("destinationList", "destination")
    if "ilmd" in event:
        _check_ilmd(r, event["ilmd"])
    temperatures, accelerations = _read_sensors(r, event_time)

    if r.failed or event_time is None:
        return None
    try:
        hash_id = _hash(event, prefixes)
    except EPCISValidationError as exc:
        r.error("", exc.reason)
        return None

    epcs = _dedupe(
        [e for n in _EPC_LISTS for e in epc_lists[n]]
        + [c for n in _QUANTITY_LISTS for c in quantity_lists[n]]
    )
    return CaptureEvent(
        index=index,
        event_type=event_type,
        hash_id=hash_id,
        declared_id=declared,
        event_time=event_time.astimezone(UTC),
        event_time_zone_offset=str(offset),
        action=action,
        biz_step=biz_step,
        disposition=disposition,
        epcs=epcs,
        lots=tuple(e for e in epcs if is_lot_class(e)),
        parent_id=parent_id,
        read_point=read_point,
        biz_location=biz_location,
        sources=tuple(sources),
        destinations=tuple(destinations),
        temperatures=tuple(temperatures),
        raw=copy.deepcopy(dict(event)),
        accelerations=tuple(accelerations),
    )


def _hash(event: Mapping[str, Any], prefixes: Mapping[str, str]) -> str:
    """Event hash with the document's prefixes already collected."""
    merged = dict(prefixes)
    merged.update(context_prefixes(event.get("@context")))
    try:
        prehash = cbv_prehash(event, merged)
    except _Unhashable as exc:
        raise EPCISValidationError(index=None, field="event", reason=str(exc)) from None
    digest = hashlib.sha256(prehash.encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={HASH_VERSION}"


def _check_ilmd(r: _EventReader, ilmd: Any) -> None:
    """Lot master data is an object; a use-by date in it must be a date: the verdict reads it
    (a use-by past at delivery is the seller's), so one it cannot read is refused, not lost."""
    if not isinstance(ilmd, dict):
        r.error(".ilmd", "not an object")
        return
    for key, value in ilmd.items():
        if local_name(key) in USE_BY_NAMES and use_by_date(value) is None:
            r.error(f".ilmd.{key}", f"{value!r} is not a date (YYYY-MM-DD, as xsd:date)")


def _check_persistent_disposition(r: _EventReader) -> None:
    value = r.event.get("persistentDisposition")
    if value is None:
        return
    if not isinstance(value, dict):
        r.error(".persistentDisposition", "not an object")
        return
    for key in ("set", "unset"):
        words = value.get(key)
        if words is None:
            continue
        if not isinstance(words, list):
            r.error(f".persistentDisposition.{key}", "not a list")
            continue
        for i, word in enumerate(words):
            path = f".persistentDisposition.{key}[{i}]"
            r.cbv(CBVVocabulary.DISPOSITION, path, word)


def _check_biz_transactions(r: _EventReader) -> None:
    value = r.event.get("bizTransactionList")
    if value is None:
        return
    if not isinstance(value, list):
        r.error(".bizTransactionList", "not a list")
        return
    for i, item in enumerate(value):
        path = f".bizTransactionList[{i}]"
        if not isinstance(item, dict):
            r.error(path, "not an object")
            continue
        r.cbv(CBVVocabulary.BIZ_TRANSACTION_TYPE, f"{path}.type", item.get("type"))
        r.uri(item.get("bizTransaction"), f"{path}.bizTransaction")


def _sensor_type(value: Any) -> str | None:
    """Full URI of a sensorReport type (bare words and gs1: CURIEs expanded)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if ":" not in text:
        return GS1_VOC + text
    if text.startswith("gs1:"):
        return GS1_VOC + text[4:]
    return text


def _read_sensors(
    r: _EventReader, event_time: datetime | None
) -> tuple[list[TemperatureReading], list[AccelerationReading]]:
    """Validate sensorElementList; return its temperatures (°C) and accelerations (m/s²)."""
    value = r.event.get("sensorElementList")
    if value is None:
        return [], []
    if not isinstance(value, list):
        r.error(".sensorElementList", "not a list")
        return [], []
    readings: list[TemperatureReading] = []
    shocks: list[AccelerationReading] = []
    for i, element in enumerate(value):
        path = f".sensorElementList[{i}]"
        if not isinstance(element, dict):
            r.error(path, "not an object")
            continue
        metadata = element.get("sensorMetadata", {})
        meta_time = None
        meta_device = None
        if not isinstance(metadata, dict):
            r.error(f"{path}.sensorMetadata", "not an object")
            metadata = {}
        meta_times: dict[str, datetime | None] = {}
        for key in ("time", "endTime", "startTime"):
            if key in metadata:
                parsed = r.time(metadata[key], f"{path}.sensorMetadata.{key}")
                meta_times[key] = parsed
                meta_time = meta_time or parsed
        period = (meta_times.get("startTime"), meta_times.get("endTime"))
        if period[0] and period[1] and period[1] < period[0]:
            r.error(f"{path}.sensorMetadata.endTime", "before startTime")
        if "deviceID" in metadata:
            meta_device = r.uri(metadata["deviceID"], f"{path}.sensorMetadata.deviceID")
        reports = element.get("sensorReport")
        if reports is None:
            r.error(f"{path}.sensorReport", "missing")
            continue
        if not isinstance(reports, list) or not reports:
            r.error(f"{path}.sensorReport", "not a non-empty list")
            continue
        for j, report in enumerate(reports):
            reading = _read_report(
                r,
                report,
                f"{path}.sensorReport[{j}]",
                meta_time or event_time,
                meta_device,
                period,
            )
            if isinstance(reading, TemperatureReading):
                readings.append(reading)
            elif reading is not None:
                shocks.append(reading)
    return readings, shocks


def stored_temperatures(
    event: Mapping[str, Any], *, event_time: datetime
) -> tuple[TemperatureReading, ...]:
    """The temperatures of an event validated at capture, read again from its raw JSON.

    For entries whose stored view predates a change in how reports are read (an aggregate
    held as a point at its mean, before view version 3); a report that no longer reads is
    left out rather than raised, the entry having been accepted when it was captured.
    """
    temperatures, _ = _read_sensors(_EventReader(event, 0, _Errors()), event_time)
    return tuple(temperatures)


def _read_report(
    r: _EventReader,
    report: Any,
    path: str,
    default_time: datetime | None,
    default_device: str | None,
    period: tuple[datetime | None, datetime | None] = (None, None),
) -> TemperatureReading | AccelerationReading | None:
    """Validate one sensorReport; return it when it is a temperature or an acceleration."""
    if not isinstance(report, dict):
        r.error(path, "not an object")
        return None
    kind = report.get("type")
    if kind is None and "exception" not in report:
        r.error(f"{path}.type", "missing")
    elif kind is not None and (not isinstance(kind, str) or not kind.strip()):
        r.error(f"{path}.type", f"{kind!r} is not a measurement type")
    numbers: dict[str, float] = {}
    for key in _REPORT_NUMBERS:
        if key in report:
            if is_number(report[key]):
                numbers[key] = float(report[key])
            else:
                r.error(f"{path}.{key}", f"{report[key]!r} is not a number")
    uom = report.get("uom")
    if uom is not None and (not isinstance(uom, str) or not uom.strip()):
        r.error(f"{path}.uom", f"{uom!r} is not a unit code")
        uom = None
    time = r.time(report["time"], f"{path}.time") if "time" in report else default_time
    device = default_device
    if "deviceID" in report:
        device = r.uri(report["deviceID"], f"{path}.deviceID")

    if _sensor_type(kind) in _ACCELERATION_TYPES:
        return _acceleration(r, path, numbers, uom, time, device)
    if _sensor_type(kind) not in _TEMPERATURE_TYPES:
        return None
    stats = {k: numbers[k] for k in ("value", "meanValue", "maxValue", "minValue") if k in numbers}
    if not stats:
        return None
    if uom is None:
        r.error(f"{path}.uom", "missing (a temperature needs CEL, FAR or KEL)")
        return None
    if uom not in TEMPERATURE_UOMS:
        r.error(f"{path}.uom", f"unknown temperature uom {uom!r} (expected CEL, FAR or KEL)")
        return None
    celsius = {k: to_celsius(v, uom) for k, v in stats.items()}
    for key, degrees in celsius.items():
        if (why := implausible_temperature(degrees)) is not None:
            r.error(f"{path}.{key}", f"{stats[key]} {uom} {why}")
    if r.failed or time is None:
        return None
    basis = next(iter(stats))
    at = time.astimezone(UTC)
    # An aggregate covers its sensor's period; without one, only the moment reported.
    start = end = None
    if basis != "value":
        start, end = sorted(
            ((period[0] or time).astimezone(UTC), (period[1] or time).astimezone(UTC))
        )
    return TemperatureReading(
        time=at,
        celsius=celsius[basis],
        original_value=stats[basis],
        original_uom=uom,
        device_id=device,
        basis=basis,
        min_celsius=celsius.get("minValue"),
        max_celsius=celsius.get("maxValue"),
        mean_celsius=celsius.get("meanValue"),
        start=start,
        end=end,
        original_values=tuple(
            (k, stats[k]) for k in ("minValue", "maxValue", "meanValue") if k in stats
        ),
    )


def _acceleration(
    r: _EventReader,
    path: str,
    numbers: Mapping[str, float],
    uom: str | None,
    time: datetime | None,
    device: str | None,
) -> AccelerationReading | None:
    """An acceleration report's peak in m/s²; a unit we cannot convert is an error."""
    basis = next((k for k in ("maxValue", "value", "meanValue") if k in numbers), None)
    if basis is None:
        return None
    if uom not in ACCELERATION_UOMS:
        r.error(f"{path}.uom", f"{uom!r} is not an acceleration unit (expected MSK or K40)")
        return None
    if numbers[basis] < 0:
        r.error(f"{path}.{basis}", "an acceleration magnitude cannot be negative")
        return None
    if r.failed or time is None:
        return None
    return AccelerationReading(
        time=time.astimezone(UTC),
        mps2=numbers[basis] * ACCELERATION_UOMS[uom],
        original_value=numbers[basis],
        original_uom=uom,
        device_id=device,
    )
