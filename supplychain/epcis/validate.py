"""GS1 EPCIS 2.0 capture parsing (JSON / JSON-LD) and the CBV 2.0 canonical event hash.

`parse_document` validates a whole `EPCISDocument`, collects every problem into one
`EPCISDocumentError`, and otherwise returns frozen `CaptureEvent` views (times in UTC,
temperatures in °C, CBV values as short names) each carrying its event hash id.

Event hash id (CBV 2.0 §8.9 "Event Hash Generation Algorithm"; cross-checked against the
reference implementation RalphTro/epcis-event-hash-generator and openepcis' canonical
property order). What follows the algorithm exactly:

1. Pre-hash string = ``eventType=<type>`` followed by the fields in the canonical property
   order (eventTime, eventTimeZoneOffset, certificationInfo, epcList, parentID,
   inputEPCList, childEPCs, quantityList, childQuantityList, inputQuantityList,
   outputEPCList, outputQuantityList, action, transformationID, bizStep, disposition,
   persistentDisposition, readPoint, bizLocation, bizTransactionList, sourceList,
   destinationList, sensorElementList, ilmd, user extensions), concatenated without
   separators, ``key=value`` for values, bare key for containers, absent/empty fields
   omitted; eventID, recordTime and errorDeclaration are not hashed.
2. List children (``epc``, ``quantityElement``, ``sensorElement``, ``sensorReport``,
   type/id pairs of bizTransaction/source/destination with ``type`` first) are rendered,
   then sorted by code point; each list name appears once.
3. Values: whitespace trimmed; timestamps to UTC with milliseconds
   (``YYYY-MM-DDTHH:MM:SS.sssZ``, sub-millisecond digits rounded half up); numbers without
   trailing zeros; ``urn:epcglobal:cbv:*`` URNs and JSON bare CBV words to
   ``https://ref.gs1.org/cbv/<Vocab>-<word>``; bare sensor types to ``https://gs1.org/voc/``;
   CURIEs expanded (gs1, cbv, epcis, cbvmda and the document's ``@context`` prefixes);
   EPC URIs (sgtin, sscc, sgln, pgln, grai, giai, gsrn, gsrnp, gdti, lgtin class, sgtin
   id pattern) to canonical GS1 Digital Link URIs; GS1 Digital Link URIs constrained
   (id.gs1.org domain, no query string, finest key qualifier only, GTIN padded to 14).
4. ILMD and user extensions as ``{namespace}localName[=value]`` strings sorted by code
   point, extensions inside readPoint/bizLocation/sensorElement/sensorMetadata/
   sensorReport appended after that element's standard fields.
5. ``ni:///sha-256;<lower-case hex>?ver=CBV2.0`` (RFC 6920 'ni' URI).

Simplified (documented divergences; none affects the invariance properties):

- EPC schemes cpi, sgcn, ginc, gsin, itip, upui and their id patterns are not converted to
  Digital Link; they are hashed as given (trimmed).
- Timestamps inside ILMD/extensions are recognised by their shape (an xsd:dateTime with an
  offset), not by schema type; numeric-looking strings are normalised like numbers, as
  the reference implementation does.
- JSON booleans hash as ``true``/``false`` (the XML lexical form).
- A timestamp exactly half-way between two milliseconds rounds up; the reference
  implementation rounds such ties to even.
- certificationInfo is placed after eventTimeZoneOffset as in the reference and openepcis
  property orders; the CBV table of §8.9 predates that field.
- Extension keys whose prefix is not declared in any ``@context`` and full-IRI keys are
  hashed verbatim rather than split into ``{namespace}local``.
- The reference implementation's ``.prehashes`` files order destinationList before
  sourceList for some documents; we follow the published canonical order (sourceList
  first), as openepcis does.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

from ledger import strict_json
from ledger.errors import LedgerError

__all__ = [
    "ACCELERATION_UOMS",
    "BIZ_STEPS",
    "BIZ_TRANSACTION_TYPES",
    "DISPOSITIONS",
    "EVENT_TYPES",
    "HASH_VERSION",
    "SOURCE_DESTINATION_TYPES",
    "TEMPERATURE_UOMS",
    "AccelerationReading",
    "CBVVocabulary",
    "CaptureEvent",
    "CaptureLimits",
    "DocumentTooLargeError",
    "EPCISDocument",
    "EPCISDocumentError",
    "EPCISError",
    "EPCISValidationError",
    "TemperatureReading",
    "TooManyEventsError",
    "TooManyReadingsError",
    "cbv_short_name",
    "cbv_uri",
    "event_hash_id",
    "event_prehash",
    "lot",
    "parse_document",
    "stored_temperatures",
    "to_celsius",
    "to_digital_link",
]

HASH_VERSION = "CBV2.0"
"""Version tag written into every event hash id (``?ver=CBV2.0``)."""

EVENT_TYPES = frozenset(
    {"ObjectEvent", "AggregationEvent", "TransformationEvent", "AssociationEvent"}
)
"""EPCIS 2.0 event types this parser accepts (TransactionEvent is not supported)."""

TEMPERATURE_UOMS = frozenset({"CEL", "FAR", "KEL"})
"""UN/CEFACT Rec. 20 codes accepted for temperature reports."""

ACCELERATION_UOMS = {"MSK": 1.0, "K40": 9.80665}
"""UN/CEFACT Rec. 20 codes accepted for acceleration reports, with their size in m/s²
(MSK metre per second squared, K40 standard acceleration of free fall, g)."""

BIZ_STEPS = frozenset(
    {
        "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
        "creating_class_instance", "cycle_counting", "decommissioning", "departing",
        "destroying", "disassembling", "dispensing", "encoding", "entering_exiting",
        "holding", "inspecting", "installing", "killing", "loading", "other", "packing",
        "picking", "receiving", "removing", "repackaging", "repairing", "replacing",
        "reserving", "retail_selling", "sampling", "sensor_reporting", "shipping",
        "staging_outbound", "stock_taking", "stocking", "storing", "transporting",
        "unloading", "unpacking", "void_shipping",
    }
)  # fmt: skip
"""CBV 2.0 business steps (short names)."""

DISPOSITIONS = frozenset(
    {
        "active", "available", "completeness_inferred", "completeness_verified",
        "conformant", "container_closed", "container_open", "damaged", "destroyed",
        "dispensed", "disposed", "encoded", "expired", "in_progress", "in_transit",
        "inactive", "mismatch_class", "mismatch_instance", "mismatch_quantity",
        "needs_replacement", "no_pedigree_match", "non_conformant", "non_sellable_other",
        "partially_dispensed", "recalled", "reserved", "retail_sold", "returned",
        "sellable_accessible", "sellable_not_accessible", "stolen", "unavailable", "unknown",
    }
)  # fmt: skip
"""CBV 2.0 dispositions (short names)."""

SOURCE_DESTINATION_TYPES = frozenset({"owning_party", "possessing_party", "location"})
"""CBV 2.0 source/destination types (short names)."""

BIZ_TRANSACTION_TYPES = frozenset(
    {
        "bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv",
        "rma", "testprd", "testres", "upevt",
    }
)  # fmt: skip
"""CBV 2.0 business transaction types (short names)."""


# --------------------------------------------------------------------------- errors


class EPCISError(LedgerError):
    """Root of the errors raised while reading EPCIS documents."""


class EPCISValidationError(EPCISError):
    """One problem in an EPCIS document: the event index (None: document level) and field."""

    def __init__(self, *, index: int | None, field: str, reason: str) -> None:
        self.index = index
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def __repr__(self) -> str:
        return (
            f"EPCISValidationError(index={self.index!r}, field={self.field!r}, "
            f"reason={self.reason!r})"
        )


class EPCISDocumentError(EPCISError):
    """Every problem found in one EPCIS document; nothing of the document was accepted."""

    def __init__(self, errors: list[EPCISValidationError]) -> None:
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"{len(self.errors)} error(s) in EPCIS document: {shown}{more}")


class TooManyEventsError(EPCISError):
    """A document with more events than one capture accepts (limit, actual); split it."""

    def __init__(self, *, limit: int, actual: int) -> None:
        self.limit = limit
        self.actual = actual
        super().__init__(
            f"the document has {actual} events; one capture accepts at most {limit}: "
            "send the rest in further documents"
        )


class DocumentTooLargeError(EPCISError):
    """A document over the byte limit (limit, actual), refused before it is parsed."""

    def __init__(self, *, limit: int, actual: int) -> None:
        self.limit = limit
        self.actual = actual
        super().__init__(
            f"the document is {actual} bytes; one capture accepts at most {limit}: "
            "send the rest in further documents"
        )


class TooManyReadingsError(EPCISError):
    """A document with more sensor readings in all than one capture accepts (limit, actual)."""

    def __init__(self, *, limit: int, actual: int) -> None:
        self.limit = limit
        self.actual = actual
        super().__init__(
            f"the document has {actual} sensor readings; one capture accepts at most {limit}: "
            "send the rest in further documents"
        )


@dataclass(frozen=True, slots=True)
class CaptureLimits:
    """What one capture accepts: events, bytes and sensor readings per document; clock skew.

    Reading an event costs tens of microseconds per sensor reading and a few hundred bytes of
    memory per JSON value, so bytes and readings bound a document's parse time and memory
    where the event count alone does not (1,000 events of 1,000 readings each: 57.5 MB).
    ``None``: no limit.
    """

    max_events: int = 1000
    max_bytes: int | None = None
    max_readings: int | None = None
    # Two parties' clocks disagree by seconds to minutes; an event hours ahead is a bad clock
    # or a typing error, and would reorder custody if accepted.
    max_clock_skew: timedelta = timedelta(minutes=5)


class _Errors:
    """Collector so that one pass reports every problem of a document."""

    def __init__(self) -> None:
        self.items: list[EPCISValidationError] = []

    def add(self, index: int | None, field: str, reason: str) -> None:
        self.items.append(EPCISValidationError(index=index, field=field, reason=reason))

    def __len__(self) -> int:
        return len(self.items)


# --------------------------------------------------------------------------- CBV vocabulary


class CBVVocabulary(StrEnum):
    """A CBV vocabulary, valued by its web-URI term prefix (``BizStep`` → ``BizStep-x``)."""

    BIZ_STEP = "BizStep"
    DISPOSITION = "Disp"
    SOURCE_DESTINATION_TYPE = "SDT"
    BIZ_TRANSACTION_TYPE = "BTT"


_CBV_WORDS: dict[CBVVocabulary, frozenset[str]] = {
    CBVVocabulary.BIZ_STEP: BIZ_STEPS,
    CBVVocabulary.DISPOSITION: DISPOSITIONS,
    CBVVocabulary.SOURCE_DESTINATION_TYPE: SOURCE_DESTINATION_TYPES,
    CBVVocabulary.BIZ_TRANSACTION_TYPE: BIZ_TRANSACTION_TYPES,
}
_CBV_URN_SEGMENT = {
    CBVVocabulary.BIZ_STEP: "bizstep",
    CBVVocabulary.DISPOSITION: "disp",
    CBVVocabulary.SOURCE_DESTINATION_TYPE: "sdt",
    CBVVocabulary.BIZ_TRANSACTION_TYPE: "btt",
}
_CBV_WEB = "https://ref.gs1.org/cbv/"
_GS1_VOC = "https://gs1.org/voc/"
# CBV 1.x URN namespaces and their CBV 2.0 web-vocabulary term prefixes (incl. error reasons).
_CBV_URN_TO_WEB = {
    "urn:epcglobal:cbv:bizstep:": _CBV_WEB + "BizStep-",
    "urn:epcglobal:cbv:disp:": _CBV_WEB + "Disp-",
    "urn:epcglobal:cbv:btt:": _CBV_WEB + "BTT-",
    "urn:epcglobal:cbv:sdt:": _CBV_WEB + "SDT-",
    "urn:epcglobal:cbv:er:": _CBV_WEB + "ER-",
}


def _cbv_short(value: str, vocabulary: CBVVocabulary) -> tuple[str | None, str | None]:
    """Return (short name or custom URI, None) or (None, reason)."""
    text = value.strip()
    words = _CBV_WORDS[vocabulary]
    word: str | None = None
    urn_prefix = f"urn:epcglobal:cbv:{_CBV_URN_SEGMENT[vocabulary]}:"
    web_prefix = f"{_CBV_WEB}{vocabulary.value}-"
    curie_prefix = f"cbv:{vocabulary.value}-"
    if ":" not in text:
        word = text
    elif text.startswith(urn_prefix):
        word = text[len(urn_prefix) :]
    elif text.lower().startswith(web_prefix.lower()):
        # Case-blind: GS1 material also spells the term prefix "Bizstep-".
        word = text[len(web_prefix) :]
    elif text.startswith(curie_prefix):
        word = text[len(curie_prefix) :]
    elif text.startswith(("urn:epcglobal:cbv:", _CBV_WEB, "cbv:")):
        return None, f"{text!r} is a CBV term of another vocabulary, not a {vocabulary.value}"
    else:
        return text, None  # a private vocabulary URI, kept as given
    if word in words:
        return word, None
    return None, f"{text!r} is not a CBV 2.0 {vocabulary.value} value; custom values must be URIs"


def cbv_short_name(value: str, *, vocabulary: CBVVocabulary) -> str:
    """Return the CBV short name of `value` (short, URN, web URI or CURIE); custom URIs as is."""
    short, reason = _cbv_short(value, vocabulary)
    if short is None:
        raise EPCISValidationError(index=None, field=vocabulary.value, reason=str(reason))
    return short


def cbv_uri(short_name: str, *, vocabulary: CBVVocabulary) -> str:
    """Return the canonical CBV 2.0 web URI of a standard short name."""
    if short_name not in _CBV_WORDS[vocabulary]:
        raise EPCISValidationError(
            index=None,
            field=vocabulary.value,
            reason=f"{short_name!r} is not a CBV 2.0 {vocabulary.value} value",
        )
    return f"{_CBV_WEB}{vocabulary.value}-{short_name}"


# --------------------------------------------------------------------------- time

_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?(Z|[+-]\d{2}:\d{2})?$"
)
_OFFSET_RE = re.compile(r"^[+-](?:(?:0\d|1[0-3]):[0-5]\d|14:00)$")


def _parse_datetime(text: Any) -> tuple[datetime | None, str | None]:
    """Parse an xsd:dateTime that must carry an offset; return (aware datetime, None) or reason."""
    if not isinstance(text, str):
        return None, f"expected an ISO 8601 date-time string, got {type(text).__name__}"
    match = _DATETIME_RE.match(text.strip())
    if match is None:
        return None, f"{text!r} is not an ISO 8601 date-time (YYYY-MM-DDThh:mm:ss[.fff]±hh:mm)"
    year, month, day, hour, minute, second, frac, offset = match.groups()
    if offset is None:
        return None, f"{text!r} has no UTC offset (naive timestamps are ambiguous)"
    if offset != "Z" and not _OFFSET_RE.match(offset):
        return None, f"{text!r} has an out-of-range UTC offset"
    tz = UTC
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    micro = int((frac or "").ljust(6, "0")[:6])
    try:
        value = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError as exc:
        return None, f"{text!r} is not a valid date-time: {exc}"
    return value, None


def _hash_timestamp(text: str) -> str | None:
    """Return the CBV hash form of a timestamp (UTC, milliseconds, 'Z'), or None if not one."""
    match = _DATETIME_RE.match(text)
    if match is None or match.group(8) is None:
        return None
    parsed, _ = _parse_datetime(text)
    if parsed is None:
        return None
    frac = match.group(7) or "0"
    # Round on the written digits, not on the microsecond-truncated datetime.
    millis = (Decimal("0." + frac) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    utc = parsed.astimezone(UTC).replace(microsecond=0) + timedelta(milliseconds=int(millis))
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# --------------------------------------------------------------------------- GS1 identifiers


def _check_digit(digits: str) -> str:
    """GS1 mod-10 check digit (GS1 General Specifications §7.9.1)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _dl_escape(text: str) -> str:
    """Percent-encode what EPC URIs allow raw but GS1 Digital Link path segments do not."""
    for char, code in (
        ("!", "%21"), ("(", "%28"), (")", "%29"), ("*", "%2A"), ("+", "%2B"), (",", "%2C"),
        (":", "%3A"),
    ):  # fmt: skip
        text = text.replace(char, code)
    return text


