"""Pool readers, splits by original photo, and a dataset build on a tiny generated pool tree."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from training.datasets import build_dataset, group_near_duplicates, split_of
from training.pools import object_box


def _object_photo(seed: int, size: int = 200, angle: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 235, np.uint8)  # studio white
    color = tuple(int(c) for c in rng.integers(20, 200, 3))
    cv2.circle(img, (120, 90), 45, color, -1)
    if angle:
        m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
        img = cv2.warpAffine(img, m, (size, size), borderValue=(0, 0, 0))  # black corners
    return img


def test_object_box_finds_the_object_on_plain_background() -> None:
    x1, y1, x2, y2 = object_box(_object_photo(1))
    assert x1 == pytest.approx(75 / 200, abs=0.03) and x2 == pytest.approx(166 / 200, abs=0.03)
    assert y1 == pytest.approx(45 / 200, abs=0.03) and y2 == pytest.approx(136 / 200, abs=0.03)


def test_object_box_ignores_black_corners_of_rotated_copies() -> None:
    x1, y1, x2, y2 = object_box(_object_photo(1, angle=30))
    assert (x2 - x1) < 0.6 and (y2 - y1) < 0.6


def test_rotated_copies_group_together_and_distinct_shots_do_not(tmp_path: Path) -> None:
    paths = []
    for name, img in [
        ("a0", _object_photo(1)),
        ("a1", _object_photo(1, angle=25)),
        ("b0", _object_photo(2)),
    ]:
        p = tmp_path / f"{name}.jpg"
        cv2.imwrite(str(p), img)
        paths.append(p)
    g = group_near_duplicates(paths)
    assert g[0] == g[1] != g[2]


def test_split_is_deterministic_and_roughly_proportional() -> None:
    assert split_of("x.jpg") == split_of("x.jpg")
    counts = {s: 0 for s in ("train", "val", "test")}
    for i in range(2000):
        counts[split_of(f"img{i}.jpg")] += 1
    assert 1300 < counts["train"] < 1500 and 200 < counts["val"] < 400


def _fake_pools(root: Path) -> Path:
    for folder, seeds in (("freshapples", range(6)), ("rottenoranges", range(10, 16))):
        d = root / "fruit_fresh_rotten" / folder
        d.mkdir(parents=True)
        for s in seeds:
            cv2.imwrite(str(d / f"{folder}_{s}.jpg"), _object_photo(s))
    cans = root / "can_defects" / "no_defect"
    cans.mkdir(parents=True)
    for s in range(4):
        cv2.imwrite(str(cans / f"can_{s}.jpg"), _object_photo(100 + s))
    return root


def test_build_writes_a_yolo_dataset(tmp_path: Path) -> None:
    pools = _fake_pools(tmp_path / "pools")
    out = tmp_path / "ds"
    report = build_dataset(
        pools_dir=pools, out=out, synthetic_per_split={"train": 4, "val": 2, "test": 2}
    )
    assert (out / "data.yaml").read_text().count("swelling") == 1
    total = sum(sum(v.values()) for v in report.images.values())
    assert total == 16 + 8
    labels = list((out / "labels").rglob("*rottenoranges*.txt"))
    assert labels and all(p.read_text().startswith("1 ") for p in labels)  # mold
    fresh = list((out / "labels").rglob("*freshapples*.txt"))
    assert fresh and all(p.read_text() == "" for p in fresh)
    swelling = [p for p in (out / "labels").rglob("synthetic*.txt") if p.read_text()]
    assert swelling and all(p.read_text().startswith("2 ") for p in swelling)
