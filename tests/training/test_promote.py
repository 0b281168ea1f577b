"""The promotion gate: a retrained model replaces the shipped one only when it measurably wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.card import promotion_markdown, with_refusals
from training.evaluate import ImageRecord
from training.promote import Comparison, compare_models, install, mcnemar_exact, record_refusal
from vision.labels import LABELS

BOX = (0.0, 0.0, 10.0, 10.0)
THR = dict.fromkeys(LABELS, 0.5)


def _rec(file: str, pool: str, *, defective: bool, score: float) -> ImageRecord:
    """A photo whose only score is ``score`` for spoilage."""
    return ImageRecord(
        file,
        pool,
        (),
        (("spoilage", BOX),) if defective else (),
        (),
        {**dict.fromkeys(LABELS, 0.0), "spoilage": score},
    )


def _pair(
    n: int, pool: str, *, inc_right: bool, cand_right: bool, start: int = 0
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """n defective photos judged right or wrong by each model."""
    files = [f"{pool}-{start + i}.jpg" for i in range(n)]
    inc = [_rec(f, pool, defective=True, score=0.9 if inc_right else 0.1) for f in files]
    cand = [_rec(f, pool, defective=True, score=0.9 if cand_right else 0.1) for f in files]
    return inc, cand


def _verdict(*pairs: tuple[list[ImageRecord], list[ImageRecord]], **levels: float) -> Comparison:
    """Both models judged on every pair's photos, at the same thresholds."""
    return compare_models(
        incumbent=[r for inc, _ in pairs for r in inc],
        incumbent_thresholds=THR,
        candidate=[r for _, cand in pairs for r in cand],
        candidate_thresholds=THR,
        **levels,
    )


def test_mcnemar_exact_matches_the_binomial_tail() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    # 0 vs 6 discordant: 2 * 0.5**6
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(6, 0) == mcnemar_exact(0, 6)
    # 3 vs 3 is no evidence at all
    assert mcnemar_exact(3, 3) == 1.0
    # 2 vs 10: 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * 79 / 4096
    assert mcnemar_exact(2, 10) == pytest.approx(2 * 79 / 4096)


def test_a_clear_win_on_real_photos_is_promoted() -> None:
    verdict = _verdict(
        _pair(20, "fruit_fresh_rotten", inc_right=False, cand_right=True),
        _pair(50, "parcel_damaged_intact", inc_right=True, cand_right=True),
    )
    assert verdict.promote
    assert verdict.real_photos.only_candidate_right == 20
    assert verdict.real_photos.incumbent_accuracy == pytest.approx(50 / 70, abs=1e-4)
    assert verdict.real_photos.candidate_accuracy == 1.0
    assert "McNemar" in verdict.reasons[0]


def test_a_small_gain_is_not_significant_and_not_promoted() -> None:
    verdict = _verdict(
        _pair(3, "fruit_fresh_rotten", inc_right=False, cand_right=True),
        _pair(1, "fruit_fresh_rotten", inc_right=True, cand_right=False, start=3),
    )
    assert not verdict.promote
    assert verdict.reasons[0].startswith("no significant gain")


def test_a_gain_on_fruit_cannot_hide_a_significant_loss_on_cans() -> None:
    verdict = _verdict(
        _pair(40, "fruit_fresh_rotten", inc_right=False, cand_right=True),
        _pair(12, "can_defects", inc_right=True, cand_right=False),
    )
    assert verdict.real_photos.p_value < 0.05  # the overall gain alone would pass
    assert not verdict.promote
    assert any("cans_major_critical_vs_intact" in r for r in verdict.reasons)


def test_the_group_guard_is_not_spent_with_the_looks() -> None:
    # A clear overall gain (p ~ 2e-9) with a loss on cans at p ~ 0.03: a late look tests the
    # gain at a tiny level, but the loss still blocks it at the family level.
    verdict = _verdict(
        _pair(40, "fruit_fresh_rotten", inc_right=False, cand_right=True),
        _pair(6, "can_defects", inc_right=True, cand_right=False),
        alpha=0.001,
        guard_alpha=0.05,
    )
    cans = verdict.groups["cans_major_critical_vs_intact"]
    assert 0.001 < cans.p_value < 0.05 and verdict.real_photos.p_value < 0.001
    assert not verdict.promote
    assert any("significantly worse on cans" in r for r in verdict.reasons)


