"""EPCIS 2.0 query parameters (§8.2.7.1 SimpleEventQuery; REST binding §12) read into a query.

The REST binding carries them in the URL: a list value is separated by ``|``
(``EQ_bizStep=shipping|receiving``) or given by repeating the parameter; any other
parameter given twice is refused. Every parameter not listed here, standard or not, is a
``QueryParameterException`` (the standard's answer to one an implementation does not know),
as is a value that does not read: a time without its offset, an unknown event type, a
business step outside CBV, a number that is none.

Supported: ``eventType``, ``GE_/LT_eventTime``, ``GE_/LT_recordTime``, ``EQ_action``,
``EQ_bizStep``, ``EQ_disposition``, ``EQ_readPoint``/``WD_readPoint``,
``EQ_bizLocation``/``WD_bizLocation`` (``WD_`` as ``EQ_``: no master data names a location's
children), ``EQ_eventID``, ``MATCH_epc``, ``MATCH_parentID``, ``MATCH_inputEPC``,
``MATCH_outputEPC``, ``MATCH_anyEPC``, ``MATCH_epcClass``, ``MATCH_inputEPCClass``,
``MATCH_outputEPCClass``, ``MATCH_anyEPCClass`` (an EPC URI or a GS1 Digital Link, either
form finding the events that carry the other, or a ``urn:epc:idpat:`` pattern with trailing
``*``, which matches EPC URIs only: there is no Digital Link pattern), ``EQ_source_<type>``, ``EQ_destination_<type>``,
``EQ_bizTransaction_<type>``, ``EQ_type`` (a sensorReport's measurement type),
``EQ_deviceID``, ``GT_/GE_/LT_/LE_<number>_<uom>`` for ``value``, ``minValue``, ``maxValue``,
``meanValue``, ``sDev`` and ``percValue`` (temperatures and accelerations compared in any of
their units), ``orderBy`` (``eventTime``, ``recordTime``), ``orderDirection``,
``eventCountLimit``, ``maxEventCount``, ``perPage``, ``nextPageToken``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from supplychain.epcis.timestamps import parse_datetime
from supplychain.epcis.vocabulary import CBVVocabulary, cbv_short
from supplychain.identifiers.digital_link import identity
from supplychain.query.errors import QueryParameterError
from supplychain.query.index import EPC_FIELDS, SENSOR_FIELDS, normalise_reading, sensor_type

__all__ = [
    "EVENT_TYPES",
    "PAGING",
    "EventQuery",
    "Match",
    "SensorBound",
    "canonical",
    "read_query",
]

EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)
"""The standard's five event types (TransactionEvent is never captured here: none match)."""

PAGING = ("perPage", "nextPageToken")
"""Parameters that choose a page, not the events: left out of a query's canonical form."""

_EPC = tuple(dict.fromkeys(EPC_FIELDS.values()))  # epc, inputEPC, outputEPC
_MATCH = {
    "MATCH_epc": ("epc",),
    "MATCH_parentID": ("parentID",),
    "MATCH_inputEPC": ("inputEPC",),
    "MATCH_outputEPC": ("outputEPC",),
    "MATCH_anyEPC": (*_EPC, "parentID"),
    "MATCH_epcClass": ("epcClass",),
    "MATCH_inputEPCClass": ("inputEPCClass",),
    "MATCH_outputEPCClass": ("outputEPCClass",),
    "MATCH_anyEPCClass": ("epcClass", "inputEPCClass", "outputEPCClass"),
}
_EQUALS = {
    "EQ_readPoint": "readPoint",
    "WD_readPoint": "readPoint",
    "EQ_bizLocation": "bizLocation",
    "WD_bizLocation": "bizLocation",
    "EQ_eventID": "eventID",
    "EQ_deviceID": "deviceID",
}
_SIDES = re.compile(r"EQ_(source|destination|bizTransaction)_(.+)")
_SENSOR = re.compile(r"(EQ|GT|GE|LT|LE)_(" + "|".join(SENSOR_FIELDS) + r")_([A-Za-z0-9]{1,8})")
_PATTERN = re.compile(r"urn:epc:idpat:([a-z0-9-]+):(.+)")
_VOCABULARY = {
    "source": CBVVocabulary.SOURCE_DESTINATION_TYPE,
    "destination": CBVVocabulary.SOURCE_DESTINATION_TYPE,
    "bizTransaction": CBVVocabulary.BIZ_TRANSACTION_TYPE,
}


@dataclass(frozen=True)
class Match:
    """Any of ``fields`` holds one of ``exact``, or a value starting with one of ``prefixes``,
    or has one of ``identities`` beside a value (``supplychain.query.index.identity_field``)."""

    fields: tuple[str, ...]
    exact: tuple[str, ...]
    prefixes: tuple[str, ...] = ()
    identities: tuple[str, ...] = ()


