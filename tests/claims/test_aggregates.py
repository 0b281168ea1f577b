"""Aggregate sensor reports in the verdict (GUIDE §4 rule 5).

A logger's maximum (or minimum) outside the band is an excursion of unknown length in that
custodian's period: enough to name them when nobody shows measured abuse, with less
confidence and a hold so it never pays out by itself; never enough to outweigh measured
abuse elsewhere. An aggregate that bounds the band counts as watching its period.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from claims.assessment import ClaimEvidence, ClaimsConfig, assess
from claims.coldchain import Aggregate, Reading
from claims.models import ClaimInput
from claims.profiles import DEFAULT_PROFILES
from claims.responsibility import ClaimFacts, decide
from claims.segments import LedgerRef, Party, Segment, Timeline
from claims.timeline import build_timeline
from claims.verdict import BASE_CONFIDENCE, Verdict
from ledger.log import Ledger
from storage.db import make_engine
from storage.schema import metadata
from supplychain.capture import capture_events, register_party
from supplychain.epcis import parse_document
from vision.image import QualityReport
from vision.predictor import Finding, Inspection

DOC = Path(__file__).resolve().parents[1] / "supplychain" / "data" / "epcis"
LOT = "urn:epc:class:lgtin:4012345.012345.STRAW-0502"
SUPPLIER, CARRIER, DC = (
    "urn:epc:id:pgln:4012345.00000",
    "urn:epc:id:pgln:4023333.00000",
    "urn:epc:id:pgln:4000001.00000",
)
# The README example: the carrier's leg 04:15-07:30 UTC, min 2.1 / max 9.8 / mean 5.2 °C.
DELIVERED = datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
NOW = DELIVERED + timedelta(hours=3)
CONFIG = ClaimsConfig()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    engine = make_engine(f"sqlite:///{tmp_path / 'aggregates.db'}")
    metadata.create_all(engine)
    ledger = Ledger(engine)
    for pid, role, name in (
        (SUPPLIER, "supplier", "Farm"),
        (CARRIER, "carrier", "FastVan"),
        (DC, "warehouse", "DC"),
    ):
        register_party(ledger=ledger, party_id=pid, role=role, name=name)
    yield ledger
    engine.dispose()


def _claim() -> ClaimInput:
    return ClaimInput(
        order_id="o-agg",
        lot=LOT,
        category="chilled",
        line_value=Decimal("12.50"),
        currency="EUR",
        delivered_at=DELIVERED,
    )


def _photo(*labels: str) -> Inspection:
    findings = tuple(Finding(label, 0.95, (0.0, 0.0, 10.0, 10.0)) for label in labels)
    return Inspection("p.jpg", "0" * 64, 100, 100, QualityReport(True), findings, {}, phash=1)


def test_the_readme_carriers_peak_names_the_carrier_but_never_pays_out_alone(
    ledger: Ledger,
) -> None:
    """Before, the carrier's leg read as a hole (the 5.2 °C mean was a point at the handover,
    in the warehouse's hands) and the 9.8 °C peak never reached the verdict."""
    doc = json.loads((DOC / "object_shipping_inspection.json").read_text())
    capture_events(ledger=ledger, events_in=parse_document(doc))
    timeline = build_timeline(
        ledger=ledger, lot=LOT, delivered_at=DELIVERED, customer=Party("c-1", "customer")
    )
    decision = assess(
        ClaimEvidence(_claim(), (_photo("spoilage"),), timeline), config=CONFIG, now=NOW
    )
    v = decision.verdict
    assert (v.responsible_party, v.party_id) == ("carrier", CARRIER)
    (reason,) = v.reasons
    assert reason.code == "AGGREGATE_EXCURSION"
    assert "unknown length" in reason.message and "9.8 °C" in reason.message
    assert "0.0…5.0 °C" in reason.message  # the chilled band it left
    assert reason.facts["peak_celsius"] == 9.8 and reason.facts["length"] == "unknown"
    inspection_index = max(r.index for r in reason.refs)
    assert ledger.entry(inspection_index).body["view"]["temperature_aggregates"]
    assert v.confidence < CONFIG.compensation.auto_pay_min_confidence
    assert v.confidence == round(BASE_CONFIDENCE["AGGREGATE_EXCURSION"] * 0.95, 3)
    assert v.holds and "excursion of unknown length" in v.holds[0]
    assert not decision.compensation.auto_pay
    assert decision.status == "needs_review"


