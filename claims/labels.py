"""The pack's printed label as claim evidence: the lot it names and its use-by date.

Pure. The label reads (``vision.ocr``, one per photo, or None where nothing was read) come
in with the claim; two rules read them:

- ``LABEL_OTHER_LOT``: a photo's label reads a lot other than the claim's. It may be a photo
  of other goods, or a misfiled lot: a reason, and the claim is held for a person. Never a
  refusal: the complaint stands, a person looks.
- ``USE_BY_PASSED_AT_DELIVERY``: the label's use-by (or expiry) date was already past on
  the day of delivery. Goods that may not be sold were sold: the seller's, the ``retailer``
  (the registered retailer that held the lot, when the ledger has one). Photos whose label
  reads another lot say nothing about this lot's date and are not used. A best-before date
  is quality, not safety, and does not decide.

A label read is the engine's (``vision.label_text`` abstains rather than guesses); the reason
names the photo and the words read, and the claim's evidence entry records every read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from claims.models import ClaimInput
from claims.segments import LedgerRef, Timeline
from claims.verdict import BASE_CONFIDENCE, Reason, Verdict
from supplychain.identifiers.digital_link import lot as lot_of_key
from supplychain.identifiers.tds import is_gs1_key
from vision.label_text import LabelRead, LabelReading, normalize_lot

__all__ = ["LABEL_OTHER_LOT", "SELLER", "claim_lot_number", "read_labels"]

LABEL_OTHER_LOT = "a photo's label reads another lot"
SELLER = "retailer"


def claim_lot_number(lot: str) -> str | None:
    """The lot number as printed: the claim's lot, or the lot part of its GS1 key (None: a
    key with no lot part, such as an SGTIN or SSCC, which no label lot can be compared to)."""
    if is_gs1_key(lot):
        return lot_of_key(lot)
    return lot


@dataclass(frozen=True)
class _Photo:
    position: int
    read: LabelRead


def _reads(labels: Sequence[LabelReading | None]) -> list[_Photo]:
    return [_Photo(n, r) for n, r in enumerate(labels) if isinstance(r, LabelRead)]


def _seller(timeline: Timeline | None) -> tuple[str | None, tuple[LedgerRef, ...]]:
    """The registered retailer that last held the lot, and the entries of its holding."""
    if timeline is None:
        return None, ()
    held = [s for s in timeline.segments if s.recorded and s.custodian.role == SELLER]
    if not held:
        return None, ()
    last = held[-1]
    return last.custodian.id, last.refs[:1]


def read_labels(
    verdict: Verdict,
    *,
    claim: ClaimInput,
    labels: Sequence[LabelReading | None],
    timeline: Timeline | None,
) -> Verdict:
    """The verdict with what the photos' labels say applied (see the module)."""
    photos = _reads(labels)
    if not photos:
        return verdict
    expected = claim_lot_number(claim.lot)
    other = [
        p
        for p in photos
        if p.read.lot is not None
        and expected is not None
        and normalize_lot(p.read.lot) != normalize_lot(expected)
    ]
    if other:
        read = "; ".join(f"photo {p.position + 1}: {p.read.lot!r}" for p in other)
        reason = Reason(
            "LABEL_OTHER_LOT",
            f"The label in the photos reads another lot than the claim's {expected!r} ({read}): "
            "the photo may show other goods. The claim stands; a person compares the label "
            "with the order.",
            facts={
                "claim_lot": expected,
                "read": [
                    {"photo": p.position, "lot": p.read.lot, "confidence": p.read.lot_confidence}
                    for p in other
                ],
            },
        )
        verdict = replace(
            verdict,
            reasons=(*verdict.reasons, reason),
            holds=(*verdict.holds, LABEL_OTHER_LOT),
        )
    same = [p for p in photos if p not in other]
    return _use_by(verdict, claim=claim, photos=same, timeline=timeline)


def _use_by(
    verdict: Verdict, *, claim: ClaimInput, photos: Sequence[_Photo], timeline: Timeline | None
) -> Verdict:
    delivered = claim.delivered_at.date()
    expired = [
        (p, d) for p in photos for d in p.read.dates if d.kind == "use_by" and d.date < delivered
    ]
    if not expired:
        return verdict
    photo, printed = min(expired, key=lambda x: x[1].date)
    party_id, refs = _seller(timeline)
    confidence = round(BASE_CONFIDENCE["USE_BY_PASSED_AT_DELIVERY"] * printed.confidence, 3)
    reason = Reason(
        "USE_BY_PASSED_AT_DELIVERY",
        f"The label in photo {photo.position + 1} reads {printed.text!r}: use by "
        f"{printed.date.isoformat()}, already past when the goods were delivered on "
        f"{delivered.isoformat()}. Goods past their use-by date may not be sold: the seller "
        "is responsible" + (f" ({party_id}, the retailer that held the lot)." if party_id else "."),
        refs,
        {
            "photo": photo.position,
            "use_by": printed.date.isoformat(),
            "delivered_at": claim.delivered_at.isoformat(),
            "read_confidence": round(printed.confidence, 4),
            "engine": photo.read.engine,
            "evidence": "the label read is recorded with the photo in the claim's evidence entry",
        },
    )
    return replace(
        verdict,
        responsible_party=SELLER,
        party_id=party_id,
        confidence=confidence,
        # The other rules' reasons stay, after this one, for the person who reads it.
        reasons=(reason, *verdict.reasons),
    )
