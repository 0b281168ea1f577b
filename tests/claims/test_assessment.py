"""The pure assessment: evidence in, decision out, with no database, store or model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from claims.assessment import ClaimEvidence, ClaimsConfig, assess
from claims.coldchain import Reading
from claims.duplicates import DuplicateMatch
from claims.models import ClaimInput
from claims.segments import LedgerRef, Observation, Party, Segment, Timeline
from vision.image import QualityReport
from vision.predictor import Finding, Inspection

NOW = datetime(2026, 5, 3, 12, 0, tzinfo=UTC)
DELIVERED = NOW - timedelta(hours=6)
FARM = Party("urn:epc:id:pgln:1.0", "supplier", "Farm")
TRUCK = Party("urn:epc:id:pgln:2.0", "carrier", "Truck")
CONFIG = ClaimsConfig()


def _claim(value: str = "12.50") -> ClaimInput:
    return ClaimInput(
        order_id="o-1",
        lot="L-1",
        category="chilled",
        line_value=Decimal(value),
        currency="EUR",
        delivered_at=DELIVERED,
    )


def _photo(*labels: str) -> Inspection:
    findings = tuple(Finding(label, 0.9, (0.0, 0.0, 10.0, 10.0)) for label in labels)
    return Inspection("p.jpg", "0" * 64, 100, 100, QualityReport(True), findings, {}, phash=1)


def _timeline(truck_celsius: float) -> Timeline:
    t0 = DELIVERED - timedelta(hours=12)
    readings = tuple(Reading(t0 + timedelta(hours=6 + h / 4), truck_celsius) for h in range(0, 24))
    farm = tuple(Reading(t0 + timedelta(hours=h / 4), 3.0) for h in range(0, 24))
    return Timeline(
        "L-1",
        (
            Segment(FARM, t0, t0 + timedelta(hours=6), farm, (LedgerRef(1, "a" * 64),)),
            Segment(TRUCK, t0 + timedelta(hours=6), DELIVERED, readings, (LedgerRef(2, "b" * 64),)),
            Segment(Party("c", "customer"), DELIVERED, None),
        ),
    )


def test_a_lot_without_records_is_undetermined_for_a_person_with_no_payment() -> None:
    decision = assess(ClaimEvidence(_claim(), (_photo("mold"),), None), config=CONFIG, now=NOW)
    assert decision.verdict.responsible_party == "undetermined"
    assert [r.code for r in decision.verdict.reasons] == ["NO_RECORDS"]
    assert decision.status == "needs_review" and not decision.compensation.auto_pay
    # Mould on food is a food-safety case first; the undetermined party is on the ticket too.
    assert (decision.ticket.priority, decision.ticket.route) == ("P0", "quality+legal")
    assert [r.rule for r in decision.ticket.reasons] == ["food_safety", "undetermined"]


def test_a_hot_truck_makes_spoilage_the_carriers() -> None:
    evidence = ClaimEvidence(_claim(), (_photo("spoilage"),), _timeline(14.0))
    decision = assess(evidence, config=CONFIG, now=NOW)
    assert decision.verdict.responsible_party == "carrier"
    assert decision.verdict.party_id == TRUCK.id
    assert decision.lot_alert is None


def test_a_copied_photo_keeps_the_verdict_but_holds_payment_for_a_person() -> None:
    copy = DuplicateMatch(claim_id="x", photo_sha256="1" * 64, distance=0, evidence_index=7)
    clean = ClaimEvidence(_claim(), (_photo("spoilage"),), _timeline(14.0))
    copied = ClaimEvidence(_claim(), (_photo("spoilage"),), _timeline(14.0), ((copy,),))
    a, b = (assess(e, config=CONFIG, now=NOW) for e in (clean, copied))
    assert a.verdict == b.verdict
    assert b.status == "needs_review" and not b.compensation.auto_pay


def test_a_claim_resting_only_on_uncertain_findings_goes_to_a_person() -> None:
    def photo(*uncertain: bool) -> Inspection:
        found = tuple(
            Finding("spoilage", 0.95, (0.0, 0.0, 10.0, 10.0), uncertain=u) for u in uncertain
        )
        return Inspection("p.jpg", "0" * 64, 100, 100, QualityReport(True), found, {}, phash=1)

    sure = ClaimEvidence(_claim(), (photo(False, True),), _timeline(14.0))
    unsure = ClaimEvidence(_claim(), (photo(True), photo(True)), _timeline(14.0))
    a, b = (assess(e, config=CONFIG, now=NOW) for e in (sure, unsure))
    # One sure finding carries the claim; only uncertain ones put a person on it.
    assert a.status == "open" and a.compensation.auto_pay
    assert a.verdict == b.verdict
    assert b.status == "needs_review" and not b.compensation.auto_pay
    assert "UNCERTAIN_EVIDENCE" in b.compensation.reason


def test_the_third_defect_claim_on_a_lot_raises_an_alert_naming_the_earlier_two() -> None:
    evidence = ClaimEvidence(
        _claim(), (_photo("mold"),), _timeline(3.0), recent_lot_claims=("c1", "c2")
    )
    assert assess(evidence, config=CONFIG, now=NOW).lot_alert == ("c1", "c2")
    no_defect = ClaimEvidence(_claim(), (_photo(),), _timeline(3.0), recent_lot_claims=("c1", "c2"))
    assert assess(no_defect, config=CONFIG, now=NOW).lot_alert is None


def test_the_same_evidence_gives_the_same_decision() -> None:
    evidence = ClaimEvidence(_claim(), (_photo("swelling"),), _timeline(3.0))
    assert assess(evidence, config=CONFIG, now=NOW) == assess(evidence, config=CONFIG, now=NOW)


def test_a_defect_only_the_ledger_recorded_is_ticketed_and_compensated() -> None:
    t = _timeline(4.0)
    pickup = Observation(t.segments[1].start, "inspection", ref=LedgerRef(5, "e" * 64))
    pod = Observation(DELIVERED, "delivery", frozenset({"package_damage"}), LedgerRef(6, "f" * 64))
    evidence = ClaimEvidence(_claim(), (_photo(),), Timeline(t.lot, t.segments, (pickup, pod)))
    decision = assess(evidence, config=CONFIG, now=NOW)
    assert (decision.verdict.responsible_party, decision.verdict.party_id) == ("carrier", TRUCK.id)
    assert [e.source for e in decision.verdict.evidence] == ["ledger"]
    assert decision.ticket.route == "carrier_claims"
    assert decision.compensation.amount == Decimal("12.50") and decision.compensation.auto_pay
