"""People's decisions give a family the val evidence its operating points need: a feedback
export's val photos of a known family count beside the dataset's val, through the command an
ML engineer runs (``freshproof models operating-points --feedback``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from storage.evidence import LocalEvidenceStore
from tests.conftest import jpeg_bytes, scene
from training.evaluate import ImageRecord
from training.export import write_manifest_entry
from training.feedback import export_yolo
from training.feedback_val import feedback_val
from training.operating import choose_operating_points
from vision.labelled import LabelledPhoto
from vision.labels import LABELS
from vision.predictor import Predictor

THR = dict.fromkeys(LABELS, 0.5)
SURE_CLEAN = {**dict.fromkeys(LABELS, 0.0), "package_damage": 0.01}


def _records(n: int, pool: str, prefix: str) -> list[ImageRecord]:
    """``n`` clean photos of ``pool`` the model is sure are clean (and right)."""
    return [ImageRecord(f"{prefix}-{i}.jpg", pool, (), (), (), dict(SURE_CLEAN)) for i in range(n)]


def test_feedback_photos_count_for_the_family_a_person_named() -> None:
    dataset = _records(100, "parcel_damaged_intact", "val")
    people = _records(60, "feedback/parcel", "fb")
    clean = lambda block: block["families"]["parcel"]["decisions"]["clean"]  # noqa: E731
    # Neither alone reaches the 149 independent shots a 2% bound needs; together they do.
    assert clean(choose_operating_points(dataset, THR))["min_confidence"] is None
    assert clean(choose_operating_points(people, THR))["min_confidence"] is None
    both = clean(choose_operating_points(dataset + people, THR))
    assert both["min_confidence"] is not None and both["val"]["groups"] == 160
    # A feedback photo of no known family is evidence for none.
    stray = _records(60, "feedback/furniture", "fb")
    alone = clean(choose_operating_points(dataset + stray, THR))
    assert alone["min_confidence"] is None and alone["val"]["val_groups"] == 100


def _photos(
    store: LocalEvidenceStore, n: int, *, family: str | None, item: str
) -> list[LabelledPhoto]:
    out = []
    for i in range(n):
        sha = store.put(jpeg_bytes(scene(96, 96, seed=ord(item) * 100 + i))).sha256
        source = f"station:{item}-{i // 2}/0/photo/{i % 2}"  # two photos per item
        out.append(LabelledPhoto(sha, None, None, (), "clean", source, "key:grader", i, (), family))
    return out


@pytest.fixture
def tiny(tiny_weights: Path, tmp_path: Path) -> Path:
    """The tiny networks as release "1" of "tiny", finding nothing (every photo clean)."""
    weights = tmp_path / "weights"
    weights.mkdir()
    entry = json.loads((tiny_weights / "manifest.json").read_text())["models"][0]
    det, cls = weights / "tiny-1.onnx", weights / "tiny-1-condition.onnx"
    shutil.copyfile(tiny_weights / entry["file"], det)
    shutil.copyfile(tiny_weights / entry["classifier"]["file"], cls)
    write_manifest_entry(
        weights_dir=weights,
        model_file=det,
        name="tiny",
        version="1",
        imgsz=entry["imgsz"],
        thresholds=dict.fromkeys(LABELS, 1.01),
        classifier={**entry["classifier"], "file": cls.name},
    )
    (weights / "MODEL_CARD.md").write_text("# Model card: tiny 1\n")
    return weights


def test_an_export_s_val_photos_are_judged_by_family_and_item(tiny: Path, tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path / "evidence")
    photos = _photos(store, 20, family="can", item="a") + _photos(store, 6, family=None, item="b")
    manifest = export_yolo(photos, store, tmp_path / "fb", version="people-1", val_fraction=0.9)
    body = json.loads((tmp_path / "fb" / "manifest.json").read_text())
    val = [e for e in body["examples"] if e["split"] == "val"]
    evidence = feedback_val(Predictor.from_weights(tiny, name="tiny"), tmp_path / "fb")
    assert evidence.manifest_sha256 == manifest.sha256 and evidence.version == "people-1"
    assert len(evidence.records) == sum(e["family"] == "can" for e in val)
    assert evidence.without_family == sum(e["family"] is None for e in val) > 0
    assert {r.pool for r in evidence.records} == {"feedback/can"}
    assert all(r.gt == () and r.scores for r in evidence.records)  # clean, and judged
    # The unit of evidence is the item: its two photos share one group.
    expected = {
        f"feedback/{e['sha256']}": "feedback/" + e["sources"][0].split("/photo/")[0]
        for e in val
        if e["family"] == "can"
    }
    assert evidence.groups == expected
    assert len(set(expected.values())) < len(expected)  # some item has both photos in val
    assert evidence.summary()["val_photos"] == {"can": len(evidence.records)}


def _dataset(root: Path) -> Path:
    """A built dataset's train, val and test folders of a few real-pool photos each."""
    rows = []
    for split in ("train", "val", "test"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(4):
            name = f"parcel_damaged_intact__{split}{i}"
            (root / "images" / split / f"{name}.jpg").write_bytes(jpeg_bytes(scene(seed=i)))
            (root / "labels" / split / f"{name}.txt").write_text("")
            rows.append(
                {"file": f"images/{split}/{name}.jpg", "pool": "parcel_damaged_intact",
                 "split": split, "source": f"parcel/{name}.jpg"}
            )  # fmt: skip
    (root / "samples.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def test_the_command_counts_people_s_decisions_for_their_family(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRESHPROOF_WEIGHTS_DIR", str(tiny))
    dataset = _dataset(tmp_path / "dataset")
    store = LocalEvidenceStore(tmp_path / "evidence")
    # 170 parcels graded intact by a person, each its own item: enough shots for a 2% bound.
    photos = [
        LabelledPhoto(
            store.put(jpeg_bytes(scene(80, 80, seed=1000 + i))).sha256, None, None, (), "clean",
            f"station:returns-{i}/0/photo/0", "key:grader", i, (), "parcel",
        )
        for i in range(170)
    ]  # fmt: skip
    export_yolo(photos, store, tmp_path / "fb", version="people-1", val_fraction=0.95)
    run = CliRunner()
    args = ["models", "operating-points", "--dataset", str(dataset), "--name", "tiny"]
    before = run.invoke(app, args)
    assert before.exit_code == 0, before.output
    parcel = json.loads(before.stdout)["families"]["parcel"]["decisions"]["clean"]
    assert parcel["min_confidence"] is None and parcel["val"]["val_groups"] == 4
    after = run.invoke(app, [*args, "--feedback", str(tmp_path / "fb")])
    assert after.exit_code == 0, after.output
    shown = json.loads(after.stdout)
    parcel = shown["families"]["parcel"]["decisions"]["clean"]
    n_val = shown["feedback"][0]["val_photos"]["parcel"]
    assert n_val >= 149 and parcel["val"]["val_groups"] == 4 + n_val
    assert parcel["min_confidence"] is not None  # people's grades made the bound
    stored = json.loads((tiny / "manifest.json").read_text())["models"][-1]["operating_points"]
    assert stored["fitted_on"] == "val + feedback people-1"
    assert stored["feedback"][0]["version"] == "people-1"
    card = (tiny / "MODEL_CARD.md").read_text()
    assert "Counted beside `val`: feedback `people-1`" in card
    assert f"val photos by family parcel {n_val} from {n_val} items" in card
    # An export that is not one is a clear error naming the command that makes one.
    missing = run.invoke(app, [*args, "--feedback", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "freshproof feedback export" in missing.stderr


def _retrained_on(weights: Path, export: Path) -> None:
    """Record in the release's entry that it was retrained on ``export`` (as retrain does)."""
    path = weights / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["models"][-1]["training"] = {"replay": {"feedback": str(export)}}
    path.write_text(json.dumps(manifest))


def test_photos_the_model_learned_from_never_count(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRESHPROOF_WEIGHTS_DIR", str(tiny))
    dataset = _dataset(tmp_path / "dataset")
    store = LocalEvidenceStore(tmp_path / "evidence")
    photos = [
        LabelledPhoto(
            store.put(jpeg_bytes(scene(80, 80, seed=3000 + i))).sha256, None, None, (), "clean",
            f"station:returns-{i}/0/photo/0", "key:grader", i, (), "parcel",
        )
        for i in range(40)
    ]  # fmt: skip
    # The release was retrained on the first 30 (retraining learns from both splits); a
    # later export holds those again and 10 graded since.
    export_yolo(photos[:30], store, tmp_path / "old", version="people-1", val_fraction=0.9)
    export_yolo(photos, store, tmp_path / "new", version="people-2", val_fraction=0.9)
    _retrained_on(tiny, tmp_path / "old")
    body = json.loads((tmp_path / "new" / "manifest.json").read_text())
    val = {e["sha256"] for e in body["examples"] if e["split"] == "val"}
    learned = {p.sha256 for p in photos[:30]}
    args = ["models", "operating-points", "--dataset", str(dataset), "--name", "tiny"]
    result = CliRunner().invoke(app, [*args, "--feedback", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)["feedback"]
    assert summary["val_photos_trained_on"] == len(val & learned) > 0
    assert summary["val_photos"] == {"parcel": len(val - learned)}
    # Exports overlap (each holds every decision up to its own): a photo counts once.
    twice = CliRunner().invoke(
        app, [*args, "--feedback", str(tmp_path / "new"), "--feedback", str(tmp_path / "new")]
    )
    first, second = json.loads(twice.stdout)["feedback"]
    assert first == summary and second["val_photos"] == {}
    assert second["val_photos_counted_before"] == len(val - learned)
    # An export the release learned from that is not there: nothing can count, nothing written.
    shutil.rmtree(tmp_path / "old")
    before = (tiny / "manifest.json").read_bytes()
    gone = CliRunner().invoke(app, [*args, "--feedback", str(tmp_path / "new")])
    assert gone.exit_code == 2 and "restore that export" in gone.stderr
    assert (tiny / "manifest.json").read_bytes() == before
