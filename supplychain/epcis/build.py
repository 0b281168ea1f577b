"""Building EPCIS 2.0 JSON: ``ObjectEvent``, ``TransformationEvent`` and the ``EPCISDocument``
that carries events.

The one way stations, the logger CSV import, the simulator and the tests write events:
typed arguments in, the JSON ``parse_document`` reads out. Fields come out in the CBV §8.9
canonical order (the event hash does not depend on it; people reading the JSON do), absent
and empty fields are left out, and extension fields (``fp:grade``) follow the standard ones.

Times are written as each caller always wrote them (a `TimeFormat`): the event hash reads
every spelling of an instant alike, but the raw event is kept on the ledger as sent, so a
caller that changed its spelling would change its ledger entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "EPCIS_CONTEXT",
    "ISO",
    "ZULU",
    "ZULU_MILLIS",
    "BizTransaction",
    "ObjectEvent",
    "Quantity",
    "SensorElement",
    "SensorReport",
    "SourceDestination",
    "TimeFormat",
    "TransformationEvent",
    "epcis_document",
]

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
"""The EPCIS 2.0 JSON-LD context every document names first."""


@dataclass(frozen=True, slots=True)
class TimeFormat:
    """How a datetime is written: Python's ISO 8601 at ``timespec``, optionally in UTC first
    (``utc``) and with ``Z`` for a ``+00:00`` offset (``zulu``)."""

    timespec: Literal["auto", "seconds", "milliseconds", "microseconds"] = "auto"
    utc: bool = False
    zulu: bool = False

    def render(self, at: datetime) -> str:
        """``at`` as an xsd:dateTime string."""
        text = (at.astimezone(UTC) if self.utc else at).isoformat(timespec=self.timespec)
        if self.zulu and text.endswith("+00:00"):
            return text[: -len("+00:00")] + "Z"
        return text


ISO = TimeFormat()
"""``datetime.isoformat()`` as is: ``2024-05-02T06:00:00+00:00``."""
ZULU = TimeFormat(zulu=True)
"""As `ISO`, with ``Z`` for UTC: ``2024-05-02T06:00:00Z``."""
ZULU_MILLIS = TimeFormat("milliseconds", utc=True, zulu=True)
"""In UTC to the millisecond: ``2024-05-02T06:00:00.000Z``."""


@dataclass(frozen=True, slots=True)
class Quantity:
    """One quantityList entry: a class of objects (a lot), with its amount and unit if known."""

    epc_class: str
    quantity: float | None = None
    uom: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The quantityElement."""
        return _present(epcClass=self.epc_class, quantity=self.quantity, uom=self.uom)


@dataclass(frozen=True, slots=True)
class SourceDestination:
    """A sourceList or destinationList entry: a party (or location) and its CBV type."""

    id: str
    type: str = "possessing_party"