_EPC_URI_RE = re.compile(r"^urn:epc:(id|class|idpat):([a-z]+):(.+)$")
_DIGITS_RE = re.compile(r"^\d+$")
_DL_PRIMARY = {
    "01": "01", "gtin": "01", "00": "00", "sscc": "00", "414": "414", "gln": "414",
    "417": "417", "party": "417", "8003": "8003", "grai": "8003", "8004": "8004",
    "giai": "8004", "253": "253", "gdti": "253", "8006": "8006", "itip": "8006",
    "8010": "8010", "cpid": "8010", "8017": "8017", "gsrnp": "8017", "8018": "8018",
    "gsrn": "8018", "255": "255", "gcn": "255", "401": "401", "ginc": "401",
    "402": "402", "gsin": "402",
}  # fmt: skip
_DL_QUALIFIER = {"22": "22", "cpv": "22", "10": "10", "lot": "10", "21": "21", "ser": "21"}
_DL_ALLOWED_QUALIFIERS = {
    "01": ("21", "10", "235"),
    "8006": ("21", "10"),
    "414": ("254",),
    "8010": ("8011",),
}


def _gs1_key(cp: str, ref: str, total: int) -> str | None:
    """Return cp+ref when both are digits, cp has 6-12 digits and together they have `total`."""
    if not (_DIGITS_RE.match(cp) and _DIGITS_RE.match(ref)) or not 6 <= len(cp) <= 12:
        return None
    return cp + ref if len(cp) + len(ref) == total else None