T0 = datetime(2026, 5, 1, 6, tzinfo=UTC)
FARM = Party(SUPPLIER, "supplier", "Farm")
TRUCK = Party(CARRIER, "carrier", "FastVan")
WAREHOUSE = Party(DC, "warehouse", "DC")
END = T0 + timedelta(hours=12)


def _every_15_min(start: datetime, hours: float, celsius: float) -> tuple[Reading, ...]:
    return tuple(
        Reading(start + timedelta(minutes=15 * i), celsius) for i in range(int(hours * 4) + 1)
    )


def _timeline(
    truck: tuple[Aggregate, ...], dc_celsius: float = 3.0, dc: tuple[Aggregate, ...] = ()
) -> Timeline:
    """Farm 0-4 h and warehouse 8-12 h with readings; the truck 4-8 h with ``truck`` only."""
    return Timeline(
        "L-agg",
        (
            Segment(
                FARM,
                T0,
                T0 + timedelta(hours=4),
                _every_15_min(T0, 4, 3.0),
                (LedgerRef(1, "a" * 64),),
            ),
            Segment(
                TRUCK,
                T0 + timedelta(hours=4),
                T0 + timedelta(hours=8),
                (),
                (LedgerRef(2, "b" * 64),),
                aggregates=truck,
                aggregate_refs=tuple(LedgerRef(5 + i, "e" * 64) for i in range(len(truck))),
            ),
            Segment(
                WAREHOUSE,
                T0 + timedelta(hours=8),
                END,
                _every_15_min(T0 + timedelta(hours=8), 4, dc_celsius),
                (LedgerRef(3, "c" * 64),),
                aggregates=dc,
                aggregate_refs=tuple(LedgerRef(9 + i, "f" * 64) for i in range(len(dc))),
            ),
            Segment(Party("c", "customer"), END, None),
        ),
    )


def _decide(timeline: Timeline, *defects: str) -> Verdict:
    facts = ClaimFacts(frozenset(defects or {"spoilage"}), END + timedelta(hours=2), END)
    return decide(timeline=timeline, claim=facts, profile=DEFAULT_PROFILES["chilled"])


def _leg(t_min: float | None, t_max: float | None, t_mean: float | None) -> Aggregate:
    return Aggregate(T0 + timedelta(hours=4), T0 + timedelta(hours=8), t_min, t_max, t_mean)


def test_measured_abuse_beyond_the_excursions_worst_case_stands_alone() -> None:
    """The truck's report (max 9.8 °C over its 4 h) bounds its excursion: 4.8 °C over for all
    4 h uses at most 1.65% of a chilled shelf life beyond the band; the warehouse's measured
    14 °C for 4 h used 4.02%, more than twice that, so nothing the truck did can outweigh it."""
    v = _decide(_timeline((_leg(2.1, 9.8, 5.2),), dc_celsius=14.0))
    assert (v.responsible_party, v.party_id) == ("warehouse", DC)
    assert [r.code for r in v.reasons] == ["TEMPERATURE_ABUSE", "AGGREGATE_EXCURSION"]
    beside = v.reasons[1]
    assert beside.facts["party_id"] == CARRIER
    assert beside.facts["excess_pct_at_most"] == pytest.approx(1.65, abs=0.01)
    assert "at most 1.65% of the shelf life beyond the band; 4.02% was measured while DC" in (
        beside.message
    )
    assert "it cannot outweigh the measured abuse" in beside.message
    assert v.confidence == BASE_CONFIDENCE["TEMPERATURE_ABUSE"]
    assert v.holds == ()


