"""The pack's label as claim evidence: another lot holds the claim for a person; a use-by
date past at delivery is the seller's. Pure assessment first, then through the service."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from api.services import build_services
from api.settings import Settings
from claims.assessment import ClaimEvidence, ClaimsConfig, assess
from claims.coldchain import Reading
from claims.labels import (
    LABEL_DATE_DIFFERS,
    LABEL_OTHER_LOT,
    RECORDED_USE_BY_DIFFER,
    USE_BY_NOT_THE_MAKERS,
    claim_lot_number,
)
from claims.models import ClaimInput
from claims.segments import LedgerRef, Party, RecordedUseBy, Segment, Timeline
from claims.service import file_claim
from claims.timeline import build_timeline
from claims.verdict import BASE_CONFIDENCE, Verdict
from ledger.log import Ledger
from simulator.photos import GivenFindings, texture_jpeg
from storage.db import make_engine
from storage.schema import metadata
from supplychain.capture import capture_events
from supplychain.epcis import parse_document
from vision.image import QualityReport
from vision.label_text import LabelDate, LabelRead, LabelReading, Unreadable
from vision.predictor import Finding, Inspection

NOW = datetime(2026, 12, 14, 12, 0, tzinfo=UTC)
DELIVERED = datetime(2026, 12, 13, 9, 0, tzinfo=UTC)
FARM = Party("urn:epc:id:pgln:1.0", "supplier", "Farm")
SHOP = Party("urn:epc:id:pgln:3.0", "retailer", "Corner shop", ledger_idx=4)
CONFIG = ClaimsConfig()
EPCIS = Path(__file__).resolve().parents[1] / "supplychain" / "data" / "epcis"


def _claim(lot: str = "L2411A7") -> ClaimInput:
    return ClaimInput(
        order_id="o-1",
        lot=lot,
        category="chilled",
        line_value=Decimal("12.50"),
        currency="EUR",
        delivered_at=DELIVERED,
    )


def _photo(*labels: str) -> Inspection:
    findings = tuple(Finding(label, 0.9, (0.0, 0.0, 10.0, 10.0)) for label in labels)
    return Inspection("p.jpg", "0" * 64, 100, 100, QualityReport(True), findings, {}, phash=1)


def _timeline() -> Timeline:
    """A clean chain: the farm, then the shop that sold it, then the customer."""
    t0 = DELIVERED - timedelta(days=2)
    cold = tuple(Reading(t0 + timedelta(hours=h), 3.0) for h in range(0, 48))
    return Timeline(
        "L2411A7",
        (
            Segment(FARM, t0, t0 + timedelta(days=1), cold[:24], (LedgerRef(1, "a" * 64),)),
            Segment(SHOP, t0 + timedelta(days=1), DELIVERED, cold[24:], (LedgerRef(5, "b" * 64),)),
            Segment(Party("c", "customer"), DELIVERED, None),
        ),
    )


def _label(lot: str | None, use_by: date | None = None) -> LabelRead:
    dates = (LabelDate("use_by", use_by, f"USE BY {use_by:%d/%m/%Y}", 0.97),) if use_by else ()
    return LabelRead(lot, dates, 0.97, 0.97 if lot else None, engine="rapidocr 3.10.0")


def test_a_label_of_another_lot_holds_the_claim_for_a_person_with_the_reason() -> None:
    evidence = ClaimEvidence(
        _claim(), (_photo("spoilage"),), _timeline(), labels=(_label("L2411B9"),)
    )
    decision = assess(evidence, config=CONFIG, now=NOW)
    reason = decision.verdict.reasons[-1]
    assert reason.code == "LABEL_OTHER_LOT"
    assert reason.facts["read"] == [{"photo": 0, "lot": "L2411B9", "confidence": 0.97}]
    assert LABEL_OTHER_LOT in decision.verdict.holds
    # Held, never refused: the claim is filed and waits; nothing is paid without a person.
    assert decision.status == "needs_review"
    assert not decision.compensation.auto_pay
    assert LABEL_OTHER_LOT in decision.compensation.reason


def test_the_claims_own_lot_on_the_label_changes_nothing() -> None:
    plain = assess(
        ClaimEvidence(_claim(), (_photo("spoilage"),), _timeline()), config=CONFIG, now=NOW
    )
    same = assess(
        ClaimEvidence(
            _claim(), (_photo("spoilage"),), _timeline(), labels=(_label("l-2411a7"), None)
        ),
        config=CONFIG,
        now=NOW,
    )
    assert same == plain


def test_an_unreadable_label_is_no_evidence_either_way() -> None:
    plain = assess(
        ClaimEvidence(_claim(), (_photo("spoilage"),), _timeline()), config=CONFIG, now=NOW
    )
    unread = ClaimEvidence(
        _claim(), (_photo("spoilage"),), _timeline(), labels=(Unreadable("blurred"),)
    )
    assert assess(unread, config=CONFIG, now=NOW) == plain


def test_a_use_by_date_past_at_delivery_is_the_sellers() -> None:
    labels: tuple[LabelReading | None, ...] = (_label("L2411A7", date(2026, 12, 12)),)
    evidence = ClaimEvidence(_claim(), (_photo("spoilage"),), _timeline(), labels=labels)
    verdict = assess(evidence, config=CONFIG, now=NOW).verdict
    assert (verdict.responsible_party, verdict.party_id) == ("retailer", SHOP.id)
    first = verdict.reasons[0]
    assert first.code == "USE_BY_PASSED_AT_DELIVERY"
    # It cites the shop's holding of the lot in the ledger, and the read it rests on.
    assert first.refs == (LedgerRef(5, "b" * 64),)
    assert first.facts["use_by"] == "2026-12-12" and first.facts["photo"] == 0
    assert verdict.confidence == round(0.95 * 0.97, 3)
    # The other rules' reasons are kept for the person who reads the verdict.
    assert [r.code for r in verdict.reasons[1:]] == ["INHERENT_QUALITY"]


def test_a_use_by_date_on_the_day_of_delivery_is_not_past() -> None:
    labels: tuple[LabelReading | None, ...] = (_label("L2411A7", DELIVERED.date()),)
    verdict = assess(
        ClaimEvidence(_claim(), (_photo("spoilage"),), _timeline(), labels=labels),
        config=CONFIG,
        now=NOW,
    ).verdict
    assert verdict.responsible_party == "supplier"


def test_a_use_by_date_read_on_another_lots_label_names_nobody() -> None:
    labels: tuple[LabelReading | None, ...] = (_label("Z9999", date(2026, 1, 1)),)
    verdict = assess(
        ClaimEvidence(_claim(), (_photo("spoilage"),), _timeline(), labels=labels),
        config=CONFIG,
        now=NOW,
    ).verdict
    assert verdict.responsible_party == "supplier"
    assert "USE_BY_PASSED_AT_DELIVERY" not in [r.code for r in verdict.reasons]
    assert LABEL_OTHER_LOT in verdict.holds


def test_a_claim_lot_given_as_a_gs1_key_is_compared_by_its_lot_part() -> None:
    assert claim_lot_number("urn:epc:class:lgtin:4012345.012345.L2411A7") == "L2411A7"
    assert claim_lot_number("https://id.gs1.org/01/04012345123456/10/L2411A7") == "L2411A7"
    assert claim_lot_number("urn:epc:id:sscc:4012345.0000000001") is None
    assert claim_lot_number("STRAW-0502") == "STRAW-0502"


class FixedLabels:
    """A test double for the label reader: each photo's read is given."""

    def __init__(self, reads: dict[bytes, LabelReading]) -> None:
        self.reads = reads

    def read(self, data: bytes) -> LabelReading:
        return self.reads.get(data, Unreadable("no label in this photo"))


