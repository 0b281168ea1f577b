"""The FSMA 204 key data elements (KDEs) of each critical tracking event (CTE), defined once.

21 CFR Part 1 Subpart S names, per CTE, the KDEs a business keeps and hands FDA within 24
hours as an electronic sortable spreadsheet (§1.1455(c)(3)(ii)). ``REQUIRED`` is that table:
for each CTE, the KDEs its section lists, each with the paragraph that asks for it. The
spreadsheet's columns (``Kde``) are the union of them, named in the rule's words.

A KDE of a row is `Known` (the value, and the ledger entries it was read from, so a regulator
can ask for their inclusion proofs) or `Missing` (why the records do not give it). Nothing
is filled in that the records do not say: a location the records name without its address
or phone number is `Known` with those parts listed in ``lacking``.

Not covered: §1.1335 first land-based receiving and the aquaculture container of §1.1325 and
§1.1330 (fishing-vessel and aquaculture food); §1.1320 (the traceability plan) is not a CTE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "CFR_SECTION",
    "REQUIRED",
    "Cte",
    "CteRow",
    "Kde",
    "KdeValue",
    "Known",
    "Missing",
]


class Cte(StrEnum):
    """A critical tracking event of Subpart S, valued by the name the spreadsheet shows."""

    HARVESTING = "Harvesting"
    COOLING = "Cooling"
    INITIAL_PACKING = "Initial Packing"
    SHIPPING = "Shipping"
    RECEIVING = "Receiving"
    TRANSFORMATION = "Transformation"


CFR_SECTION: Mapping[Cte, str] = MappingProxyType(
    {
        Cte.HARVESTING: "21 CFR 1.1325(a)",
        Cte.COOLING: "21 CFR 1.1325(b)",
        Cte.INITIAL_PACKING: "21 CFR 1.1330(a)",
        Cte.SHIPPING: "21 CFR 1.1340(a)",
        Cte.RECEIVING: "21 CFR 1.1345(a)",
        Cte.TRANSFORMATION: "21 CFR 1.1350(a)",
    }
)
"""The section (and paragraph) that lists each CTE's KDEs."""


class Kde(StrEnum):
    """A key data element, valued by its column header (the rule's words)."""

    EVENT_DATE = "Event Date"
    TLC = "Traceability Lot Code (TLC)"
    GTIN = "Product Identifier (GTIN)"
    TLC_SOURCE = "Traceability Lot Code Source (Location Description) or TLC Source Reference"
    PRODUCT = "Product Description"
    QUANTITY = "Quantity"
    UNIT = "Unit of Measure"
    LOCATION = "Location Description of the Event"
    PREVIOUS_SOURCE = "Immediate Previous Source (Location Description)"
    SUBSEQUENT_RECIPIENT = "Immediate Subsequent Recipient (Location Description)"
    HARVEST_FARM = "Farm Where Harvested (Location Description)"
    FIELD = "Field or Growing Area Name"
    HARVESTER = "Harvester Business Name and Phone Number"
    HARVEST_DATE = "Date of Harvesting"
    COOLING_LOCATION = "Where Cooled (Location Description)"
    COOLING_DATE = "Date of Cooling"
    RECEIVED_COMMODITY = "Commodity and Variety Received"
    RECEIVED_DATE = "Date Received"
    RECEIVED_QUANTITY = "Quantity Received"
    RECEIVED_UNIT = "Unit of Measure Received"
    INPUT_TLCS = "Input Traceability Lot Codes"
    INPUT_PRODUCTS = "Input Product Descriptions"
    INPUT_QUANTITIES = "Input Quantities and Units of Measure"
    REFERENCE_TYPE = "Reference Document Type"
    REFERENCE_NUMBER = "Reference Document Number"


