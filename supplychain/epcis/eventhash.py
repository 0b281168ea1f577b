"""The CBV 2.0 event hash id (CBV §8.9 "Event Hash Generation Algorithm").

Cross-checked against the reference implementation RalphTro/epcis-event-hash-generator and
openepcis' canonical property order. What follows the algorithm exactly:

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

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from supplychain.epcis.errors import EPCISValidationError
from supplychain.epcis.timestamps import hash_timestamp
from supplychain.epcis.vocabulary import CBV_URN_TO_WEB, CBV_WEB, GS1_VOC, context_prefixes
from supplychain.identifiers.digital_link import to_digital_link

__all__ = ["HASH_VERSION", "event_hash_id", "event_prehash"]

HASH_VERSION = "CBV2.0"
"""Version tag written into every event hash id (``?ver=CBV2.0``)."""


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
    "bizStep": CBV_WEB + "BizStep-",
    "disposition": CBV_WEB + "Disp-",
    "set": CBV_WEB + "Disp-",
    "unset": CBV_WEB + "Disp-",
    "btt": CBV_WEB + "BTT-",
    "sdt": CBV_WEB + "SDT-",
    "sensorType": GS1_VOC,
    "exception": GS1_VOC + "SensorAlertType-",
    "component": CBV_WEB + "Comp-",
}
_NUMERIC_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_CURIE_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*):(.+)$")


class _Unhashable(Exception):
    """A value inside an event has no JSON meaning (NaN, a Python object)."""


def canonical_number(value: float | int) -> str:
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
        return canonical_number(value)
    if not isinstance(value, str):
        raise _Unhashable(f"{type(value).__name__} is not a JSON scalar")
    text = value.strip()
    if not text:
        return None
    if vocab is not None and ":" not in text:
        return _BARE_WORD_BASE[vocab] + text
    stamp = hash_timestamp(text)
    if stamp is not None:
        return stamp
    for urn, web in CBV_URN_TO_WEB.items():
        if text.startswith(urn):
            return web + text[len(urn) :]
    curie = _CURIE_RE.match(text)
    if curie and curie.group(1) in prefixes and not curie.group(2).startswith("//"):
        text = prefixes[curie.group(1)] + curie.group(2)
    if _NUMERIC_RE.match(text):
        return canonical_number(float(text)) if any(c in text for c in ".eE") else str(int(text))
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


def cbv_prehash(event: Mapping[str, Any], prefixes: Mapping[str, str]) -> str:
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
    prefixes = context_prefixes(context, event_json.get("@context"))
    try:
        return cbv_prehash(event_json, prefixes)
    except _Unhashable as exc:
        raise EPCISValidationError(index=None, field="event", reason=str(exc)) from None


def event_hash_id(event_json: Mapping[str, Any], *, context: Any = None) -> str:
    """Return the CBV 2.0 event hash id ``ni:///sha-256;<hex>?ver=CBV2.0`` of one event."""
    digest = hashlib.sha256(event_prehash(event_json, context=context).encode("utf-8"))
    return f"ni:///sha-256;{digest.hexdigest()}?ver={HASH_VERSION}"
