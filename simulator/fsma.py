"""A produce lot through every FSMA 204 CTE, as each party's EPCIS documents.

Romaine is harvested at a farm, cooled at a cooler, initially packed into a traceability lot
(a TransformationEvent: the harvest lot in, the packed lot out), shipped through a carrier to
a processor, received there, and transformed into a salad lot. ``omit`` leaves chosen KDEs
out of the records (``OMITTABLE``), so a test or a bench can check that the export names
each as missing instead of filling it in. Pure: no I/O; ``repeat`` adds further
shipment/receipt round trips of the packed lot (a lot with many events, for the bench).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulator.spec import PartySpec
from supplychain.epcis.build import (
    EPCIS_CONTEXT,
    ZULU,
    BizTransaction,
    ObjectEvent,
    Quantity,
    SourceDestination,
    TransformationEvent,
    epcis_document,
)

__all__ = ["CARRIER", "COOLER", "FARM", "FSMA_NS", "OMITTABLE", "PACKER", "PROCESSOR", "ProduceLot"]

FSMA_NS = "https://freshproof.dev/epcis/"
"""Our private vocabulary: the CBV 2.0 has no business step for harvesting or cooling."""
HARVESTING = FSMA_NS + "BizStep-harvesting"
COOLING = FSMA_NS + "BizStep-cooling"


def _party(n: int, role: str, name: str) -> PartySpec:
    return PartySpec(f"urn:epc:id:pgln:{4100000 + n}.00000", role, name)


def _site(party: PartySpec, ext: str = "0") -> str:
    prefix = party.id.removeprefix("urn:epc:id:pgln:").split(".")[0]
    return f"urn:epc:id:sgln:{prefix}.00000.{ext}"


FARM = _party(1, "supplier", "Salinas Valley Farm")
COOLER = _party(2, "warehouse", "Valley Hydrocooling")
PACKER = _party(3, "supplier", "Coastal Packing")
CARRIER = _party(4, "carrier", "ColdLine Trucking")
PROCESSOR = _party(5, "supplier", "FreshCut Salads")

OMITTABLE = frozenset(
    {
        "harvest.reference",  # the harvest's field tag
        "harvest.field",  # the field or growing area name
        "cooling.location",  # where it was cooled (the cooler's GLN)
        "cooling.reference",
        "packing.product",  # the packed lot's product description
        "receiving.reference",  # the processor's purchase order on the receipt
        "transformation.product",  # the salad lot's product description
        "transformation.uom",  # the salad's unit of measure
    }
)
"""The KDEs ``omit`` can leave out of the records."""


def _lgtin(company: PartySpec, item: str, lot: str) -> str:
    prefix = company.id.removeprefix("urn:epc:id:pgln:").split(".")[0]
    return f"urn:epc:class:lgtin:{prefix}.{item}.{lot}"


@dataclass(frozen=True)
class ProduceLot:
    """The chain's lots and times; ``documents`` renders each party's records."""

    start: datetime
    harvest_lot: str = "H-0501"
    packed_lot: str = "ROM-0501"
    salad_lot: str = "SAL-0503"
    tomato_lot: str = "TOM-0430"  # a second input of the salad, with no records of its own
    omit: frozenset[str] = frozenset()
    repeat: int = 0
    parties: tuple[PartySpec, ...] = field(default=(FARM, COOLER, PACKER, CARRIER, PROCESSOR))

    def __post_init__(self) -> None:
        unknown = set(self.omit) - OMITTABLE
        if unknown:
            raise ValueError(f"cannot omit {sorted(unknown)}; choose from {sorted(OMITTABLE)}")

    @property
    def harvest_class(self) -> str:
        """The harvested romaine (the farm's GTIN, its harvest lot)."""
        return _lgtin(FARM, "012345", self.harvest_lot)

    @property
    def packed_class(self) -> str:
        """The packed traceability lot (the packer's GTIN and TLC)."""
        return _lgtin(PACKER, "024680", self.packed_lot)

    @property
    def salad_class(self) -> str:
        """The salad made of the packed lot (the processor's GTIN and TLC)."""
        return _lgtin(PROCESSOR, "036912", self.salad_lot)

    @property
    def tomato_class(self) -> str:
        """Tomatoes from a lot no record describes."""
        return _lgtin(PROCESSOR, "099999", self.tomato_lot)

    def _skip(self, what: str) -> bool:
        return what in self.omit

    def events(self) -> list[tuple[PartySpec, dict[str, Any]]]:
        """Every party's events, oldest first, each with the party that records it."""
        t = self.start
        h = timedelta(hours=1)
        out: list[tuple[PartySpec, dict[str, Any]]] = []

        def add(party: PartySpec, event: ObjectEvent | TransformationEvent) -> None:
            out.append((party, event.to_json()))

        harvest_ilmd: dict[str, Any] = {
            "fp:commodity": "Romaine lettuce",
            "fp:variety": "Green Towers",
            "cbvmda:harvestStartDate": (t - h).date().isoformat(),
        }
        if not self._skip("harvest.field"):
            harvest_ilmd["fp:fieldName"] = "Block 7 North"
        add(
            FARM,
            ObjectEvent(
                event_time=t,
                action="ADD",
                biz_step=HARVESTING,
                quantities=(Quantity(self.harvest_class, 900, "KGM"),),
                biz_location=_site(FARM, "1"),
                sources=(SourceDestination(FARM.id),),
                destinations=(SourceDestination(COOLER.id),),
                biz_transactions=()
                if self._skip("harvest.reference")
                else (BizTransaction("urn:epcglobal:cbv:bt:4100001000006:FT-771", "desadv"),),
                ilmd=harvest_ilmd,
                event_time_zone_offset="-07:00",
                times=ZULU,
            ),
        )
        add(
            COOLER,
            ObjectEvent(
                event_time=t + 2 * h,
                biz_step=COOLING,
                quantities=(Quantity(self.harvest_class, 880, "KGM"),),
                biz_location=None if self._skip("cooling.location") else _site(COOLER, "1"),
                sources=(SourceDestination(COOLER.id),),
                destinations=(SourceDestination(PACKER.id),),
                biz_transactions=()
                if self._skip("cooling.reference")
                else (BizTransaction("urn:epcglobal:cbv:bt:4100002000005:CL-12", "recadv"),),
                event_time_zone_offset="-07:00",
                times=ZULU,
            ),
        )
        add(
            PACKER,
            ObjectEvent(
                event_time=t + 4 * h,
                biz_step="receiving",
                quantities=(Quantity(self.harvest_class, 880, "KGM"),),
                biz_location=_site(PACKER, "1"),
                sources=(SourceDestination(COOLER.id),),
                destinations=(SourceDestination(PACKER.id),),
                event_time_zone_offset="-07:00",
                times=ZULU,
            ),
        )
        add(
            PACKER,
            TransformationEvent(
                event_time=t + 6 * h,
                biz_step="packing",
                inputs=(Quantity(self.harvest_class, 880, "KGM"),),
                outputs=(Quantity(self.packed_class, 80, "CS"),),
                biz_location=_site(PACKER, "1"),
                sources=(SourceDestination(PACKER.id),),
                biz_transactions=(
                    BizTransaction("urn:epcglobal:cbv:bt:4100003000004:WO-5501", "prodorder"),
                ),
                ilmd={}
                if self._skip("packing.product")
                else {"gs1:productName": "Romaine hearts, 3 count, 12 bags a case"},
                event_time_zone_offset="-07:00",
                times=ZULU,
            ),
        )
        at = t + 8 * h
        for _ in range(1 + self.repeat):
            at = self._round_trip(add, at)
        add(
            PROCESSOR,
            TransformationEvent(
                event_time=at + 3 * h,
                inputs=(
                    Quantity(self.packed_class, 40, "CS"),
                    Quantity(self.tomato_class, 100, "KGM"),
                ),
                outputs=(
                    Quantity(self.salad_class, 1200, None)
                    if self._skip("transformation.uom")
                    else Quantity(self.salad_class, 1200, "EA"),
                ),
                biz_step="commissioning",
                biz_location=_site(PROCESSOR, "1"),
                sources=(SourceDestination(PROCESSOR.id),),
                biz_transactions=(
                    BizTransaction("urn:epcglobal:cbv:bt:4100005000002:BATCH-88", "prodorder"),
                ),
                ilmd={}
                if self._skip("transformation.product")
                else {"gs1:productName": "Garden salad kit, 300 g"},
                event_time_zone_offset="-07:00",
                times=ZULU,
            ),
        )
        return out

    def _round_trip(self, add: Any, at: datetime) -> datetime:
        """The packer ships the packed lot through the carrier; the processor receives it."""
        h = timedelta(hours=1)
        add(
            PACKER,
            ObjectEvent(
                event_time=at,
                biz_step="shipping",
                quantities=(Quantity(self.packed_class, 40, "CS"),),
                read_point=_site(PACKER, "2"),
                sources=(SourceDestination(PACKER.id),),
                destinations=(SourceDestination(CARRIER.id),),
                biz_transactions=(
                    BizTransaction("urn:epcglobal:cbv:bt:4100003000004:BOL-9001", "bol"),
                    BizTransaction("urn:epcglobal:cbv:bt:4100005000002:PO-3001", "po"),
                ),
                event_time_zone_offset="-07:00",
                times=ZULU,
            ),
        )
        add(
            PROCESSOR,
            ObjectEvent(
                event_time=at + 2 * h,
                biz_step="receiving",
                quantities=(Quantity(self.packed_class, 40, "CS"),),
                biz_location=_site(PROCESSOR, "1"),
                sources=(SourceDestination(CARRIER.id),),
                destinations=(SourceDestination(PROCESSOR.id),),
                biz_transactions=()
                if self._skip("receiving.reference")
                else (BizTransaction("urn:epcglobal:cbv:bt:4100005000002:PO-3001", "po"),),
                event_time_zone_offset="-07:00",
                times=ZULU,
            ),
        )
        return at + 3 * h

    def documents(self) -> list[tuple[PartySpec, dict[str, Any]]]:
        """Each event in its own document, with the party whose key posts it, oldest first."""
        context = (EPCIS_CONTEXT, {"fp": FSMA_NS, "cbvmda": "urn:epcglobal:cbv:mda"})
        out = []
        for party, event in self.events():
            created = datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
            out.append(
                (
                    party,
                    epcis_document(
                        [event], creation_date=created + timedelta(minutes=1), context=context
                    ),
                )
            )
        return out
