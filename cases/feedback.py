"""People's word on evidence photos, read from the database as labelled photos.

Where the labels come from (``gather_feedback``):

- Claims: the latest decision on each claim. A photo is an example when the decision reviewed
  it (any ``FindingReview`` for that photo), and only when every finding the model reported
  on it was reviewed: a machine label nobody confirmed never becomes ground truth, so a photo
  with an unreviewed finding is skipped, with the reason. From the model's findings, a review
  with neither a label nor a box keeps the finding (``correct``) or drops it (not correct);
  a corrected label and/or box replaces the finding's (whatever ``correct`` says); a review
  with no index adds the box the model missed. A whole-photo finding (not localized) left
  without a box is a defect seen but not boxed (``unboxed``). A photo whose findings were all
  wrong is "nothing wrong here": a negative, class ``clean``.
- Stations: every photo of an item a person graded, its class from the condition (fresh or
  intact: ``clean``; damaged, swollen, spoiled, moldy: the defect, not boxed).

The rule is pure (``label_photo``); ``gather_feedback`` only reads the database. Turning the
photos into a dataset is ``training.feedback``'s. A labelled photo that contradicts itself
raises ``vision.errors.InvalidExampleError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from claims.models import FindingReview, claim_families
from claims.tables import claim_decisions
from claims.views import get_claim
from stations.batches import station_reviews
from stations.grading import CLEAN, CONDITIONS
from stations.grading import families_of as item_families
from stations.review import ManualItem, manual_item
from vision.labelled import Box, LabelledPhoto, photo_class_of
from vision.labels import LABELS

__all__ = [
    "CONDITION_CLASSES",
    "Feedback",
    "ModelFinding",
    "Skipped",
    "collect_feedback",
    "gather_feedback",
    "label_photo",
]

CONDITION_CLASSES: dict[str, str] = {
    **{condition: label for pairs in CONDITIONS.values() for label, condition in pairs},
    **{condition: "clean" for condition in CLEAN.values()},
}
"""A station condition as a classifier class: the defect it names, or ``clean``."""


@dataclass(frozen=True)
class ModelFinding:
    """A finding the model reported on a photo, as the claim stored it."""

    label: str
    box: tuple[float, float, float, float]
    localized: bool


@dataclass(frozen=True)
class Skipped:
    """A photo a decision touched that is not an example, and why."""

    source: str
    reason: str


@dataclass(frozen=True)
class Feedback:
    """What the database holds as training examples, and the photos left out."""

    photos: tuple[LabelledPhoto, ...]
    skipped: tuple[Skipped, ...]


def _clipped(label: str, box: Sequence[float], width: int, height: int) -> Box | None:
    """The box rounded to 0.01 px and clipped to the photo; None when nothing is left."""
    x1, y1, x2, y2 = (round(float(v), 2) for v in box)
    x1, x2 = max(0.0, x1), min(float(width), x2)
    y1, y2 = max(0.0, y1), min(float(height), y2)
    return (label, x1, y1, x2, y2) if x1 < x2 and y1 < y2 else None


def label_photo(
    findings: Sequence[ModelFinding],
    reviews: Sequence[FindingReview],
    *,
    width: int,
    height: int,
) -> tuple[tuple[Box, ...], tuple[str, ...]] | str:
    """A reviewed photo's boxes and unboxed defects, or why it cannot be an example.

    ``reviews`` are the decision's reviews of this photo; the rule is the module's.
    """
    by_index: dict[int, FindingReview] = {}
    for r in reviews:
        if r.index is None:
            continue
        if r.index >= len(findings):
            return f"a review names finding {r.index}; the model reported {len(findings)}"
        if by_index.setdefault(r.index, r) != r:
            return f"two different reviews of finding {r.index}"
    if unreviewed := [i for i in range(len(findings)) if i not in by_index]:
        return f"finding(s) {unreviewed} not reviewed: a machine label is not ground truth"
    kept: list[tuple[str, tuple[float, float, float, float] | None]] = []
    for i, f in enumerate(findings):
        r = by_index[i]
        if r.label is None and r.box is None and not r.correct:
            continue  # wrong, and nothing in its place
        box = r.box if r.box is not None else f.box if f.localized else None
        kept.append((r.label or f.label, box))
    kept += [(r.label, r.box) for r in reviews if r.index is None and r.label is not None]
    boxes: list[Box] = []
    unboxed: set[str] = set()
    for label, box in kept:
        if box is None:
            unboxed.add(label)
            continue
        clipped = _clipped(label, box, width, height)
        if clipped is None:
            return f"the {label} box {box} is outside the {width}x{height} photo"
        boxes.append(clipped)
    return tuple(boxes), tuple(x for x in LABELS if x in unboxed)


def _claim_examples(claim: Mapping[str, Any]) -> tuple[list[LabelledPhoto], list[Skipped]]:
    """The examples of one decided claim (as ``claims.views.get_claim`` shows it)."""
    decision = claim["outcome"]
    reviews = [FindingReview.model_validate(f) for f in decision.get("findings", ())]
    # What the photos show, where the claim names it or its category says (produce): the
    # rule the claim's assessment holds its photos to.
    families = claim_families(claim["category"], claim.get("family"))
    family = families[0] if len(families) == 1 else None
    photos = {int(p["position"]): p for p in claim["photos"]}
    out: list[LabelledPhoto] = []
    skipped: list[Skipped] = []
    for position in sorted({r.photo for r in reviews}):
        source = f"claim:{claim['id']}/photo/{position}"
        photo = photos.get(position)
        if photo is None:
            skipped.append(Skipped(source, f"the claim has {len(photos)} photo(s)"))
            continue
        findings = [
            ModelFinding(f["label"], tuple(f["box"]), bool(f.get("localized", True)))
            for f in photo.get("findings", ())
        ]
        mine = [r for r in reviews if r.photo == position]
        width, height = int(photo["width"]), int(photo["height"])
        labelled = label_photo(findings, mine, width=width, height=height)
        if isinstance(labelled, str):
            skipped.append(Skipped(source, labelled))
            continue
        boxes, unboxed = labelled
        out.append(
            LabelledPhoto(
                photo["sha256"],
                width,
                height,
                boxes,
                photo_class_of(boxes, unboxed),
                source,
                str(decision["actor"]),
                int(decision["ledger_index"]),
                unboxed,
                family,
            )
        )
    return out, skipped


def _item_examples(item: ManualItem) -> list[LabelledPhoto]:
    """Every photo of a station item a person graded, classed by the condition given, of
    the family its station named (or its kind's only one: produce)."""
    photo_class = CONDITION_CLASSES[str(item.condition)]
    unboxed = () if photo_class == "clean" else (photo_class,)
    families = item_families(item.kind, item.family)  # the rule grading holds it to
    family = families[0] if len(families) == 1 else None
    return [
        LabelledPhoto(
            sha,
            None,
            None,
            (),
            photo_class,
            f"station:{item.batch_id}/{item.position}/photo/{n}",
            str(item.graded_by),
            item.ledger_index,
            unboxed,
            family,
        )
        for n, sha in enumerate(item.photos)
    ]


def gather_feedback(engine: Engine) -> Feedback:
    """Every example the database holds (decided claims, station items people graded)."""
    with engine.connect() as conn:
        claim_ids = sorted(conn.execute(select(claim_decisions.c.claim_id).distinct()).scalars())
        items = conn.execute(
            select(station_reviews.c.batch_id, station_reviews.c.position)
            .where(station_reviews.c.status == "graded")
            .order_by(station_reviews.c.batch_id, station_reviews.c.position)
        ).all()
    photos: list[LabelledPhoto] = []
    skipped: list[Skipped] = []
    for claim_id in claim_ids:
        found, left_out = _claim_examples(get_claim(engine, claim_id))
        photos += found
        skipped += left_out
    for batch_id, position in items:
        photos += _item_examples(manual_item(engine, batch_id, position))
    return Feedback(
        tuple(sorted(photos, key=lambda p: (p.source, p.sha256))),
        tuple(sorted(skipped, key=lambda s: s.source)),
    )


def collect_feedback(engine: Engine) -> list[LabelledPhoto]:
    """Every example the database holds, sorted by source (``gather_feedback``'s photos)."""
    return list(gather_feedback(engine).photos)
