"""Label Studio round trip: labelled photos out as tasks, people's annotations back in.

Tasks are Label Studio's JSON task format: ``data.image`` (the URL), the photo's facts in
``data`` (``sha256``, ``source``, ``decided_by``, ``ledger_index``, ``width``, ``height``,
``family``: the product family where the source knew it, which an annotation keeps),
and one annotation (or prediction) whose results are ``rectanglelabels`` regions (``x``,
``y``, ``width``, ``height`` in percent of the photo, with ``original_width``/
``original_height``), a ``choices`` result for the photo's class and one for the defects
seen but not boxed. ``LABEL_CONFIG`` is the labeling config those names belong to.

Reading back takes each task's latest annotation that was not cancelled (by ``updated_at``,
then ``created_at``, then its place in the list). An annotation that names its annotator
(``completed_by``, as Label Studio's exports do) is that person's word: ``decided_by`` is
``label-studio:<who>`` and no ledger decision backs it. One without (a task as exported here,
untouched) keeps the ``decided_by`` and ``ledger_index`` its task data carries.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from vision.errors import FeedbackError
from vision.labelled import Box, LabelledPhoto, photo_class_of
from vision.labels import LABELS, PHOTO_CLASSES

__all__ = [
    "BOXES",
    "IMAGE",
    "LABEL_CONFIG",
    "PHOTO_CLASS",
    "UNBOXED",
    "LabelStudioFormatError",
    "from_label_studio",
    "to_label_studio",
]

IMAGE = "image"
BOXES = "defect"
PHOTO_CLASS = "photo_class"
UNBOXED = "unboxed"


def _choices(values: Sequence[str]) -> str:
    return "".join(f"    <Choice value={quoteattr(v)}/>\n" for v in values)


LABEL_CONFIG = (
    "<View>\n"
    f'  <Image name="{IMAGE}" value="$image" zoom="true"/>\n'
    f'  <RectangleLabels name="{BOXES}" toName="{IMAGE}" canRotate="false">\n'
    + "".join(f"    <Label value={quoteattr(v)}/>\n" for v in LABELS)
    + "  </RectangleLabels>\n"
    '  <Header value="The photo shows (the main defect, or clean)"/>\n'
    f'  <Choices name="{PHOTO_CLASS}" toName="{IMAGE}" choice="single" required="true" '
    'showInline="true">\n' + _choices(PHOTO_CLASSES) + "  </Choices>\n"
    '  <Header value="Defects seen but not boxed"/>\n'
    f'  <Choices name="{UNBOXED}" toName="{IMAGE}" choice="multiple" showInline="true">\n'
    + _choices(LABELS)
    + "  </Choices>\n"
    "</View>\n"
)
"""The labeling config (RectangleLabels + Choices) the tasks' results are named after."""

_SHA256 = re.compile(r"[0-9a-f]{64}")


class LabelStudioFormatError(FeedbackError):
    """A task or annotation that cannot be read back as a labelled photo."""

    def __init__(self, task: object, reason: str) -> None:
        super().__init__(f"Label Studio task {task}: {reason}")
        self.task = task
        self.reason = reason


def _results(photo: LabelledPhoto) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, (label, x1, y1, x2, y2) in enumerate(photo.boxes):
        assert photo.width is not None and photo.height is not None  # LabelledPhoto's rule
        w, h = photo.width, photo.height
        out.append(
            {
                "id": f"box{n}",
                "type": "rectanglelabels",
                "from_name": BOXES,
                "to_name": IMAGE,
                "original_width": w,
                "original_height": h,
                "image_rotation": 0,
                "value": {
                    "x": x1 / w * 100,
                    "y": y1 / h * 100,
                    "width": (x2 - x1) / w * 100,
                    "height": (y2 - y1) / h * 100,
                    "rotation": 0,
                    "rectanglelabels": [label],
                },
            }
        )
    for name, values in (
        (PHOTO_CLASS, [photo.photo_class] if photo.photo_class else []),
        (UNBOXED, list(photo.unboxed)),
    ):
        if values:
            out.append(
                {
                    "id": name,
                    "type": "choices",
                    "from_name": name,
                    "to_name": IMAGE,
                    "value": {"choices": values},
                }
            )
    return out


def to_label_studio(
    photos: Sequence[LabelledPhoto],
    image_url: str | Callable[[LabelledPhoto], str],
    *,
    as_predictions: bool = False,
    model_version: str = "freshproof-feedback",
) -> list[dict[str, Any]]:
    """Label Studio tasks, one per photo, in the order given.

    ``image_url``: each photo's URL, from the photo, or a template with ``{sha256}``. The
    labels go in as an annotation (people's word, to review) or, ``as_predictions``, as a
    prediction of ``model_version`` (pre-labels to accept or correct).
    """
    tasks = []
    for p in photos:
        url = image_url(p) if callable(image_url) else image_url.format(sha256=p.sha256)
        labels: dict[str, Any] = {"result": _results(p)}
        if as_predictions:
            labels["model_version"] = model_version
        tasks.append(
            {
                "data": {
                    "image": url,
                    "sha256": p.sha256,
                    "source": p.source,
                    "decided_by": p.decided_by,
                    "ledger_index": p.ledger_index,
                    "width": p.width,
                    "height": p.height,
                    "family": p.family,
                },
                "predictions" if as_predictions else "annotations": [labels],
            }
        )
    return tasks