def test_generated_images_do_not_count_towards_promotion() -> None:
    # A candidate that only got better on composites and synthetic packs has not won.
    verdict = _verdict(
        _pair(30, "composite", inc_right=False, cand_right=True),
        _pair(30, "synthetic_can", inc_right=False, cand_right=True),
        _pair(10, "mango_rot_grade_det", inc_right=True, cand_right=True),
    )
    assert not verdict.promote
    assert verdict.real_photos.images == 10
    assert verdict.groups["composites"].images == 0


def test_each_model_is_judged_at_its_own_thresholds() -> None:
    files = [f"f{i}.jpg" for i in range(12)]
    inc = [_rec(f, "fruit_fresh_rotten", defective=True, score=0.6) for f in files]
    cand = [_rec(f, "fruit_fresh_rotten", defective=True, score=0.6) for f in files]
    verdict = compare_models(
        incumbent=inc,
        incumbent_thresholds=dict.fromkeys(LABELS, 0.7),  # misses all twelve
        candidate=cand,
        candidate_thresholds=THR,  # finds all twelve
    )
    assert verdict.promote
    assert verdict.real_photos.only_candidate_right == 12


def test_different_photo_sets_are_refused() -> None:
    inc, _ = _pair(3, "fruit_fresh_rotten", inc_right=True, cand_right=True)
    _, cand = _pair(3, "fruit_fresh_rotten", inc_right=True, cand_right=True, start=1)
    with pytest.raises(ValueError, match="same photos"):
        compare_models(
            incumbent=inc, incumbent_thresholds=THR, candidate=cand, candidate_thresholds=THR
        )


def _release_dir(root: Path, version: str) -> Path:
    """A weights folder holding one release: manifest, networks, checkpoints, card."""
    root.mkdir()
    files = [f"m-{version}.onnx", f"m-{version}.pt", f"m-{version}-c.onnx", f"m-{version}-c.pt"]
    for f in files:
        (root / f).write_bytes(version.encode())
    entry = {
        "name": "m",
        "version": version,
        "file": files[0],
        "sha256": version * 64,
        "classifier": {"file": files[2], "sha256": version * 64},
    }
    (root / "manifest.json").write_text(
        json.dumps({"schema": 1, "models": [entry], "default": "m"})
    )
    (root / "MODEL_CARD.md").write_text(f"# card {version}\n")
    return root


def test_install_replaces_the_shipped_release_and_records_why(tmp_path: Path) -> None:
    shipped = _release_dir(tmp_path / "weights", "1")
    candidate = _release_dir(tmp_path / "candidate", "2")
    inc, cand = _pair(20, "fruit_fresh_rotten", inc_right=False, cand_right=True)
    verdict = compare_models(
        incumbent=inc, incumbent_thresholds=THR, candidate=cand, candidate_thresholds=THR
    )
    entry = install(candidate_dir=candidate, weights_dir=shipped, name="m", comparison=verdict)
    manifest = json.loads((shipped / "manifest.json").read_text())
    # The replaced release stays beside the new one (last = served) so rollback can return to it.
    assert [m["version"] for m in manifest["models"]] == ["1", "2"]
    assert manifest["models"][-1]["promotion"]["replaced"] == "1"
    assert manifest["models"][-1]["promotion"]["real_photos"]["only_candidate_right"] == 20
    assert entry["promotion"]["promote"] is True
    assert entry["promotion"]["refused_before"] == []
    assert sorted(p.name for p in shipped.iterdir()) == [
        "MODEL_CARD.md",
        "m-1-c.onnx",
        "m-1-c.pt",
        "m-1.onnx",
        "m-1.pt",
        "m-2-c.onnx",
        "m-2-c.pt",
        "m-2.onnx",
        "m-2.pt",
        "manifest.json",
    ]
    assert (shipped / "MODEL_CARD.md").read_text() == "# card 2\n"
    card = promotion_markdown(entry)
    assert "Why it replaced 1" in card
    assert "| all real photos | 20 | 0.0% | 100.0% | 0 | 20 |" in card


