"""CBV 2.0 vocabularies (short names, URNs, web URIs, CURIEs) and JSON-LD @context prefixes."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Any

from supplychain.epcis.errors import EPCISValidationError

__all__ = [
    "BIZ_STEPS",
    "BIZ_TRANSACTION_TYPES",
    "DISPOSITIONS",
    "EVENT_TYPES",
    "SOURCE_DESTINATION_TYPES",
    "USE_BY_NAMES",
    "CBVVocabulary",
    "cbv_short_name",
    "cbv_uri",
    "local_name",
    "use_by_date",
]

EVENT_TYPES = frozenset(
    {"ObjectEvent", "AggregationEvent", "TransformationEvent", "AssociationEvent"}
)
"""EPCIS 2.0 event types this parser accepts (TransactionEvent is not supported)."""


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
CBV_WEB = "https://ref.gs1.org/cbv/"
GS1_VOC = "https://gs1.org/voc/"
# CBV 1.x URN namespaces and their CBV 2.0 web-vocabulary term prefixes (incl. error reasons).
CBV_URN_TO_WEB = {
    "urn:epcglobal:cbv:bizstep:": CBV_WEB + "BizStep-",
    "urn:epcglobal:cbv:disp:": CBV_WEB + "Disp-",
    "urn:epcglobal:cbv:btt:": CBV_WEB + "BTT-",
    "urn:epcglobal:cbv:sdt:": CBV_WEB + "SDT-",
    "urn:epcglobal:cbv:er:": CBV_WEB + "ER-",
}


def local_name(term: str) -> str:
    """The local name of a term written as a CURIE, a URN or a URI (``cbvmda:lotNumber``,
    ``urn:epcglobal:cbv:mda#lotNumber``, ``https://ref.gs1.org/cbv/lotNumber``: ``lotNumber``)."""
    return re.split(r"[:/#]", term)[-1]


USE_BY_NAMES = frozenset({"itemExpirationDate", "useByDate"})
"""ILMD terms (by local name) that state a lot's use-by date: CBV's ``itemExpirationDate``
(GS1 AI 17), and ``useByDate`` as the public story reads it. A best-before or sell-by date is
quality or stock keeping, not safety, and is not one of them."""


def use_by_date(value: Any) -> date | None:
    """The date an ILMD use-by value states: an xsd:date (``2024-05-01``, with or without a
    zone) or the date of an xsd:dateTime; None when it is not one."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    rest = value[10:]
    if rest and not re.fullmatch(r"(Z|[+-]\d{2}:\d{2}|T.+)", rest):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def cbv_short(value: str, vocabulary: CBVVocabulary) -> tuple[str | None, str | None]:
    """Return (short name or custom URI, None) or (None, reason)."""
    text = value.strip()
    words = _CBV_WORDS[vocabulary]
    word: str | None = None
    urn_prefix = f"urn:epcglobal:cbv:{_CBV_URN_SEGMENT[vocabulary]}:"
    web_prefix = f"{CBV_WEB}{vocabulary.value}-"
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
    elif text.startswith(("urn:epcglobal:cbv:", CBV_WEB, "cbv:")):
        return None, f"{text!r} is a CBV term of another vocabulary, not a {vocabulary.value}"
    else:
        return text, None  # a private vocabulary URI, kept as given
    if word in words:
        return word, None
    return None, f"{text!r} is not a CBV 2.0 {vocabulary.value} value; custom values must be URIs"


def cbv_short_name(value: str, *, vocabulary: CBVVocabulary) -> str:
    """Return the CBV short name of `value` (short, URN, web URI or CURIE); custom URIs as is."""
    short, reason = cbv_short(value, vocabulary)
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
    return f"{CBV_WEB}{vocabulary.value}-{short_name}"


_DEFAULT_PREFIXES = {
    "gs1": GS1_VOC,
    "cbv": CBV_WEB,
    "epcis": "https://ref.gs1.org/epcis/",
    "cbvmda": "urn:epcglobal:cbv:mda",
}


def context_prefixes(*contexts: Any) -> dict[str, str]:
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