def _gtin14(cp: str, indicator_item: str) -> str | None:
    """Return the GTIN-14 of an EPC company prefix + indicator/item reference pair."""
    if _gs1_key(cp, indicator_item, 13) is None:
        return None
    body = indicator_item[0] + cp + indicator_item[1:]
    return body + _check_digit(body)


def _epc_to_dl(kind: str, scheme: str, rest: str) -> str | None:
    """Convert one EPC pure-identity / class / pattern URI to its canonical GS1 Digital Link."""
    base = "https://id.gs1.org"
    parts = rest.split(".")
    if kind == "id" and scheme == "sgtin" and len(parts) >= 3:
        gtin = _gtin14(parts[0], parts[1])
        serial = rest.split(".", 2)[2]
        if gtin and 1 <= len(serial) <= 20:
            return f"{base}/01/{gtin}/21/{_dl_escape(serial)}"
    elif kind == "id" and scheme == "sscc" and len(parts) == 2:
        if _gs1_key(parts[0], parts[1], 17):
            body = parts[1][0] + parts[0] + parts[1][1:]
            return f"{base}/00/{body}{_check_digit(body)}"
    elif kind == "id" and scheme == "sgln" and len(parts) >= 3:
        gln = _gs1_key(parts[0], parts[1], 12)
        ext = rest.split(".", 2)[2]
        if gln and ext:
            gln += _check_digit(gln)
            return f"{base}/414/{gln}" if ext == "0" else f"{base}/414/{gln}/254/{_dl_escape(ext)}"
    elif kind == "id" and scheme == "pgln" and len(parts) == 2:
        gln = _gs1_key(parts[0], parts[1], 12)
        if gln:
            return f"{base}/417/{gln}{_check_digit(gln)}"
    elif kind == "id" and scheme == "grai" and len(parts) >= 3:
        key = _gs1_key(parts[0], parts[1], 12)
        serial = rest.split(".", 2)[2]
        if key and serial:
            key = "0" + key
            return f"{base}/8003/{key}{_check_digit(key)}{_dl_escape(serial)}"
    elif kind == "id" and scheme == "giai" and len(parts) >= 2:
        cp, ref = rest.split(".", 1)
        if _DIGITS_RE.match(cp) and 6 <= len(cp) <= 12 and ref:
            return f"{base}/8004/{cp}{_dl_escape(ref)}"
    elif kind == "id" and scheme in ("gsrn", "gsrnp") and len(parts) == 2:
        key = _gs1_key(parts[0], parts[1], 17)
        if key:
            ai = "8018" if scheme == "gsrn" else "8017"
            return f"{base}/{ai}/{key}{_check_digit(key)}"
    elif kind == "id" and scheme == "gdti" and len(parts) >= 3:
        key = _gs1_key(parts[0], parts[1], 12)
        if key:
            return f"{base}/253/{key}{_check_digit(key)}{_dl_escape(rest.split('.', 2)[2])}"
    elif kind == "class" and scheme == "lgtin" and len(parts) >= 3:
        gtin = _gtin14(parts[0], parts[1])
        lot_code = rest.split(".", 2)[2]
        if gtin and 1 <= len(lot_code) <= 20:
            return f"{base}/01/{gtin}/10/{_dl_escape(lot_code)}"
    elif kind == "idpat" and scheme == "sgtin" and len(parts) == 3 and parts[2] == "*":
        gtin = _gtin14(parts[0], parts[1])
        if gtin:
            return f"{base}/01/{gtin}"
    return None