# Each CTE's KDEs with the paragraph of its section that lists them (the event's own date is
# the "date you shipped", "date of cooling", "date transformation was completed", ...).
REQUIRED: Mapping[Cte, tuple[tuple[Kde, str], ...]] = MappingProxyType(
    {
        Cte.HARVESTING: (
            (Kde.SUBSEQUENT_RECIPIENT, "(a)(1)(i)"),
            (Kde.PRODUCT, "(a)(1)(ii) commodity and variety"),
            (Kde.QUANTITY, "(a)(1)(iii)"),
            (Kde.UNIT, "(a)(1)(iii)"),
            (Kde.LOCATION, "(a)(1)(iv) the farm"),
            (Kde.FIELD, "(a)(1)(v)"),
            (Kde.EVENT_DATE, "(a)(1)(vii)"),
            (Kde.REFERENCE_TYPE, "(a)(1)(viii)"),
            (Kde.REFERENCE_NUMBER, "(a)(1)(viii)"),
        ),
        Cte.COOLING: (
            (Kde.SUBSEQUENT_RECIPIENT, "(b)(1)(i)"),
            (Kde.PRODUCT, "(b)(1)(ii) commodity and variety"),
            (Kde.QUANTITY, "(b)(1)(iii)"),
            (Kde.UNIT, "(b)(1)(iii)"),
            (Kde.LOCATION, "(b)(1)(iv) where cooled"),
            (Kde.EVENT_DATE, "(b)(1)(v)"),
            (Kde.HARVEST_FARM, "(b)(1)(vi)"),
            (Kde.REFERENCE_TYPE, "(b)(1)(vii)"),
            (Kde.REFERENCE_NUMBER, "(b)(1)(vii)"),
        ),
        Cte.INITIAL_PACKING: (
            (Kde.RECEIVED_COMMODITY, "(a)(1)"),
            (Kde.RECEIVED_DATE, "(a)(2)"),
            (Kde.RECEIVED_QUANTITY, "(a)(3)"),
            (Kde.RECEIVED_UNIT, "(a)(3)"),
            (Kde.HARVEST_FARM, "(a)(4)"),
            (Kde.FIELD, "(a)(5)"),
            (Kde.HARVESTER, "(a)(7)"),
            (Kde.HARVEST_DATE, "(a)(8)"),
            (Kde.COOLING_LOCATION, "(a)(9) if cooled"),
            (Kde.COOLING_DATE, "(a)(10) if cooled"),
            (Kde.TLC, "(a)(11)"),
            (Kde.PRODUCT, "(a)(12)"),
            (Kde.QUANTITY, "(a)(13)"),
            (Kde.UNIT, "(a)(13)"),
            (Kde.LOCATION, "(a)(14) where packed"),
            (Kde.TLC_SOURCE, "(a)(14)"),
            (Kde.EVENT_DATE, "(a)(15)"),
            (Kde.REFERENCE_TYPE, "(a)(16)"),
            (Kde.REFERENCE_NUMBER, "(a)(16)"),
        ),
        Cte.SHIPPING: (
            (Kde.TLC, "(a)(1)"),
            (Kde.QUANTITY, "(a)(2)"),
            (Kde.UNIT, "(a)(2)"),
            (Kde.PRODUCT, "(a)(3)"),
            (Kde.SUBSEQUENT_RECIPIENT, "(a)(4)"),
            (Kde.LOCATION, "(a)(5) shipped from"),
            (Kde.EVENT_DATE, "(a)(6)"),
            (Kde.TLC_SOURCE, "(a)(7)"),
            (Kde.REFERENCE_TYPE, "(a)(8)"),
            (Kde.REFERENCE_NUMBER, "(a)(8)"),
        ),
        Cte.RECEIVING: (
            (Kde.TLC, "(a)(1)"),
            (Kde.QUANTITY, "(a)(2)"),
            (Kde.UNIT, "(a)(2)"),
            (Kde.PRODUCT, "(a)(3)"),
            (Kde.PREVIOUS_SOURCE, "(a)(4)"),
            (Kde.LOCATION, "(a)(5) where received"),
            (Kde.EVENT_DATE, "(a)(6)"),
            (Kde.TLC_SOURCE, "(a)(7)"),
            (Kde.REFERENCE_TYPE, "(a)(8)"),
            (Kde.REFERENCE_NUMBER, "(a)(8)"),
        ),
        Cte.TRANSFORMATION: (
            (Kde.INPUT_TLCS, "(a)(1)(i)"),
            (Kde.INPUT_PRODUCTS, "(a)(1)(ii)"),
            (Kde.INPUT_QUANTITIES, "(a)(1)(iii)"),
            (Kde.TLC, "(a)(2)(i) the new code"),
            (Kde.LOCATION, "(a)(2)(ii) where transformed"),
            (Kde.TLC_SOURCE, "(a)(2)(ii)"),
            (Kde.EVENT_DATE, "(a)(2)(iii)"),
            (Kde.PRODUCT, "(a)(2)(iv)"),
            (Kde.QUANTITY, "(a)(2)(v)"),
            (Kde.UNIT, "(a)(2)(v)"),
            (Kde.REFERENCE_TYPE, "(a)(2)(vi)"),
            (Kde.REFERENCE_NUMBER, "(a)(2)(vi)"),
        ),
    }
)
"""Per CTE, the KDEs its section of Subpart S requires, with the paragraph asking for each."""

# Shown on every row where the records give them, required or not: what a regulator sorts by.
IDENTIFYING = (Kde.TLC, Kde.GTIN, Kde.EVENT_DATE)


@dataclass(frozen=True, slots=True)
class Known:
    """A KDE the records give: ``value``, read from the ledger ``entries`` (their indices).

    ``lacking`` names the parts of it the records do not give (a location named by its
    business and GLN, say, without its address and phone number).
    """

    value: str | float | date
    entries: tuple[int, ...]
    lacking: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Missing:
    """A KDE the records do not give, and why."""

    reason: str


KdeValue = Known | Missing


@dataclass(frozen=True, slots=True)
class CteRow:
    """One CTE of one traceability lot: the event's ledger entry and each of its KDEs."""

    cte: Cte
    event_time: datetime
    ledger_index: int
    leaf_hash: str
    hash_id: str
    kdes: Mapping[Kde, KdeValue]

    @property
    def required(self) -> tuple[Kde, ...]:
        """The KDEs this row's CTE requires, in the rule's order."""
        return tuple(dict.fromkeys(k for k, _ in REQUIRED[self.cte]))

    def value(self, kde: Kde) -> KdeValue | None:
        """The KDE as the spreadsheet shows it: None where it is neither required nor known."""
        found = self.kdes.get(kde)
        if kde in self.required:
            return found if found is not None else Missing("not read from the records")
        return found if isinstance(found, Known) and kde in IDENTIFYING else None

    @property
    def missing(self) -> tuple[Kde, ...]:
        """The required KDEs the records do not give."""
        return tuple(k for k in self.required if isinstance(self.value(k), Missing))

    @property
    def incomplete(self) -> tuple[tuple[Kde, tuple[str, ...]], ...]:
        """The required KDEs the records give only in part, with the parts they lack."""
        out = []
        for k in self.required:
            v = self.value(k)
            if isinstance(v, Known) and v.lacking:
                out.append((k, v.lacking))
        return tuple(out)