@pytest.mark.parametrize("use_by", [None, date(2026, 12, 1)])
def test_the_service_files_the_claim_with_the_label_read_as_evidence(
    tmp_path: Path, use_by: date | None
) -> None:
    services = build_services(Settings(data_dir=tmp_path / "var", anchor_backend="none"))
    try:
        inspector = GivenFindings()
        photo, label = texture_jpeg(11), texture_jpeg(12)
        inspector.give(photo, [("spoilage", 0.93)])
        lot = "L2411B9" if use_by is None else "L2411A7"
        filed, created = file_claim(
            ledger=services.ledger,
            store=services.evidence,
            inspector=inspector,
            claim=_claim(),
            photos=[("p.jpg", photo), ("label.jpg", label)],
            now=NOW,
            label_reader=FixedLabels({label: _label(lot, use_by)}),
        )
        assert created
        codes = [r["code"] for r in filed["verdict"]["reasons"]]
        if use_by is None:  # a photo of another lot: filed, held for a person
            assert "LABEL_OTHER_LOT" in codes and filed["status"] == "needs_review"
        else:  # the lot has no records, but the label's use-by was past at delivery
            assert codes[0] == "USE_BY_PASSED_AT_DELIVERY"
            assert filed["verdict"]["responsible_party"] == "retailer"
        # Every photo's read is in the evidence entry, unreadable ones included.
        evidence = services.ledger.entry(filed["ledger"]["evidence_index"]).body
        reads = [p.get("label") for p in evidence["photos"]]
        # And with the claim's photos as shown, where a reassessment reads them back.
        assert [p.get("label") for p in filed["photos"]] == reads
        assert reads[0] == {
            "readable": False,
            "reason": "no label in this photo",
            "lines": [],
            "engine": "",
        }
        assert reads[1]["lot"] == lot
    finally:
        services.close()