_DL_RE = re.compile(r"^https?://[^/?#\s]+(/[^?#\s]*)(?:\?[^#\s]*)?(?:#\S*)?$")


def _constrain_dl(uri: str) -> str | None:
    """Return the constrained canonical form of a GS1 Digital Link URI, or None if not one."""
    match = _DL_RE.match(uri)
    if match is None:
        return None
    segments = [s for s in match.group(1).split("/") if s]
    for i, segment in enumerate(segments[:-1]):
        ai = _DL_PRIMARY.get(segment)
        value = segments[i + 1]
        if ai is None or not re.match(r"^\d{4}", value):
            continue
        rest = segments[i + 2 :]
        if len(rest) % 2:
            return None
        if ai == "01" and _DIGITS_RE.match(value) and len(value) in (8, 12, 13):
            value = value.rjust(14, "0")
        qualifiers: dict[str, str] = {}
        for q, v in zip(rest[::2], rest[1::2], strict=True):
            qualifiers[_DL_QUALIFIER.get(q, q)] = v
        allowed = _DL_ALLOWED_QUALIFIERS.get(ai, ())
        # Only the finest identification level stays: a serial makes the lot redundant.
        if "21" in qualifiers:
            qualifiers.pop("10", None)
        kept = [f"/{q}/{qualifiers[q]}" for q in allowed if q in qualifiers][:1]
        return f"https://id.gs1.org/{ai}/{value}{''.join(kept)}"
    return None


