"""The pack's label as claim evidence: another lot holds the claim for a person; a use-by
date past at delivery is the seller's. Pure assessment first, then through the service."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from api.services import build_services
from api.settings import Settings
from claims.assessment import ClaimEvidence, ClaimsConfig, assess
from claims.coldchain import Reading
from claims.labels import LABEL_OTHER_LOT, claim_lot_number
from claims.models import ClaimInput
from claims.segments import LedgerRef, Party, Segment, Timeline
from claims.service import file_claim
from simulator.photos import GivenFindings, texture_jpeg
from vision.image import QualityReport
from vision.label_text import LabelDate, LabelRead, LabelReading, Unreadable
from vision.predictor import Finding, Inspection

NOW = datetime(2026, 12, 14, 12, 0, tzinfo=UTC)
DELIVERED = datetime(2026, 12, 13, 9, 0, tzinfo=UTC)
FARM = Party("urn:epc:id:pgln:1.0", "supplier", "Farm")
SHOP = Party("urn:epc:id:pgln:3.0", "retailer", "Corner shop", ledger_idx=4)
CONFIG = ClaimsConfig()


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
