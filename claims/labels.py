"""The pack's printed label as claim evidence: the lot it names and its use-by date.

Pure. The label reads (``vision.ocr``, one per photo, or None where nothing was read) come
in with the claim; two rules read them:

- ``LABEL_OTHER_LOT``: a photo's label reads a lot other than the claim's. It may be a photo
  of other goods, or a misfiled lot: a reason, and the claim is held for a person. Never a
  refusal: the complaint stands, a person looks.
- ``USE_BY_PASSED_AT_DELIVERY``: the lot's use-by (or expiry) date was already past on the
  day of delivery. Goods that may not be sold were sold: the seller's, the ``retailer``
  (the registered retailer that held the lot, when the ledger has one). The date is the one
  the lot's records state (ILMD ``itemExpirationDate``) when they state one, else the one
  read on the label. Photos whose label reads another lot say nothing about this lot's date
  and are not used. A best-before date is quality, not safety, and does not decide.
- ``LABEL_DATE_DIFFERS``: a label reads a use-by date other than the one the lot's records
  state. An engine's misread (a 5 read for an S) or a pack relabelled: the label's date is
  not used, and the claim is held for a person, who compares the pack with the records.
- ``RECORDED_USE_BY_DIFFER``: the lot's records state different use-by dates. No date
  decides; the claim is held for a person.
- ``USE_BY_NOT_THE_MAKERS``: the lot's use-by date is recorded only by a party other than
  its maker (its first holder on record). The date is master data the maker prints on the
  pack; another party's statement of it (a carrier's, which would move the blame off its
  own leg) decides nothing and holds the claim for a person.

A label read is the engine's (``vision.label_text`` abstains rather than guesses); the reason
names the photo and the words read, and the claim's evidence entry records every read. A
record's date is what a party signed for in the ledger, so it outranks a read: a misread
date never names the seller when the records state the lot's date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from claims.models import ClaimInput
from claims.segments import LedgerRef, RecordedUseBy, Timeline
from claims.verdict import BASE_CONFIDENCE, Reason, Verdict
from supplychain.identifiers.digital_link import lot as lot_of_key
from supplychain.identifiers.tds import is_gs1_key
from vision.label_text import LabelDate, LabelRead, LabelReading, normalize_lot

__all__ = [
    "LABEL_DATE_DIFFERS",
    "LABEL_OTHER_LOT",
    "RECORDED_USE_BY_DIFFER",
    "SELLER",
    "USE_BY_NOT_THE_MAKERS",
    "claim_lot_number",
    "read_labels",
]

LABEL_OTHER_LOT = "a photo's label reads another lot"
LABEL_DATE_DIFFERS = "a photo's label reads another use-by date than the lot's records"
RECORDED_USE_BY_DIFFER = "the lot's records state different use-by dates"
USE_BY_NOT_THE_MAKERS = "the lot's use-by date was recorded by another party than its maker"
SELLER = "retailer"
_PASSED = "USE_BY_PASSED_AT_DELIVERY"


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


@dataclass(frozen=True)
class _Seller:
    """The registered retailer that last held the lot, as the records show it."""

    party_id: str | None  # None: no retailer's holding is on record
    refs: tuple[LedgerRef, ...]  # the entries of its holding (its first)


_NO_SELLER = _Seller(None, ())


def _seller(timeline: Timeline | None) -> _Seller:
    """The registered retailer that last held the lot, and the entries of its holding."""
    if timeline is None:
        return _NO_SELLER
    held = [s for s in timeline.segments if s.recorded and s.custodian.role == SELLER]
    if not held:
        return _NO_SELLER
    last = held[-1]
    return _Seller(last.custodian.id, last.refs[:1])


def read_labels(
    verdict: Verdict,
    *,
    claim: ClaimInput,
    labels: Sequence[LabelReading | None],
    timeline: Timeline | None,
) -> Verdict:
    """The verdict with what the photos' labels and the lot's recorded use-by say applied
    (see the module)."""
    photos = _reads(labels)
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
        verdict = _held(verdict, reason, LABEL_OTHER_LOT)
    same = [p for p in photos if p not in other]
    return _use_by(verdict, claim=claim, photos=same, timeline=timeline)


def _use_by(
    verdict: Verdict, *, claim: ClaimInput, photos: Sequence[_Photo], timeline: Timeline | None
) -> Verdict:
    delivered = claim.delivered_at.date()
    read = [(p, d) for p in photos for d in p.read.dates if d.kind == "use_by"]
    recorded = timeline.use_by if timeline is not None else ()
    dates = sorted({r.date for r in recorded})
    if len(dates) > 1:
        return _held(verdict, _records_differ(recorded, dates), RECORDED_USE_BY_DIFFER)
    if recorded:
        maker = _maker(timeline)
        record = next((r for r in recorded if maker in r.by), recorded[0])
        differ = [(p, d) for p, d in read if d.date != record.date]
        if differ:
            verdict = _held(verdict, _differs(record, differ), LABEL_DATE_DIFFERS)
        if maker not in record.by:
            return _held(verdict, _not_the_makers(record, maker), USE_BY_NOT_THE_MAKERS)
        if record.date >= delivered:
            return verdict
        agree = [p.position for p, d in read if d.date == record.date]
        seller = _seller(timeline)
        return _sellers(verdict, *_by_record(claim, record, agree, seller), seller.party_id)
    expired = [(p, d) for p, d in read if d.date < delivered]
    if not expired:
        return verdict
    photo, printed = min(expired, key=lambda x: x[1].date)
    seller = _seller(timeline)
    return _sellers(verdict, *_by_label(claim, photo, printed, seller), seller.party_id)


def _maker(timeline: Timeline | None) -> str | None:
    """The party that made the lot, as the records show: its first holder on record."""
    if timeline is None:
        return None
    first = next((s for s in timeline.segments if s.recorded), None)
    return first.custodian.id if first is not None else None


def _records_differ(recorded: Sequence[RecordedUseBy], dates: Sequence[date]) -> Reason:
    return Reason(
        "RECORDED_USE_BY_DIFFER",
        f"The lot's records state different use-by dates ({', '.join(map(str, dates))}): no "
        "date decides; a person checks which is the pack's.",
        tuple(r.ref for r in recorded),
        {"use_by": [{"date": r.date.isoformat(), "by": list(r.by)} for r in recorded]},
    )


def _not_the_makers(record: RecordedUseBy, maker: str | None) -> Reason:
    who = ", ".join(record.by) or "a key that speaks for no party of the lot"
    return Reason(
        "USE_BY_NOT_THE_MAKERS",
        f"The lot's use-by date {record.date.isoformat()} was recorded by {who}, not by the "
        f"party that made the lot ({maker or 'none on record'}): a date another party states "
        "decides nothing alone (it may be theirs to gain by); a person checks it.",
        (record.ref,),
        {"use_by": record.date.isoformat(), "recorded_by": list(record.by), "maker": maker},
    )


def _held(verdict: Verdict, reason: Reason, hold: str) -> Verdict:
    return replace(verdict, reasons=(*verdict.reasons, reason), holds=(*verdict.holds, hold))


def _differs(record: RecordedUseBy, differ: Sequence[tuple[_Photo, LabelDate]]) -> Reason:
    read = "; ".join(f"photo {p.position + 1}: {d.text!r}" for p, d in differ)
    return Reason(
        "LABEL_DATE_DIFFERS",
        f"The label reads another use-by date than the lot's records ({record.date.isoformat()}"
        f"): {read}. A misread or a relabelled pack: the label's date is not used, and a "
        "person compares the pack with the records.",
        (record.ref,),
        {
            "recorded_use_by": record.date.isoformat(),
            "read": [
                {"photo": p.position, "use_by": d.date.isoformat(), "confidence": d.confidence}
                for p, d in differ
            ],
        },
    )


def _by_record(
    claim: ClaimInput, record: RecordedUseBy, agree: Sequence[int], seller: _Seller
) -> tuple[Reason, float]:
    """The seller's reason when the maker's record gives a date already past (``agree``: the
    photos whose label reads the same date), and its confidence: a signed record's."""
    said = f"The lot's records give its use-by date as {record.date.isoformat()}"
    if agree:
        said += f", as the label in photo {agree[0] + 1} reads"
    facts: dict[str, object] = {
        "use_by": record.date.isoformat(),
        "delivered_at": claim.delivered_at.isoformat(),
        "source": "records",
        "recorded_by": list(record.by),
    }
    if agree:
        facts["label_photos"] = list(agree)
    reason = Reason(_PASSED, _passed(said, claim, seller), (record.ref, *seller.refs), facts)
    return reason, BASE_CONFIDENCE[_PASSED]