# The lot's use-by as its records state it (EPCIS ILMD ``itemExpirationDate``).


def _recorded(*days: date) -> Timeline:
    refs = [LedgerRef(20 + n, f"{n:x}" * 64) for n in range(len(days))]
    return replace(
        _timeline(),
        use_by=tuple(RecordedUseBy(d, ref, (FARM.id,)) for d, ref in zip(days, refs, strict=True)),
    )


def _assessed(timeline: Timeline, *labels: LabelReading | None) -> Verdict:
    evidence = ClaimEvidence(_claim(), (_photo("spoilage"),), timeline, labels=labels)
    return assess(evidence, config=CONFIG, now=NOW).verdict


def test_a_recorded_use_by_past_at_delivery_is_the_sellers_with_no_label_read() -> None:
    verdict = _assessed(_recorded(date(2026, 12, 12)))
    assert (verdict.responsible_party, verdict.party_id) == ("retailer", SHOP.id)
    first = verdict.reasons[0]
    assert first.code == "USE_BY_PASSED_AT_DELIVERY"
    # It cites the record that states the date, then the shop's holding.
    assert first.refs == (LedgerRef(20, "0" * 64), LedgerRef(5, "b" * 64))
    assert first.facts["source"] == "records" and first.facts["recorded_by"] == [FARM.id]
    assert "records give its use-by date as 2026-12-12" in first.message
    assert verdict.confidence == BASE_CONFIDENCE["USE_BY_PASSED_AT_DELIVERY"]
    assert not verdict.holds


def test_a_label_agreeing_with_the_records_is_named_beside_them() -> None:
    verdict = _assessed(_recorded(date(2026, 12, 12)), None, _label("L2411A7", date(2026, 12, 12)))
    first = verdict.reasons[0]
    assert first.code == "USE_BY_PASSED_AT_DELIVERY" and first.facts["label_photos"] == [1]
    assert "as the label in photo 2 reads" in first.message
    assert LABEL_DATE_DIFFERS not in verdict.holds


def test_a_misread_past_date_never_names_the_seller_when_the_records_say_otherwise() -> None:
    """An engine's S read as 5 turned a date into one already past: the records' date
    stands, and a person compares the pack with them."""
    verdict = _assessed(_recorded(date(2026, 12, 15)), _label("L2411A7", date(2026, 12, 5)))
    assert verdict.responsible_party == "supplier"
    assert "USE_BY_PASSED_AT_DELIVERY" not in [r.code for r in verdict.reasons]
    assert LABEL_DATE_DIFFERS in verdict.holds
    (differs,) = [r for r in verdict.reasons if r.code == "LABEL_DATE_DIFFERS"]
    assert differs.facts["recorded_use_by"] == "2026-12-15"
    assert differs.facts["read"] == [{"photo": 0, "use_by": "2026-12-05", "confidence": 0.97}]
    assert differs.refs == (LedgerRef(20, "0" * 64),)


def test_a_label_date_other_than_a_past_recorded_one_still_names_the_seller_but_holds() -> None:
    verdict = _assessed(_recorded(date(2026, 12, 12)), _label("L2411A7", date(2026, 12, 30)))
    assert verdict.responsible_party == "retailer"
    assert LABEL_DATE_DIFFERS in verdict.holds


def test_records_stating_different_use_by_dates_decide_nothing_and_hold() -> None:
    verdict = _assessed(_recorded(date(2026, 12, 12), date(2026, 12, 20)))
    assert verdict.responsible_party == "supplier"
    assert RECORDED_USE_BY_DIFFER in verdict.holds
    (reason,) = [r for r in verdict.reasons if r.code == "RECORDED_USE_BY_DIFFER"]
    assert reason.as_dict()["facts"] == {
        "use_by": [
            {"date": "2026-12-12", "by": [FARM.id]},
            {"date": "2026-12-20", "by": [FARM.id]},
        ]
    }


