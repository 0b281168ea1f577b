import numpy as np

from vision.postprocess import decode_yolo, letterbox, nms, unit_chw


def test_letterbox_keeps_aspect_and_pads_grey() -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    batch, lb = letterbox(img, 320)
    assert batch.shape == (1, 3, 320, 320) and batch.dtype == np.float32
    assert lb.scale == 1.6 and lb.pad_x == 0 and lb.pad_y == 80
    assert np.isclose(batch[0, 0, 0, 0], 114 / 255)  # padding
    assert batch[0, 0, 160, 160] == 0.0  # image


def test_nms_suppresses_overlaps_only() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keep = nms(boxes, np.array([0.9, 0.8, 0.7]), iou=0.5)
    assert keep.tolist() == [0, 2]


def _raw(rows: list[tuple[float, float, float, float, list[float]]]) -> np.ndarray:
    return np.array([[cx, cy, w, h, *scores] for cx, cy, w, h, scores in rows], np.float32).T


def test_decode_maps_boxes_back_to_original_pixels() -> None:
    _, lb = letterbox(np.zeros((100, 200, 3), np.uint8), 320)
    # a box centred in the letterboxed input, 160x80 input pixels, class 1 at 0.9
    raw = _raw([(160, 160, 160, 80, [0.1, 0.9, 0.0, 0.0])])
    out = decode_yolo(raw, lb, width=200, height=100, conf=0.25)
    assert len(out) == 1
    cls, score, box = out[0]
    assert cls == 1 and np.isclose(score, 0.9)
    np.testing.assert_allclose(box, [50, 25, 150, 75], atol=1e-4)


def test_decode_applies_conf_and_per_class_nms() -> None:
    _, lb = letterbox(np.zeros((320, 320, 3), np.uint8), 320)
    raw = _raw(
        [
            (100, 100, 50, 50, [0.9, 0, 0, 0]),
            (102, 100, 50, 50, [0.8, 0, 0, 0]),  # same class, overlapping: suppressed
            (101, 100, 50, 50, [0, 0, 0, 0.7]),  # other class, same place: kept
            (250, 250, 20, 20, [0.1, 0, 0, 0]),  # under conf
        ]
    )
    out = decode_yolo(raw, lb, width=320, height=320, conf=0.25)
    assert sorted((c, round(s, 2)) for c, s, _ in out) == [(0, 0.9), (3, 0.7)]


def test_decode_clips_to_image() -> None:
    _, lb = letterbox(np.zeros((320, 320, 3), np.uint8), 320)
    out = decode_yolo(_raw([(5, 5, 40, 40, [0.9, 0, 0, 0])]), lb, width=320, height=320, conf=0.25)
    assert out[0][2].tolist() == [0, 0, 25, 25]


def test_unit_chw_is_the_plain_cast_and_division_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    for shape in [(640, 640, 3), (224, 224, 3), (37, 51, 3)]:
        hwc = rng.integers(0, 256, shape, dtype=np.uint8)
        plain = np.ascontiguousarray(hwc.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
        ours = unit_chw(hwc)
        assert ours.dtype == np.float32 and ours.flags.c_contiguous
        assert ours.shape == plain.shape
        assert np.array_equal(ours.view(np.uint32), plain.view(np.uint32))