def to_digital_link(uri: str) -> str | None:
    """Return the constrained canonical GS1 Digital Link URI for an EPC or DL URI, else None."""
    text = uri.strip()
    match = _EPC_URI_RE.match(text)
    if match is not None:
        return _epc_to_dl(*match.groups())
    if text.startswith(("http://", "https://")):
        return _constrain_dl(text)
    return None


def lot(class_uri: str) -> str | None:
    """Return the lot/batch part of an LGTIN class URI or a GS1 Digital Link with AI 10."""
    text = class_uri.strip()
    if text.startswith("urn:epc:class:lgtin:"):
        parts = text[len("urn:epc:class:lgtin:") :].split(".", 2)
        return unquote(parts[2]) if len(parts) == 3 and parts[2] else None
    match = re.search(r"/(?:10|lot)/([^/?#]+)", text) if text.startswith("http") else None
    if match is None or to_digital_link(text) is None:
        return None
    return unquote(match.group(1))


def _is_lot_class(uri: str) -> bool:
    """True for identifiers of a product lot (LGTIN class URI or DL with AI 10 and no serial)."""
    if uri.startswith("urn:epc:class:lgtin:"):
        return True
    dl = to_digital_link(uri) if uri.startswith("http") else None
    return dl is not None and "/10/" in dl


# --------------------------------------------------------------------------- temperatures


def to_celsius(value: float, uom: str) -> float:
    """Convert a temperature in a UN/CEFACT unit (CEL, FAR, KEL) to degrees Celsius."""
    if uom == "CEL":
        return float(value)
    if uom == "FAR":
        return (float(value) - 32.0) * 5.0 / 9.0
    if uom == "KEL":
        return float(value) - 273.15
    raise EPCISValidationError(
        index=None,
        field="uom",
        reason=f"unknown temperature uom {uom!r} (expected one of CEL, FAR, KEL)",
    )


_TEMPERATURE_TYPES = frozenset({_GS1_VOC + "Temperature", _GS1_VOC + "MT-Temperature"})
_ACCELERATION_TYPES = frozenset({_GS1_VOC + "Acceleration", _GS1_VOC + "MT-Acceleration"})
_REPORT_NUMBERS = ("value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue")
_ABSOLUTE_ZERO_C = -273.15


@dataclass(frozen=True, slots=True)
class TemperatureReading:
    """One temperature from a sensorReport, in °C, with the value and unit as captured.

    `celsius` comes from `value`, else `meanValue`, else `maxValue`, else `minValue`;
    `basis` names which. `time` is the report time, else the sensor metadata time
    (time, endTime, startTime), else the event time, always in UTC.

    A report without `value` is an aggregate (`aggregate`): min/max/mean over the period
    `start`..`end` (the sensor metadata's startTime/endTime, each else `time`). Its
    `celsius` is a summary, never a temperature at `time` (GUIDE §4 rule 5). Point
    readings leave `start` and `end` None.
    """

    time: datetime
    celsius: float
    original_value: float
    original_uom: str
    device_id: str | None
    basis: str = "value"
    min_celsius: float | None = None
    max_celsius: float | None = None
    mean_celsius: float | None = None
    start: datetime | None = None
    end: datetime | None = None
    # The numbers as captured, in `original_uom`, by report key (minValue, maxValue, ...).
    original_values: tuple[tuple[str, float], ...] = ()

    @property
    def aggregate(self) -> bool:
        """A summary over a period (min/max/mean), not a point reading."""
        return self.basis != "value"