@pytest.mark.parametrize("by", [(SHOP.id,), ()], ids=["the shop", "a key of no party"])
def test_a_use_by_only_another_party_than_the_maker_recorded_decides_nothing(
    by: tuple[str, ...],
) -> None:
    """Master data is the maker's: a date the seller (or an import by nobody of the chain)
    states alone neither names nor clears anyone; a person checks it."""
    timeline = replace(
        _timeline(), use_by=(RecordedUseBy(date(2026, 12, 12), LedgerRef(20, "0" * 64), by),)
    )
    verdict = _assessed(timeline, _label("L2411A7", date(2026, 12, 12)))
    assert verdict.responsible_party == "supplier"
    assert USE_BY_NOT_THE_MAKERS in verdict.holds
    (reason,) = [r for r in verdict.reasons if r.code == "USE_BY_NOT_THE_MAKERS"]
    assert reason.facts == {"use_by": "2026-12-12", "recorded_by": list(by), "maker": FARM.id}
    # The maker's own record of the same date, beside it, decides.
    both = replace(
        timeline,
        use_by=(
            *timeline.use_by,
            RecordedUseBy(date(2026, 12, 12), LedgerRef(21, "1" * 64), (FARM.id,)),
        ),
    )
    decided = _assessed(both)
    assert decided.responsible_party == "retailer" and not decided.holds
    assert decided.reasons[0].refs[0] == LedgerRef(21, "1" * 64)


def test_a_record_left_out_as_late_takes_its_date_with_it() -> None:
    """GUIDE §4 rule 6: a timeline without a late record has none of its facts."""
    timeline = _recorded(date(2026, 12, 12))
    assert timeline.without(frozenset({20})).use_by == ()
    verdict = _assessed(timeline.without(frozenset({20})))
    assert verdict.responsible_party != "retailer"
    assert "USE_BY_PASSED_AT_DELIVERY" not in [r.code for r in verdict.reasons]


COMMISSIONED = {
    "type": "ObjectEvent",
    "eventTime": "2024-05-01T06:00:00.000+02:00",
    "eventTimeZoneOffset": "+02:00",
    "quantityList": [
        {"epcClass": "urn:epc:class:lgtin:4012345.012345.STRAW-0502", "quantity": 240, "uom": "KGM"}
    ],
    "action": "ADD",
    "bizStep": "commissioning",
    "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"},
    "sourceList": [{"type": "possessing_party", "source": "urn:epc:id:pgln:4012345.00000"}],
    "ilmd": {"cbvmda:itemExpirationDate": "2024-05-01"},
}
# The chain's system, as the README's key: it speaks for the farm, the carrier and the DC.
CHAIN = (
    "urn:epc:id:pgln:4012345.00000",
    "urn:epc:id:pgln:4023333.00000",
    "urn:epc:id:pgln:4000001.00000",
)


def test_the_timeline_reads_the_use_by_a_captured_event_records(tmp_path: Path) -> None:
    """From EPCIS capture to the verdict: the commissioning event's ILMD states the lot's
    use-by, a day before the delivery."""
    engine = make_engine(f"sqlite:///{tmp_path / 'use-by.db'}")
    metadata.create_all(engine)
    ledger = Ledger(engine)
    try:
        doc = json.loads((EPCIS / "object_shipping_inspection.json").read_text())
        doc["epcisBody"]["eventList"].insert(0, COMMISSIONED)
        capture_events(ledger=ledger, events_in=parse_document(doc), speaks_for=CHAIN)
        delivered = datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
        timeline = build_timeline(
            ledger=ledger,
            lot="urn:epc:class:lgtin:4012345.012345.STRAW-0502",
            delivered_at=delivered,
            customer=Party("c-1", "customer"),
        )
        (recorded,) = timeline.use_by
        assert recorded.date == date(2024, 5, 1)
        assert "urn:epc:id:pgln:4012345.00000" in recorded.by  # for the farm, which made it
        assert ledger.entry(recorded.ref.index).body["event"]["ilmd"] == COMMISSIONED["ilmd"]
        claim = _claim("urn:epc:class:lgtin:4012345.012345.STRAW-0502").model_copy(
            update={"delivered_at": delivered}
        )
        verdict = assess(
            ClaimEvidence(claim, (_photo("spoilage"),), timeline),
            config=CONFIG,
            now=delivered + timedelta(hours=3),
        ).verdict
        assert verdict.reasons[0].code == "USE_BY_PASSED_AT_DELIVERY"
        assert verdict.responsible_party == "retailer"  # no retailer registered: no id
        assert verdict.party_id is None and verdict.reasons[0].refs[0] == recorded.ref
    finally:
        engine.dispose()