def _by_label(
    claim: ClaimInput, photo: _Photo, printed: LabelDate, seller: _Seller
) -> tuple[Reason, float]:
    """The seller's reason when a label reads a date already past (the records state none),
    and its confidence: the rule's, times the read's."""
    said = f"The label in photo {photo.position + 1} reads {printed.text!r}: use by " + (
        printed.date.isoformat()
    )
    facts: dict[str, object] = {
        "photo": photo.position,
        "use_by": printed.date.isoformat(),
        "delivered_at": claim.delivered_at.isoformat(),
        "source": "label",
        "read_confidence": round(printed.confidence, 4),
        "engine": photo.read.engine,
        "evidence": "the label read is recorded with the photo in the claim's evidence entry",
    }
    reason = Reason(_PASSED, _passed(said, claim, seller), seller.refs, facts)
    return reason, round(BASE_CONFIDENCE[_PASSED] * printed.confidence, 3)


def _passed(said: str, claim: ClaimInput, seller: _Seller) -> str:
    """The reason's sentence, after what ``said`` gives as the date."""
    party_id = seller.party_id
    return (
        f"{said}, already past when the goods were delivered on "
        f"{claim.delivered_at.date().isoformat()}. Goods past their use-by date may not be "
        "sold: the seller is responsible"
        + (f" ({party_id}, the retailer that held the lot)." if party_id else ".")
    )


def _sellers(verdict: Verdict, reason: Reason, confidence: float, party_id: str | None) -> Verdict:
    """The verdict naming the seller (``party_id``: the retailer that held the lot)."""
    return replace(
        verdict,
        responsible_party=SELLER,
        party_id=party_id,
        confidence=confidence,
        # The other rules' reasons stay, after this one, for the person who reads it.
        reasons=(reason, *verdict.reasons),
    )