@dataclass(frozen=True, slots=True)
class AccelerationReading:
    """One acceleration (shock) from a sensorReport, in m/s², with the value as captured.

    `mps2` is the report's `maxValue` when given (a shock logger reports the peak), else
    `value`, else `meanValue`. Times as for temperatures.
    """

    time: datetime
    mps2: float
    original_value: float
    original_uom: str
    device_id: str | None


# --------------------------------------------------------------------------- domain view


@dataclass(frozen=True, slots=True)
class CaptureEvent:
    """A validated EPCIS event as the rest of the system sees it."""

    index: int
    event_type: str
    hash_id: str
    declared_id: str | None
    event_time: datetime
    event_time_zone_offset: str
    action: str | None
    biz_step: str | None
    disposition: str | None
    epcs: tuple[str, ...]
    lots: tuple[str, ...]
    parent_id: str | None
    read_point: str | None
    biz_location: str | None
    sources: tuple[tuple[str, str], ...]
    destinations: tuple[tuple[str, str], ...]
    temperatures: tuple[TemperatureReading, ...]
    raw: dict[str, Any] = field(compare=False, repr=False)
    accelerations: tuple[AccelerationReading, ...] = ()

    @property
    def is_inspection(self) -> bool:
        """True when the business step is CBV ``inspecting`` (a handover inspection)."""
        return self.biz_step == "inspecting"

    def possessing_party_source(self) -> str | None:
        """Return the id of the first ``possessing_party`` source, if any."""
        return next((i for t, i in self.sources if t == "possessing_party"), None)

    def possessing_party_destination(self) -> str | None:
        """Return the id of the first ``possessing_party`` destination, if any."""
        return next((i for t, i in self.destinations if t == "possessing_party"), None)


@dataclass(frozen=True, slots=True)
class EPCISDocument:
    """A validated EPCIS 2.0 document: header facts and its events in document order."""

    schema_version: str
    creation_date: datetime
    events: tuple[CaptureEvent, ...]


# --------------------------------------------------------------------------- loading