@dataclass(frozen=True, slots=True)
class BizTransaction:
    """One bizTransactionList entry: a business document (a purchase order, a bill of lading)
    by its CBV type (``po``, ``bol``; None: untyped) and its identifier URI."""

    id: str
    type: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The bizTransaction element."""
        return _present(type=self.type, bizTransaction=self.id)


@dataclass(frozen=True, slots=True)
class SensorReport:
    """One sensorReport: a measurement type (``gs1:Temperature``) with a point ``value`` or
    the aggregate numbers of a period (min/max/mean, standard deviation, a percentile)."""

    type: str
    value: float | None = None
    uom: str | None = None
    time: datetime | None = None
    device_id: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    mean_value: float | None = None
    s_dev: float | None = None
    perc_rank: float | None = None
    perc_value: float | None = None

    def to_json(self, times: TimeFormat = ISO) -> dict[str, Any]:
        """The sensorReport, its time written in ``times``."""
        return _present(
            type=self.type,
            deviceID=self.device_id,
            time=_time(self.time, times),
            value=self.value,
            minValue=self.min_value,
            maxValue=self.max_value,
            meanValue=self.mean_value,
            sDev=self.s_dev,
            percRank=self.perc_rank,
            percValue=self.perc_value,
            uom=self.uom,
        )


@dataclass(frozen=True, slots=True)
class SensorElement:
    """One sensorElement: its reports, and the metadata that covers them (the device, and
    the period ``start_time``..``end_time`` or the moment ``time`` they were taken)."""

    reports: tuple[SensorReport, ...]
    device_id: str | None = None
    time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None

    def to_json(self, times: TimeFormat = ISO) -> dict[str, Any]:
        """The sensorElement; no sensorMetadata when it has none."""
        metadata = _present(
            time=_time(self.time, times),
            deviceID=self.device_id,
            startTime=_time(self.start_time, times),
            endTime=_time(self.end_time, times),
        )
        element: dict[str, Any] = {"sensorMetadata": metadata} if metadata else {}
        element["sensorReport"] = [r.to_json(times) for r in self.reports]
        return element


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """An EPCIS 2.0 ObjectEvent: what was seen (``epcs``, ``quantities``), when, where, why
    (``biz_step``, ``disposition``), who held it (``sources``, ``destinations``), what its
    sensors measured, and extension fields under their own prefix (``{"fp:station": ...}``).

    ``times`` writes every time of the event (eventTime and the sensors'); the zone offset
    is the one of the place the event happened, so it is given, not read off ``event_time``.
    """

    event_time: datetime
    biz_step: str | None = None
    action: str = "OBSERVE"
    disposition: str | None = None
    epcs: tuple[str, ...] = ()
    quantities: tuple[Quantity, ...] = ()
    read_point: str | None = None
    biz_location: str | None = None
    sources: tuple[SourceDestination, ...] = ()
    destinations: tuple[SourceDestination, ...] = ()
    sensors: tuple[SensorElement, ...] = ()
    extensions: Mapping[str, Any] = field(default_factory=dict)
    event_time_zone_offset: str = "+00:00"
    times: TimeFormat = ISO
    biz_transactions: tuple[BizTransaction, ...] = ()
    # Instance/lot master data of the objects the event creates (action ADD): the lot's
    # product description, harvest dates, ... as prefixed terms (``cbvmda:harvestStartDate``).
    ilmd: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_extensions(self.extensions)

    def to_json(self) -> dict[str, Any]:
        """The event as EPCIS 2.0 JSON, ready for an ``EPCISDocument``'s eventList."""
        event = _present(
            type="ObjectEvent",
            eventTime=self.times.render(self.event_time),
            eventTimeZoneOffset=self.event_time_zone_offset,
            epcList=list(self.epcs),
            quantityList=[q.to_json() for q in self.quantities],
            action=self.action,
            **_why_where_who(self),
            sensorElementList=[s.to_json(self.times) for s in self.sensors],
            ilmd=dict(self.ilmd) or None,
        )
        event.update(self.extensions)
        return event


@dataclass(frozen=True, slots=True)
class TransformationEvent:
    """An EPCIS 2.0 TransformationEvent: ``inputs`` consumed, ``outputs`` made (lots, by
    quantity), when, where, why, by whom, and the outputs' ILMD (their lot master data)."""

    event_time: datetime
    inputs: tuple[Quantity, ...] = ()
    outputs: tuple[Quantity, ...] = ()
    biz_step: str | None = None
    disposition: str | None = None
    read_point: str | None = None
    biz_location: str | None = None
    biz_transactions: tuple[BizTransaction, ...] = ()
    sources: tuple[SourceDestination, ...] = ()
    destinations: tuple[SourceDestination, ...] = ()
    ilmd: Mapping[str, Any] = field(default_factory=dict)
    extensions: Mapping[str, Any] = field(default_factory=dict)
    event_time_zone_offset: str = "+00:00"
    times: TimeFormat = ISO

    def __post_init__(self) -> None:
        _check_extensions(self.extensions)

    def to_json(self) -> dict[str, Any]:
        """The event as EPCIS 2.0 JSON, ready for an ``EPCISDocument``'s eventList."""
        event = _present(
            type="TransformationEvent",
            eventTime=self.times.render(self.event_time),
            eventTimeZoneOffset=self.event_time_zone_offset,
            inputQuantityList=[q.to_json() for q in self.inputs],
            outputQuantityList=[q.to_json() for q in self.outputs],
            **_why_where_who(self),
            ilmd=dict(self.ilmd) or None,
        )
        event.update(self.extensions)
        return event


def _why_where_who(e: ObjectEvent | TransformationEvent) -> dict[str, Any]:
    """The dimensions both event types carry alike (why, where, which business transaction,
    from whom to whom), as EPCIS 2.0 JSON keys in the standard's order."""
    return {
        "bizStep": e.biz_step,
        "disposition": e.disposition,
        "readPoint": None if e.read_point is None else {"id": e.read_point},
        "bizLocation": None if e.biz_location is None else {"id": e.biz_location},
        "bizTransactionList": [t.to_json() for t in e.biz_transactions],
        "sourceList": [{"type": s.type, "source": s.id} for s in e.sources],
        "destinationList": [{"type": d.type, "destination": d.id} for d in e.destinations],
    }


def epcis_document(
    events: Iterable[ObjectEvent | TransformationEvent | Mapping[str, Any]],
    *,
    creation_date: datetime,
    context: Iterable[str | Mapping[str, str]] = (EPCIS_CONTEXT,),
    times: TimeFormat = ISO,
) -> dict[str, Any]:
    """An EPCIS 2.0 ``EPCISDocument`` of ``events`` (built, or JSON already), for
    ``parse_document`` or POST /v1/events; ``context`` adds the prefixes extensions use."""
    return {
        "@context": [c if isinstance(c, str) else dict(c) for c in context],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": times.render(creation_date),
        "epcisBody": {
            "eventList": [
                e.to_json() if isinstance(e, ObjectEvent | TransformationEvent) else e
                for e in events
            ]
        },
    }


def _check_extensions(extensions: Mapping[str, Any]) -> None:
    # An extension is a prefixed name (fp:grade): never a standard field written over.
    for key in extensions:
        if ":" not in key:
            raise ValueError(f"extension field {key!r} needs a prefix (fp:name)")


def _time(at: datetime | None, times: TimeFormat) -> str | None:
    return None if at is None else times.render(at)


def _present(**fields: Any) -> dict[str, Any]:
    """The fields that are given: neither None nor an empty list."""
    return {k: v for k, v in fields.items() if v is not None and v != []}
