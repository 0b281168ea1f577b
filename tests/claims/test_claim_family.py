"""A claim may name what its product is: its photos are then held to that family's operating
point alone, the claim keeps it through reassessment, and a person's decision on it is
evidence for that family."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.services import build_services
from api.settings import Settings
from cases.adjudication import decide
from cases.feedback import gather_feedback
from claims.assessment import MODEL_UNSURE, ClaimEvidence
from claims.jsonutil import jsonable
from claims.models import ClaimInput, DecisionInput, FindingReview, claim_families
from claims.reassess import reassess_lots
from claims.service import _request_hash, file_claim
from claims.views import get_claim
from simulator.photos import texture_jpeg
from supplychain.capture import capture_events, register_party
from supplychain.epcis import parse_document
from supplychain.epcis.build import ObjectEvent, Quantity, SourceDestination, epcis_document
from vision.image import WORKING_SIDE, assess_quality, decode_image
from vision.operating import PhotoDecision
from vision.phash import phash
from vision.predictor import Inspection

NOW = datetime.now(UTC).replace(microsecond=0)
LOT = "urn:epc:class:lgtin:4000001.012345.FAM-1"
DC = "urn:epc:id:pgln:4000002.00000"


def _claim(**kw: object) -> ClaimInput:
    fields = {
        "order_id": "F-1",
        "lot": LOT,
        "category": "chilled",
        "line_value": "12.50",
        "currency": "EUR",
        "delivered_at": NOW - timedelta(days=1),
    }
    return ClaimInput.model_validate(fields | kw)


def test_a_claim_names_a_family_its_category_may_be() -> None:
    assert _claim(family="pouch").families == ("pouch",)
    assert _claim().families == ("parcel", "can", "pouch")  # any package
    assert _claim(category="chilled_produce", family="produce").families == ("produce",)
    assert claim_families("ambient_produce") == ("produce",)
    with pytest.raises(ValidationError, match="does not fit category 'chilled_produce'"):
        _claim(category="chilled_produce", family="can")
    with pytest.raises(ValidationError, match="does not fit category 'frozen'"):
        _claim(category="frozen", family="produce")


def test_a_claim_that_names_no_family_hashes_as_claims_did_before() -> None:
    # A retry (same Idempotency-Key) of a claim filed before the field existed must still
    # answer that claim: its request hash leaves the unnamed family out.
    photos = [("p.jpg", b"photo")]
    # What the code before hashed: the claim's fields (it had no family) and the photos.
    fields = {k: v for k, v in jsonable(_claim().model_dump()).items() if k != "family"}
    before = {**fields, "photos": [hashlib.sha256(b"photo").hexdigest()]}
    plain = _request_hash(_claim(), photos)
    assert plain == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    assert _request_hash(_claim(family="pouch"), photos) != plain


class PouchSure:
    """The model double: real decode, gate and hash; no finding; sure alone as a pouch only.
    It remembers the family each photo was judged as (what routes a packaging classifier)."""

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        self.asked.append(family)
        decoded = decode_image(data, max_side=WORKING_SIDE)
        quality = assess_quality(decoded.rgb, size=(decoded.width, decoded.height))
        decisions = {
            f: PhotoDecision(f, "clean", None, 0.97, 0.9 if f == "pouch" else None)
            for f in ("parcel", "can", "pouch")
        }
        return Inspection(
            image, hashlib.sha256(data).hexdigest(), decoded.width, decoded.height, quality,
            (), {"name": "double"}, phash=phash(decoded.rgb),
            scores={"swelling": 0.02, "package_damage": 0.03}, decisions=decisions,
        )  # fmt: skip


def test_the_named_family_s_point_alone_decides_the_photo() -> None:
    photo = PouchSure().inspect(texture_jpeg(7), image="p.jpg")
    assert ClaimEvidence(_claim(family="pouch"), (photo,), None).unsure_photos == ()
    # Naming none, the photo must pass every package family's point: parcel and can have none.
    assert ClaimEvidence(_claim(), (photo,), None).unsure_photos == (0,)


def test_the_family_is_kept_reassessed_and_is_evidence_for_it(tmp_path: Path) -> None:
    s = build_services(Settings(data_dir=tmp_path / "var", anchor_backend="none"))
    model = PouchSure()
    try:
        filed, _ = file_claim(
            ledger=s.ledger,
            store=s.evidence,
            inspector=model,
            claim=_claim(family="pouch"),
            photos=[("p.jpg", texture_jpeg(8))],
            now=NOW,
        )
        unnamed, _ = file_claim(
            ledger=s.ledger,
            store=s.evidence,
            inspector=model,
            claim=_claim(order_id="F-2"),
            photos=[("q.jpg", texture_jpeg(9))],
            now=NOW,
        )
        # The photos were judged as the family the claim named (none: nobody said).
        assert model.asked == ["pouch", None]
        view = get_claim(s.engine, str(filed["id"]))
        assert (
            view["family"] == "pouch" and get_claim(s.engine, str(unnamed["id"]))["family"] is None
        )
        holds = lambda claim: " ".join(claim["verdict"].get("holds", ()))  # noqa: E731
        assert MODEL_UNSURE not in holds(view)
        assert MODEL_UNSURE in holds(get_claim(s.engine, str(unnamed["id"])))
        # Records of the lot arrive late: the claim is assessed again, still as a pouch.
        register_party(ledger=s.ledger, party_id=DC, role="warehouse", name="DC")
        received = ObjectEvent(
            event_time=NOW - timedelta(days=2),
            biz_step="receiving",
            epcs=(),
            quantities=(Quantity(LOT, 2),),
            destinations=(SourceDestination(DC),),
        )
        appended = capture_events(
            ledger=s.ledger, events_in=parse_document(epcis_document([received], creation_date=NOW))
        )
        done = reassess_lots(
            ledger=s.ledger,
            records={LOT: tuple(i for _, i in appended.appended)},
            config=s.claims_config,
            now=NOW,
        )
        assert {r.claim_id for r in done} == {filed["id"], unnamed["id"]}
        again = get_claim(s.engine, str(filed["id"]))
        assert again["family"] == "pouch" and MODEL_UNSURE not in holds(again)
        assert MODEL_UNSURE in holds(get_claim(s.engine, str(unnamed["id"])))
        # A person's decision on its photo is a labelled photo of a pouch.
        decide(
            ledger=s.ledger,
            claim_id=str(filed["id"]),
            decision=DecisionInput(
                party="override",
                responsible_party="carrier",
                reason="as the photo shows",
                compensation="deny",
                findings=[
                    FindingReview(
                        photo=0,
                        index=None,
                        correct=False,
                        label="swelling",
                        box=(10.0, 10.0, 100.0, 100.0),
                    )
                ],
            ),
            actor="key:fpk_1111aaaa (Ana)",
            now=NOW,
            policy=s.claims_config.compensation,
        )
        (labelled,) = gather_feedback(s.engine).photos
        assert labelled.family == "pouch" and labelled.photo_class == "swelling"
    finally:
        s.close()


def test_the_families_a_claim_may_name_are_the_operating_points_families() -> None:
    from typing import get_args

    from claims.models import Family
    from vision.operating import FAMILIES

    assert set(get_args(Family)) == set(FAMILIES)