def test_an_excursion_that_may_outweigh_the_measured_abuse_holds_a_less_sure_verdict() -> None:
    """The warehouse measured at 8 °C for 4 h (0.93% beyond the band) against the truck's
    excursion of up to 1.65%: the truck may have been the worse. The warehouse is still named
    (its abuse is measured) but no surer than an excursion names anyone, and held for a person
    (the shop week paid 8 claims to the wrong party before this hold, and named parties at
    0.95 that were wrong about half the time before the bound)."""
    v = _decide(_timeline((_leg(2.1, 9.8, 5.2),), dc_celsius=8.0))
    assert (v.responsible_party, v.party_id) == ("warehouse", DC)
    beside = v.reasons[1]
    assert "less than 2 times that: it may outweigh the measured abuse" in beside.message
    assert v.confidence == BASE_CONFIDENCE["AGGREGATE_EXCURSION"]
    (hold,) = v.holds
    assert hold.startswith("AGGREGATE_EXCURSION: while FastVan (carrier) held the goods")
    assert "may outweigh the abuse measured while DC (warehouse)" in hold


def test_the_reports_period_bounds_the_excursion() -> None:
    """The same peak reported over the last 2 h of the truck's leg (its first 2 h in band, by
    another report) bounds half of what it bounds over all 4 h."""
    whole = _decide(_timeline((_leg(2.1, 9.8, 5.2),), dc_celsius=8.0)).reasons[1]
    calm = Aggregate(T0 + timedelta(hours=4), T0 + timedelta(hours=6), 2.0, 4.8, 3.5)
    late = Aggregate(T0 + timedelta(hours=6), T0 + timedelta(hours=8), 2.1, 9.8, 5.2)
    part = _decide(_timeline((calm, late), dc_celsius=8.0)).reasons[1]
    assert part.facts["excess_pct_at_most"] == pytest.approx(
        whole.facts["excess_pct_at_most"] / 2, abs=0.001
    )


def test_an_aggregate_in_band_watches_the_leg_so_it_is_no_hole() -> None:
    v = _decide(_timeline((_leg(2.0, 4.8, 3.5),)))
    assert v.responsible_party == "supplier"
    assert [r.code for r in v.reasons] == ["INHERENT_QUALITY"]


def test_a_mean_alone_bounds_nothing_and_leaves_the_hole() -> None:
    v = _decide(_timeline((_leg(None, None, 3.5),)))
    assert v.responsible_party == "undetermined"
    assert [r.code for r in v.reasons] == ["MISSING_TEMPERATURE_DATA"]


def test_a_mean_is_never_integrated_as_a_reading() -> None:
    """A mean of 14 °C over four hours is an excursion of unknown length, never measured
    degree-minutes: the truck is named without confidence enough to pay."""
    v = _decide(_timeline((_leg(3.0, 20.0, 14.0),)))
    assert (v.responsible_party, v.reasons[0].code) == ("carrier", "AGGREGATE_EXCURSION")
    assert v.confidence == BASE_CONFIDENCE["AGGREGATE_EXCURSION"]
    # A mean above the band still proves a floor: (14 - 5) °C times 240 min.
    assert v.reasons[0].facts["degree_minutes_at_least"] == 2160.0


def test_a_minimum_below_the_band_is_an_excursion_too() -> None:
    v = _decide(_timeline((_leg(-3.0, 4.0, 1.0),)))
    assert v.party_id == CARRIER and v.reasons[0].facts["side"] == "below"


def test_excursions_of_unknown_length_in_two_custodians_go_to_a_person() -> None:
    dc = (Aggregate(T0 + timedelta(hours=8), END, 2.0, 11.0, 4.0),)
    v = _decide(_timeline((_leg(2.1, 9.8, 5.2),), dc=dc))
    assert v.responsible_party == "undetermined"
    assert [r.code for r in v.reasons] == ["AGGREGATE_EXCURSIONS"]