@dataclass(frozen=True)
class SensorBound:
    """Some sensorReport's ``field`` in ``uom`` compares ``op`` (GT, GE, LT, LE) with ``value``."""

    field: str
    uom: str
    op: str
    value: float


@dataclass(frozen=True)
class EventQuery:
    """A SimpleEventQuery: every condition given must hold (and, within a list, any value)."""

    event_types: tuple[str, ...] | None = None
    event_time: tuple[datetime | None, datetime | None] = (None, None)  # [GE, LT)
    record_time: tuple[datetime | None, datetime | None] = (None, None)
    biz_steps: tuple[str, ...] | None = None
    dispositions: tuple[str, ...] | None = None
    matches: tuple[Match, ...] = ()
    sensors: tuple[SensorBound, ...] = ()
    order_by: str = "recordTime"
    descending: bool = False
    event_count_limit: int | None = None
    max_event_count: int | None = None
    per_page: int | None = None
    page_token: str | None = None
    params: tuple[tuple[str, str], ...] = field(default=(), compare=False)


def canonical(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The parameters that choose the events, sorted: one query, one form, whatever order."""
    return tuple(sorted((k, v) for k, v in pairs if k not in PAGING))


def _one(name: str, values: list[str]) -> str:
    if len(values) != 1:
        raise QueryParameterError(name, "given more than once; it takes one value")
    if not values[0].strip():
        raise QueryParameterError(name, "has no value")
    return values[0].strip()


def _many(name: str, values: list[str]) -> tuple[str, ...]:
    found = tuple(dict.fromkeys(v.strip() for value in values for v in value.split("|")))
    if not found or any(not v for v in found):
        raise QueryParameterError(name, "has an empty value")
    return found


def _time(name: str, values: list[str]) -> datetime:
    # A '+' in a query string decodes as a space unless sent as %2B: read it as meant.
    text = _one(name, values).replace(" ", "+")
    parsed, reason = parse_datetime(text)
    if parsed is None:
        raise QueryParameterError(name, str(reason))
    return parsed.astimezone(UTC)


def _count(name: str, values: list[str]) -> int:
    text = _one(name, values)
    if not text.isdigit() or int(text) < 1:
        raise QueryParameterError(name, f"{text!r} is not a positive integer")
    return int(text)


def _cbv(name: str, values: list[str], vocabulary: CBVVocabulary) -> tuple[str, ...]:
    out = []
    for value in _many(name, values):
        short, reason = cbv_short(value, vocabulary)
        if short is None:
            raise QueryParameterError(name, str(reason))
        out.append(short)
    return tuple(out)


def _pattern(name: str, value: str, classes: bool) -> tuple[str, ...]:
    """The prefixes an ``urn:epc:idpat:`` pattern stands for (a trailing run of ``*``); a
    pattern without ``*`` stands for the one EPC it names."""
    m = _PATTERN.fullmatch(value)
    if m is None:
        raise QueryParameterError(name, f"{value!r} is neither an EPC URI nor an idpat pattern")
    scheme, parts = m.group(1), m.group(2).split(".")
    fixed = [p for p in parts if p != "*"]
    if "*" in parts[: len(fixed)] or not fixed:
        raise QueryParameterError(name, f"{value!r}: only trailing fields may be '*'")
    if len(fixed) == len(parts):
        return (f"urn:epc:id:{scheme}:{m.group(2)}",)  # no '*': the one EPC it names
    stem = ".".join(fixed) + "."
    prefixes = [f"urn:epc:id:{scheme}:{stem}"]
    if classes and scheme == "sgtin":
        prefixes.append(f"urn:epc:class:lgtin:{stem}")  # the GTIN's lots
    return tuple(prefixes)


def _match(name: str, values: list[str]) -> Match:
    """An identifier matches in either form: an event carries it as given, or as its
    identity (the canonical Digital Link), or in another form of that identity (the index's
    identity rows). A pattern with ``*`` matches the EPC URIs it stands for, as captured."""
    classes = name.endswith("Class")
    named: list[str] = []  # identifiers, each findable in any of its forms
    patterns: list[str] = []  # class-level quantities captured as the pattern itself
    prefixes: list[str] = []
    for value in _many(name, values):
        if value.startswith("urn:epc:idpat:") and "*" not in value:
            named += _pattern(name, value, classes)
        elif value.startswith("urn:epc:idpat:"):
            prefixes += _pattern(name, value, classes)
            if classes:
                patterns.append(value)
        else:
            named.append(value)
    identities = tuple(dict.fromkeys(map(identity, named)))
    exact = tuple(dict.fromkeys([*named, *identities, *patterns]))
    return Match(_MATCH[name], exact, tuple(prefixes), identities)


def _sensor(name: str, m: re.Match[str], values: list[str]) -> SensorBound:
    op, number_field, uom = m.group(1), m.group(2), m.group(3)
    if op == "EQ":
        raise QueryParameterError(
            name, "equality on a sensor number is not supported; bound it with GE_ and LE_"
        )
    text = _one(name, values)
    try:
        number = float(text)
    except ValueError:
        raise QueryParameterError(name, f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise QueryParameterError(name, f"{text!r} is not a finite number")
    value, unit = normalise_reading(number_field, number, uom)
    return SensorBound(number_field, unit, op, value)


def _pairs_by_name(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    by_name: dict[str, list[str]] = {}
    for name, value in pairs:
        by_name.setdefault(name, []).append(value)
    return by_name


def read_query(pairs: Iterable[tuple[str, str]], *, event_type: str | None = None) -> EventQuery:
    """Read URL query parameters into an ``EventQuery``; ``QueryParameterError`` if one is bad.

    ``event_type`` is the one a path names (``/eventTypes/{eventType}/events``): it narrows
    ``eventType`` further.
    """
    pairs = list(pairs)
    by_name = _pairs_by_name(pairs)
    kw: dict[str, object] = {}
    matches: list[Match] = []
    sensors: list[SensorBound] = []
    times: dict[str, datetime] = {}
    for name, values in by_name.items():
        if name == "eventType":
            types = _many(name, values)
            unknown = [t for t in types if t not in EVENT_TYPES]
            if unknown:
                raise QueryParameterError(name, f"{unknown[0]!r} is not an EPCIS event type")
            kw["event_types"] = types
        elif name in ("GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime"):
            times[name] = _time(name, values)
        elif name == "EQ_action":
            actions = _many(name, values)
            if bad := [a for a in actions if a not in ("ADD", "OBSERVE", "DELETE")]:
                raise QueryParameterError(name, f"{bad[0]!r} is not one of ADD, OBSERVE, DELETE")
            matches.append(Match(("action",), actions))
        elif name == "EQ_bizStep":
            kw["biz_steps"] = _cbv(name, values, CBVVocabulary.BIZ_STEP)
        elif name == "EQ_disposition":
            kw["dispositions"] = _cbv(name, values, CBVVocabulary.DISPOSITION)
        elif name in _EQUALS:
            matches.append(Match((_EQUALS[name],), _many(name, values)))
        elif name in _MATCH:
            matches.append(_match(name, values))
        elif name == "EQ_type":
            matches.append(Match(("sensorType",), tuple(map(sensor_type, _many(name, values)))))
        elif m := _SIDES.fullmatch(name):
            kind, reason = cbv_short(m.group(2), _VOCABULARY[m.group(1)])
            if kind is None:
                raise QueryParameterError(name, str(reason))
            matches.append(Match((f"{m.group(1)}:{kind}",), _many(name, values)))
        elif m := _SENSOR.fullmatch(name):
            sensors.append(_sensor(name, m, values))
        elif name == "orderBy":
            order = _one(name, values)
            if order not in ("eventTime", "recordTime"):
                raise QueryParameterError(name, f"{order!r}: order by eventTime or recordTime")
            kw["order_by"] = order
        elif name == "orderDirection":
            direction = _one(name, values)
            if direction not in ("ASC", "DESC"):
                raise QueryParameterError(name, f"{direction!r} is not ASC or DESC")
            kw["descending"] = direction == "DESC"
        elif name in ("eventCountLimit", "maxEventCount", "perPage"):
            key = {"eventCountLimit": "event_count_limit", "maxEventCount": "max_event_count"}
            kw[key.get(name, "per_page")] = _count(name, values)
        elif name == "nextPageToken":
            kw["page_token"] = _one(name, values)
        else:
            raise QueryParameterError(name, "not a query parameter this repository supports")
    if "event_count_limit" in kw and "max_event_count" in kw:
        raise QueryParameterError("maxEventCount", "cannot be combined with eventCountLimit")
    if event_type is not None:
        chosen = kw.get("event_types")
        named = chosen if isinstance(chosen, tuple) else (event_type,)
        kw["event_types"] = tuple(t for t in named if t == event_type)
    for span in ("eventTime", "recordTime"):
        low, high = times.get(f"GE_{span}"), times.get(f"LT_{span}")
        if low is not None and high is not None and high <= low:
            raise QueryParameterError(f"LT_{span}", f"is not after GE_{span}")
        kw["event_time" if span == "eventTime" else "record_time"] = (low, high)
    return EventQuery(
        matches=tuple(matches),
        sensors=tuple(sensors),
        params=canonical(pairs),
        **kw,  # type: ignore[arg-type]
    )