def _latest(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    kept = [
        (str(a.get("updated_at") or ""), str(a.get("created_at") or ""), n, a)
        for n, a in enumerate(task.get("annotations") or ())
        if not a.get("was_cancelled")
    ]
    return max(kept, key=lambda k: k[:3])[3] if kept else None


def _who(completed_by: object) -> str:
    if isinstance(completed_by, Mapping):
        completed_by = completed_by.get("email") or completed_by.get("id")
    return f"label-studio:{completed_by}"


def _box(task: object, result: Mapping[str, Any], size: tuple[int, int]) -> list[Box]:
    """A rectangle in percent (rotated about its top-left corner) as pixel boxes, clipped."""
    value = result.get("value") or {}
    w, h = size
    try:
        x, y = float(value["x"]) / 100 * w, float(value["y"]) / 100 * h
        bw, bh = float(value["width"]) / 100 * w, float(value["height"]) / 100 * h
        turn = math.radians(float(value.get("rotation") or 0))
        labels = list(value["rectanglelabels"])
    except (KeyError, TypeError, ValueError) as exc:
        raise LabelStudioFormatError(task, f"a rectangle lacks {exc}") from exc
    cos, sin = math.cos(turn), math.sin(turn)
    corners = [(x + dx * cos - dy * sin, y + dx * sin + dy * cos) for dx, dy in
               ((0, 0), (bw, 0), (0, bh), (bw, bh))]  # fmt: skip
    x1 = round(max(0.0, min(c[0] for c in corners)), 2)
    y1 = round(max(0.0, min(c[1] for c in corners)), 2)
    x2 = round(min(float(w), max(c[0] for c in corners)), 2)
    y2 = round(min(float(h), max(c[1] for c in corners)), 2)
    if not (x1 < x2 and y1 < y2):
        raise LabelStudioFormatError(task, f"a rectangle {value} has no area inside the photo")
    for label in labels:
        if label not in LABELS:
            raise LabelStudioFormatError(task, f"box label {label!r} is not one of {LABELS}")
    return [(label, x1, y1, x2, y2) for label in labels]


def _size(task: object, data: Mapping[str, Any], results: Sequence[Any]) -> tuple[int, int] | None:
    for r in results:
        if r.get("original_width") and r.get("original_height"):
            return int(r["original_width"]), int(r["original_height"])
    if data.get("width") and data.get("height"):
        return int(data["width"]), int(data["height"])
    if any(r.get("type") == "rectanglelabels" for r in results):
        raise LabelStudioFormatError(task, "a rectangle without the photo's size")
    return None


def _photo(n: int, task: Mapping[str, Any]) -> LabelledPhoto | None:
    """One task's latest annotation as a labelled photo; None when it says nothing."""
    name = task.get("id", n)
    annotation = _latest(task)
    if annotation is None:
        return None
    data = task.get("data") or {}
    found = _SHA256.findall(str(data.get("sha256") or data.get(IMAGE) or ""))
    if not found:
        raise LabelStudioFormatError(name, "neither data.sha256 nor the image URL names a photo")
    results = [r for r in annotation.get("result") or () if isinstance(r, Mapping)]
    size = _size(name, data, results)
    boxes: list[Box] = []
    picked: dict[str, list[str]] = {PHOTO_CLASS: [], UNBOXED: []}
    for r in results:
        if r.get("type") == "rectanglelabels" and size is not None:
            boxes += _box(name, r, size)
        elif r.get("type") == "choices" and r.get("from_name") in picked:
            picked[str(r["from_name"])] += list((r.get("value") or {}).get("choices") or ())
    if len(picked[PHOTO_CLASS]) > 1 or not set(picked[PHOTO_CLASS]) <= set(PHOTO_CLASSES):
        raise LabelStudioFormatError(name, f"photo class {picked[PHOTO_CLASS]} is not one class")
    if not set(picked[UNBOXED]) <= set(LABELS):
        raise LabelStudioFormatError(name, f"unboxed {picked[UNBOXED]} are not all labels")
    if not boxes and not picked[PHOTO_CLASS] and not picked[UNBOXED]:
        return None  # submitted empty: says nothing about the photo
    photo_class = picked[PHOTO_CLASS][0] if picked[PHOTO_CLASS] else None
    unboxed = set(picked[UNBOXED])
    if photo_class not in (None, "clean") and photo_class not in {b[0] for b in boxes}:
        unboxed.add(photo_class)  # a defect named for the photo but never boxed
    ordered = tuple(x for x in LABELS if x in unboxed)
    if photo_class is None:
        photo_class = photo_class_of(boxes, ordered)
    if "completed_by" in annotation:
        decided_by, ledger_index = _who(annotation["completed_by"]), None
    else:
        decided_by = str(data.get("decided_by") or "label-studio")
        ledger_index = int(data["ledger_index"]) if data.get("ledger_index") is not None else None
    try:
        return LabelledPhoto(
            found[0],
            size[0] if size else None,
            size[1] if size else None,
            tuple(boxes),
            photo_class,
            str(data.get("source") or f"label-studio:task/{name}"),
            decided_by,
            ledger_index,
            ordered,
            data.get("family"),
        )
    except FeedbackError as exc:
        raise LabelStudioFormatError(name, str(exc)) from exc


def from_label_studio(tasks: Sequence[Mapping[str, Any]]) -> list[LabelledPhoto]:
    """The labelled photos in a Label Studio JSON export (see the module); tasks nobody
    annotated, or annotated empty, are left out."""
    if not isinstance(tasks, Sequence) or isinstance(tasks, str | bytes):
        raise LabelStudioFormatError("-", "the export is a JSON list of tasks")
    out = []
    for n, task in enumerate(tasks):
        if not isinstance(task, Mapping):
            raise LabelStudioFormatError(n, "a task is a JSON object")
        photo = _photo(n, task)
        if photo is not None:
            out.append(photo)
    return out