def _load(doc: Mapping[str, Any] | bytes | str, errors: _Errors) -> Mapping[str, Any] | None:
    """Decode `doc` into a JSON object, recording why not.

    Bytes and text go through the one strict reader (``ledger.strict_json``): duplicate keys
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


_DEFAULT_PREFIXES = {
    "gs1": _GS1_VOC,
    "cbv": _CBV_WEB,
    "epcis": "https://ref.gs1.org/epcis/",
    "cbvmda": "urn:epcglobal:cbv:mda",
}


def _context_prefixes(*contexts: Any) -> dict[str, str]:
    """Collect CURIE prefixes from JSON-LD @context values (strings are remote contexts)."""
    prefixes = dict(_DEFAULT_PREFIXES)
    for context in contexts:
        items = context if isinstance(context, list) else [context]
        for item in items:
            if isinstance(item, dict):
                for key, value in item.items():
                    if isinstance(value, str) and not key.startswith("@"):
                        prefixes[key] = value
    return prefixes


# --------------------------------------------------------------------------- event hash

_TIME_FIELDS = ("eventTime",)
_EPC_LISTS = ("epcList", "inputEPCList", "childEPCs", "outputEPCList")
_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_CANONICAL_ORDER = (
    "eventTime", "eventTimeZoneOffset", "certificationInfo", "epcList", "parentID",
    "inputEPCList", "childEPCs", "quantityList", "childQuantityList", "inputQuantityList",
    "outputEPCList", "outputQuantityList", "action", "transformationID", "bizStep",
    "disposition", "persistentDisposition", "readPoint", "bizLocation", "bizTransactionList",
    "sourceList", "destinationList", "sensorElementList", "ilmd",
)  # fmt: skip
_NOT_HASHED = frozenset(
    {"type", "eventID", "recordTime", "errorDeclaration", "rdfs:comment", "comment"}
)
_METADATA_ORDER = (
    "time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData",
    "dataProcessingMethod", "bizRules",
)  # fmt: skip
_REPORT_ORDER = (
    "type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod",
    "time", "microorganism", "chemicalSubstance", "value", "component", "stringValue",
    "booleanValue", "hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue", "sDev",
    "percRank", "percValue", "uom", "coordinateReferenceSystem",
)  # fmt: skip
_QUANTITY_ORDER = ("epcClass", "quantity", "uom")
# Bare JSON words of these fields are CBV/GS1 vocabulary terms (EPCIS 2.0 JSON-LD context).
_BARE_WORD_BASE = {
    "bizStep": _CBV_WEB + "BizStep-",
    "disposition": _CBV_WEB + "Disp-",
    "set": _CBV_WEB + "Disp-",
    "unset": _CBV_WEB + "Disp-",
    "btt": _CBV_WEB + "BTT-",
    "sdt": _CBV_WEB + "SDT-",
    "sensorType": _GS1_VOC,
    "exception": _GS1_VOC + "SensorAlertType-",
    "component": _CBV_WEB + "Comp-",
}
_NUMERIC_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_CURIE_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*):(.+)$")


class _Unhashable(Exception):
    """A value inside an event has no JSON meaning (NaN, a Python object)."""


def _number(value: float | int) -> str:
    """Number without trailing zeros, as the CBV rule (and the reference code) write it."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Unhashable(f"{value!r} is not a JSON number")
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def _canon(value: Any, prefixes: Mapping[str, str], vocab: str | None = None) -> str | None:
    """Canonical pre-hash text of one value, or None when it is empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if not isinstance(value, str):
        raise _Unhashable(f"{type(value).__name__} is not a JSON scalar")
    text = value.strip()
    if not text:
        return None
    if vocab is not None and ":" not in text:
        return _BARE_WORD_BASE[vocab] + text
    stamp = _hash_timestamp(text)
    if stamp is not None:
        return stamp
    for urn, web in _CBV_URN_TO_WEB.items():
        if text.startswith(urn):
            return web + text[len(urn) :]
    curie = _CURIE_RE.match(text)
    if curie and curie.group(1) in prefixes and not curie.group(2).startswith("//"):
        text = prefixes[curie.group(1)] + curie.group(2)
    if _NUMERIC_RE.match(text):
        return _number(float(text)) if any(c in text for c in ".eE") else str(int(text))
    return to_digital_link(text) or text


def _key(name: str, prefixes: Mapping[str, str]) -> str:
    """Extension key as ``{namespace}local`` when its prefix is declared, else verbatim."""
    curie = _CURIE_RE.match(name)
    if curie and curie.group(1) in prefixes and not curie.group(2).startswith("//"):
        namespace = prefixes[curie.group(1)]
        if namespace.rstrip("#:") == "urn:epcglobal:cbv:mda":
            # JSON-LD contexts spell it with '#' or ':'; XML (and the hash) use the bare URN.
            namespace = "urn:epcglobal:cbv:mda"
        return "{" + namespace + "}" + curie.group(2)
    return name


def _generic(name: str, value: Any, prefixes: Mapping[str, str]) -> list[str]:
    """Render an ILMD/extension element (and repeated siblings) as ``{ns}local[=v]...``."""
    if isinstance(value, list):
        return [s for item in value for s in _generic(name, item, prefixes)]
    key = _key(name, prefixes)
    if isinstance(value, dict):
        text = _canon(value.get("#text"), prefixes)
        inner = _extensions(value, prefixes, standard=frozenset({"#text"}))
        if text is None and not inner:
            return []
        return [key + (f"={text}" if text is not None else "") + inner]
    text = _canon(value, prefixes)
    return [] if text is None else [f"{key}={text}"]


def _extensions(
    obj: Mapping[str, Any], prefixes: Mapping[str, str], standard: Iterable[str]
) -> str:
    """Sorted rendering of every non-standard key of `obj`."""
    known = set(standard)
    parts = [
        s
        for k, v in obj.items()
        if k not in known and not k.startswith("@")
        for s in _generic(k, v, prefixes)
    ]
    return "".join(sorted(parts))


def _ordered(
    obj: Mapping[str, Any],
    order: tuple[str, ...],
    prefixes: Mapping[str, str],
    vocab: Mapping[str, str] | None = None,
) -> str:
    """Render the standard fields of `obj` in `order`, then its sorted extensions."""
    parts = []
    for name in order:
        values = obj.get(name)
        for value in values if isinstance(values, list) else [values]:
            text = _canon(value, prefixes, (vocab or {}).get(name))
            if text is not None:
                parts.append(f"{name}={text}")
    return "".join(parts) + _extensions(obj, prefixes, order)


def _list_block(name: str, items: list[str]) -> str:
    """A list name once, then its rendered children in code-point order; empty → nothing."""
    items = [i for i in items if i]
    return name + "".join(sorted(items)) if items else ""


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _typed_pairs(value: Any, id_key: str, vocab: str, prefixes: Mapping[str, str]) -> list[str]:
    """Render bizTransaction/source/destination entries as ``type=..<id_key>=..``."""
    rendered = []
    for item in _as_list(value):
        if not isinstance(item, dict):
            raise _Unhashable(f"{id_key} entry is not an object")
        kind = _canon(item.get("type"), prefixes, vocab)
        ident = _canon(item.get(id_key), prefixes)
        text = (f"type={kind}" if kind else "") + (f"{id_key}={ident}" if ident else "")
        rendered.append(text + _extensions(item, prefixes, ("type", id_key)))
    return rendered


def _render_field(name: str, value: Any, prefixes: Mapping[str, str]) -> str:
    """Pre-hash text of one top-level standard field."""
    if name in _EPC_LISTS:
        epcs = [_canon(v, prefixes) for v in _as_list(value)]
        return _list_block(name, [f"epc={e}" for e in epcs if e is not None])
    if name in _QUANTITY_LISTS:
        elements = []
        for item in _as_list(value):
            if not isinstance(item, dict):
                raise _Unhashable(f"{name} entry is not an object")
            body = _ordered(item, _QUANTITY_ORDER, prefixes)
            elements.append("quantityElement" + body if body else "")
        return _list_block(name, elements)
    if name == "certificationInfo":
        infos = [_canon(v, prefixes) for v in _as_list(value)]
        return "".join(sorted(f"{name}={i}" for i in infos if i is not None))
    if name == "persistentDisposition":
        if not isinstance(value, dict):
            raise _Unhashable("persistentDisposition is not an object")
        parts = []
        for key in ("set", "unset"):
            words = [_canon(v, prefixes, key) for v in _as_list(value.get(key))]
            parts.append("".join(sorted(f"{key}={w}" for w in words if w is not None)))
        body = "".join(parts) + _extensions(value, prefixes, ("set", "unset"))
        return name + body if body else ""
    if name in ("readPoint", "bizLocation"):
        if not isinstance(value, dict):
            raise _Unhashable(f"{name} is not an object")
        body = _ordered(value, ("id",), prefixes)
        return name + body if body else ""
    if name == "bizTransactionList":
        return _list_block(name, _typed_pairs(value, "bizTransaction", "btt", prefixes))
    if name == "sourceList":
        return _list_block(name, _typed_pairs(value, "source", "sdt", prefixes))
    if name == "destinationList":
        return _list_block(name, _typed_pairs(value, "destination", "sdt", prefixes))
    if name == "sensorElementList":
        return _list_block(name, [_sensor_element(e, prefixes) for e in _as_list(value)])
    if name == "ilmd":
        if not isinstance(value, dict):
            raise _Unhashable("ilmd is not an object")
        body = _extensions(value, prefixes, ())
        return name + body if body else ""
    vocab = name if name in ("bizStep", "disposition") else None
    text = _canon(value, prefixes, vocab)
    return "" if text is None else f"{name}={text}"


def _sensor_element(element: Any, prefixes: Mapping[str, str]) -> str:
    """Pre-hash text of one sensorElement."""
    if not isinstance(element, dict):
        raise _Unhashable("sensorElement is not an object")
    body = ""
    metadata = element.get("sensorMetadata")
    if isinstance(metadata, dict):
        meta = _ordered(metadata, _METADATA_ORDER, prefixes)
        body += "sensorMetadata" + meta if meta else ""
    reports = []
    vocab = {"type": "sensorType", "exception": "exception", "component": "component"}
    for report in _as_list(element.get("sensorReport")):
        if not isinstance(report, dict):
            raise _Unhashable("sensorReport entry is not an object")
        text = _ordered(report, _REPORT_ORDER, prefixes, vocab)
        reports.append("sensorReport" + text if text else "")
    body += "".join(sorted(r for r in reports if r))
    body += _extensions(element, prefixes, ("sensorMetadata", "sensorReport"))
    return "sensorElement" + body if body else ""


def _prehash(event: Mapping[str, Any], prefixes: Mapping[str, str]) -> str:
    event_type = event.get("type")
    if not isinstance(event_type, str) or not event_type.strip():
        raise _Unhashable("the event has no type")
    parts = [f"eventType={event_type.strip()}"]
    for name in _CANONICAL_ORDER:
        if name in event:
            parts.append(_render_field(name, event[name], prefixes))
    standard = set(_CANONICAL_ORDER) | _NOT_HASHED
    parts.append(_extensions(event, prefixes, standard))
    return "".join(parts)


def event_prehash(event_json: Mapping[str, Any], *, context: Any = None) -> str:
    """Return the CBV 2.0 pre-hash string of one event (for audits and debugging)."""
    prefixes = _context_prefixes(context, event_json.get("@context"))
    try:
        return _prehash(event_json, prefixes)
    except _Unhashable as exc:
        raise EPCISValidationError(index=None, field="event", reason=str(exc)) from None


def event_hash_id(event_json: Mapping[str, Any], *, context: Any = None) -> str:
    """Return the CBV 2.0 event hash id ``ni:///sha-256;<hex>?ver=CBV2.0`` of one event."""
    digest = hashlib.sha256(event_prehash(event_json, context=context).encode("utf-8"))
    return f"ni:///sha-256;{digest.hexdigest()}?ver={HASH_VERSION}"