def test_record_refusal_keeps_the_shipped_release_and_one_record_per_candidate(
    tmp_path: Path,
) -> None:
    shipped = _release_dir(tmp_path / "weights", "1")
    candidate = _release_dir(tmp_path / "candidate", "2")
    inc, cand = _pair(4, "can_defects", inc_right=True, cand_right=False)
    verdict = compare_models(
        incumbent=inc, incumbent_thresholds=THR, candidate=cand, candidate_thresholds=THR
    )
    for _ in range(2):
        entry = record_refusal(
            candidate_dir=candidate, weights_dir=shipped, name="m", comparison=verdict
        )
    assert entry["version"] == "1"
    (refused,) = entry["refused"]
    assert refused["version"] == "2" and refused["real_photos"]["only_incumbent_right"] == 4
    manifest = json.loads((shipped / "manifest.json").read_text())
    assert manifest["models"][0]["refused"] == [refused]
    card = with_refusals("# card 1\n", entry)
    assert card.startswith("# card 1\n\n## Retrained candidates that did not replace it")
    assert with_refusals(card, entry) == card  # re-rendered, not appended twice


def _split(root: Path, files: dict[str, tuple[str, str]]) -> Path:
    """A built test split: name -> (pool, label line), with the build's samples.jsonl."""
    (root / "images" / "test").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "test").mkdir(parents=True, exist_ok=True)
    rows = []
    for name, (pool, label) in files.items():
        (root / "images" / "test" / f"{name}.jpg").write_bytes(b"jpeg")
        (root / "labels" / "test" / f"{name}.txt").write_text(label)
        rows.append({"file": f"images/test/{name}.jpg", "pool": pool})
    (root / "samples.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def test_the_split_identity_is_its_real_photos_only(tmp_path: Path) -> None:
    from training.promote import split_identity

    real = {
        "can_defects__1": ("can_defects", "3 0.5 0.5 0.2 0.2\n"),
        "can_defects__2": ("can_defects", ""),
    }
    one = _split(tmp_path / "a", real | {"composite__1": ("composite", "0 0.5 0.5 0.1 0.1\n")})
    # The same real photos with their composites generated afresh: the same photos decide.
    other = _split(tmp_path / "b", real | {"composite__7": ("composite", "1 0.4 0.4 0.1 0.1\n")})
    assert split_identity(one, "test") == split_identity(other, "test")
    relabelled = real | {"can_defects__2": ("can_defects", "3 0.5 0.5 0.3 0.3\n")}
    assert split_identity(_split(tmp_path / "c", relabelled), "test") != split_identity(one, "test")
    fewer = {"can_defects__1": real["can_defects__1"]}
    assert split_identity(_split(tmp_path / "d", fewer), "test") != split_identity(one, "test")


def test_a_refused_candidate_built_on_a_release_says_what_it_kept_and_what_it_added(
    tmp_path: Path,
) -> None:
    """A packaging-classifier candidate (``training.release.release_with_package``) inherits
    its base release's training record: the refusal must not pass that run off as its own,
    and the card gives the paired figures by group instead of its own test figures (the
    candidate was built without looking at test)."""
    shipped = _release_dir(tmp_path / "weights", "1")
    candidate = _release_dir(tmp_path / "candidate", "2")
    manifest = json.loads((candidate / "manifest.json").read_text())
    manifest["models"][0]["training"] = {
        "detector": {"summary": "the base's detector run."},
        "classifier": {"summary": "the base's classifier run."},
        "package_classifier": {"summary": "YOLO11n-cls, 288 px, epoch 18 kept."},
        "base_release": "1",
    }
    (candidate / "manifest.json").write_text(json.dumps(manifest))
    inc, cand = _pair(3, "parcel_damaged_intact", inc_right=False, cand_right=True)
    verdict = compare_models(
        incumbent=inc, incumbent_thresholds=THR, candidate=cand, candidate_thresholds=THR
    )
    entry = record_refusal(
        candidate_dir=candidate, weights_dir=shipped, name="m", comparison=verdict
    )
    (refused,) = entry["refused"]
    assert refused["training"] == {
        "detector": "kept from 1",
        "classifier": "kept from 1",
        "package_classifier": "YOLO11n-cls, 288 px, epoch 18 kept.",
    }
    card = with_refusals("# card 1\n", entry)
    assert "the base's" not in card and "on its own test images" not in card
    assert "parcels_and_boxes 0.0% -> 100.0% (0/3)" in card
    assert "package_classifier: YOLO11n-cls, 288 px, epoch 18 kept" in card
