"""Letterbox in, boxes out: the pre- and post-processing around a YOLO detector."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "CLASSIFIER_VIEWS",
    "Letterbox",
    "center_crop_input",
    "classifier_views",
    "decode_yolo",
    "letterbox",
    "nms",
    "unit_chw",
]

_PAD = 114  # ultralytics' letterbox grey, so inputs match what the model saw in training


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the square input: scale, then padding."""

    scale: float
    pad_x: float
    pad_y: float


def unit_chw(hwc: np.ndarray) -> np.ndarray:
    """An (H, W, C) uint8 image as a contiguous (1, C, H, W) float32 batch scaled to 0..1.

    Bit for bit what ``hwc.transpose(2, 0, 1)[None].astype(np.float32) / 255.0`` made
    contiguous gives, in one cast into the final layout and one division in place, where
    that made three full float copies (2.9 -> 0.9 ms for a 640 px input).
    """
    out = np.empty((1, hwc.shape[2], *hwc.shape[:2]), np.float32)
    out[0] = hwc.transpose(2, 0, 1)
    np.divide(out, 255.0, out=out)
    return out


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect ratio and pad to ``size``; returns (1, 3, size, size) float32."""
    h, w = rgb.shape[:2]
    scale = min(size / h, size / w)
    nw, nh = round(w * scale), round(h * scale)
    resized = (
        cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else rgb
    )
    pad_x, pad_y = (size - nw) / 2, (size - nh) / 2
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    canvas = np.full((size, size, 3), _PAD, dtype=np.uint8)
    canvas[top : top + nh, left : left + nw] = resized
    return unit_chw(canvas), Letterbox(scale, left, top)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def decode_yolo(
    raw: np.ndarray,
    lb: Letterbox,
    *,
    width: int,
    height: int,
    conf: float,
    iou: float = 0.7,
    max_det: int = 100,
) -> list[tuple[int, float, np.ndarray]]:
    """Decode one image's (4 + classes, anchors) output to ``(class, score, xyxy)`` in pixels.

    NMS is per class (boxes of different labels may overlap: a mouldy, crushed pack), as
    ultralytics does by default.
    """
    pred = raw.T  # (anchors, 4 + nc)
    scores_all = pred[:, 4:]
    cls = scores_all.argmax(axis=1)
    scores = scores_all[np.arange(len(cls)), cls]
    mask = scores >= conf
    if not mask.any():
        return []
    xywh, cls, scores = pred[mask, :4], cls[mask], scores[mask]
    xyxy = np.empty_like(xywh)
    xyxy[:, 0] = xywh[:, 0] - xywh[:, 2] / 2
    xyxy[:, 1] = xywh[:, 1] - xywh[:, 3] / 2
    xyxy[:, 2] = xywh[:, 0] + xywh[:, 2] / 2
    xyxy[:, 3] = xywh[:, 1] + xywh[:, 3] / 2
    # Offset boxes per class so one NMS pass never suppresses across labels.
    offset = cls[:, None].astype(np.float32) * 10_000.0
    keep = nms(xyxy + offset, scores, iou)[:max_det]
    out = []
    for i in keep:
        box = xyxy[i].copy()
        box[[0, 2]] = np.clip((box[[0, 2]] - lb.pad_x) / lb.scale, 0, width)
        box[[1, 3]] = np.clip((box[[1, 3]] - lb.pad_y) / lb.scale, 0, height)
        out.append((int(cls[i]), float(scores[i]), box))
    return out


def center_crop_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """The classifier's input as ultralytics prepares it: shortest side to ``size``, centre
    crop, scaled to 0..1; returns (1, 3, size, size) float32."""
    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    # INTER_AREA on downscaling stands in for torchvision's antialiased bilinear resize.
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(rgb, (nw, nh), interpolation=interp)
    top, left = (nh - size) // 2, (nw - size) // 2
    crop = resized[top : top + size, left : left + size]
    return unit_chw(crop)


# Test-time views of the classifier's input, averaged with the input itself: a photo of
# fruit or a parcel means the same mirrored, so the average of the views is steadier than
# any one of them. Which views a release uses is chosen on val (``training.release``).
CLASSIFIER_VIEWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "hflip": lambda batch: batch[..., ::-1],
    "vflip": lambda batch: batch[..., ::-1, :],
}


def classifier_views(batch: np.ndarray, views: Sequence[str]) -> list[np.ndarray]:
    """``batch`` (N, 3, H, W) and each named view of it, contiguous for the runtime."""
    return [batch, *(np.ascontiguousarray(CLASSIFIER_VIEWS[v](batch)) for v in views)]