# --------------------------------------------------------------------------- validation

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
            if epc_class is not None:
                classes.append(epc_class)
            quantity = item.get("quantity")
            if quantity is not None and not _is_number(quantity):
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
        short, reason = _cbv_short(value, vocabulary)
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
        parsed, reason = _parse_datetime(value)
        if parsed is None:
            self.error(path, str(reason))
        return parsed


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _read_event(
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
    if "ilmd" in event and not isinstance(event["ilmd"], dict):
        r.error(".ilmd", "not an object")
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
        lots=tuple(e for e in epcs if _is_lot_class(e)),
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
    merged.update(_context_prefixes(event.get("@context")))
    try:
        prehash = _prehash(event, merged)
    except _Unhashable as exc:
        raise EPCISValidationError(index=None, field="event", reason=str(exc)) from None
    digest = hashlib.sha256(prehash.encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={HASH_VERSION}"


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
        return _GS1_VOC + text
    if text.startswith("gs1:"):
        return _GS1_VOC + text[4:]
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
            if _is_number(report[key]):
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
        if degrees < _ABSOLUTE_ZERO_C:
            r.error(f"{path}.{key}", f"{stats[key]} {uom} is below absolute zero")
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


# --------------------------------------------------------------------------- document


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
        _number(version) if isinstance(version, int | float) and _is_number(version) else version
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
        creation, reason = _parse_datetime(data["creationDate"])
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
    prefixes = _context_prefixes(data.get("@context"))
    events = [_read_event(e, i, prefixes, errors, latest) for i, e in enumerate(event_list)]
    if errors or creation is None:
        raise EPCISDocumentError(errors.items)
    return EPCISDocument(
        schema_version=str(schema_version),
        creation_date=creation.astimezone(UTC),
        events=tuple(e for e in events if e is not None),
    )
