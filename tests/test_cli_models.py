"""``freshproof models promote``: the shipped model changes only when the candidate wins."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import jpeg_bytes, scene
from training.export import write_manifest_entry
from vision.labels import LABELS
from vision.registry import file_sha256

# All defective: a model that finds them all beats one that finds none at p = 2/2**10, within
# the level of the first three looks at the split (alpha 0.05 spent as 0.03, 0.0076, 0.0034).
PHOTOS = 10


def _dataset(root: Path) -> Path:
    """A YOLO test split of real-looking photos, each with a spoilage box, from a real pool."""
    (root / "images" / "test").mkdir(parents=True)
    (root / "labels" / "test").mkdir(parents=True)
    rows = []
    for i in range(PHOTOS):
        name = f"fruit_fresh_rotten__{i}"
        (root / "images" / "test" / f"{name}.jpg").write_bytes(jpeg_bytes(scene(seed=i)))
        (root / "labels" / "test" / f"{name}.txt").write_text("0 0.5 0.5 0.4 0.4\n")
        rows.append({"file": f"images/test/{name}.jpg", "pool": "fruit_fresh_rotten"})
    (root / "samples.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def _release(tiny_weights: Path, dest: Path, *, version: str, threshold: float) -> Path:
    """The tiny networks released as ``version`` at one threshold for every label."""
    dest.mkdir()
    manifest = json.loads((tiny_weights / "manifest.json").read_text())
    entry = manifest["models"][0]
    det = dest / f"tiny-{version}.onnx"
    shutil.copyfile(tiny_weights / entry["file"], det)
    cls = dest / f"tiny-{version}-condition.onnx"
    shutil.copyfile(tiny_weights / entry["classifier"]["file"], cls)
    write_manifest_entry(
        weights_dir=dest,
        model_file=det,
        name="tiny",
        version=version,
        imgsz=entry["imgsz"],
        thresholds=dict.fromkeys(LABELS, threshold),
        classifier={**entry["classifier"], "file": cls.name},
    )
    (dest / "MODEL_CARD.md").write_text(f"# Model card: tiny {version}\n")
    return dest


@pytest.fixture
def releases(tiny_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shipped release that finds nothing and a candidate that finds every defect."""
    shipped = _release(tiny_weights, tmp_path / "weights", version="1", threshold=1.01)
    _release(tiny_weights, tmp_path / "candidate", version="2", threshold=0.0)
    _dataset(tmp_path / "dataset")
    monkeypatch.setenv("FRESHPROOF_WEIGHTS_DIR", str(shipped))
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FRESHPROOF_ANCHOR_BACKEND", "none")
    return tmp_path


def _promote(root: Path, candidate: str, *extra: str) -> Result:
    args = ["models", "promote", str(root / candidate), "--dataset", str(root / "dataset")]
    return CliRunner().invoke(app, [*args, "--name", "tiny", *extra])


def test_a_winning_candidate_is_installed_with_its_reasons(releases: Path) -> None:
    result = _promote(releases, "candidate")
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)
    assert verdict["promote"] is True
    assert verdict["real_photos"]["only_candidate_right"] == PHOTOS
    weights = releases / "weights"
    manifest = json.loads((weights / "manifest.json").read_text())
    replaced, entry = manifest["models"]
    assert entry["version"] == "2" and entry["promotion"]["replaced"] == "1"
    # The replaced release stays, for a rollback; the newest entry of a name serves.
    assert replaced["version"] == "1" and (weights / "tiny-1.onnx").exists()
    assert (weights / "tiny-2.onnx").exists()
    card = (weights / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: tiny 2") and "## Why it replaced 1" in card
    assert "promoted 2 over 1" in result.stderr


def _losing(releases: Path) -> Path:
    """Swap the roles: the release that finds everything is shipped, a blind one challenges."""
    shutil.rmtree(releases / "weights")
    shutil.copytree(releases / "candidate", releases / "weights")
    return _release(releases / "weights", releases / "blind", version="3", threshold=1.01)


def test_a_losing_candidate_is_kept_out_and_the_refusal_recorded(releases: Path) -> None:
    blind = _losing(releases)
    weights = releases / "weights"
    served = {p.name: p.read_bytes() for p in weights.iterdir() if p.suffix == ".onnx"}
    result = _promote(releases, blind.name)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["promote"] is False
    assert "kept 2: no significant gain" in result.stderr
    assert {p.name: p.read_bytes() for p in weights.iterdir() if p.suffix == ".onnx"} == served
    (entry,) = json.loads((weights / "manifest.json").read_text())["models"]
    assert entry["version"] == "2"
    (refused,) = entry["refused"]
    assert refused["version"] == "3" and refused["promote"] is False
    assert refused["real_photos"]["only_incumbent_right"] == PHOTOS
    card = (weights / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: tiny 2")
    assert "## Retrained candidates that did not replace it" in card and "| 3 | 100.0% |" in card
    # Judged again: its record is replaced, not repeated, and so is the card's section; the
    # second look at the split was tested at a smaller level, and the record says which.
    again = _promote(releases, blind.name)
    assert again.exit_code == 1 and json.loads(again.stdout)["look"] == 2
    (entry,) = json.loads((weights / "manifest.json").read_text())["models"]
    assert len(entry["refused"]) == 1 and entry["refused"][0]["alpha"] < refused["alpha"]
    assert (weights / "MODEL_CARD.md").read_text().count("| 3 | 100.0% |") == 1


def test_a_winner_carries_the_refusals_of_the_release_it_replaces(releases: Path) -> None:
    blind = _release(releases / "weights", releases / "blind", version="3", threshold=1.01)
    assert _promote(releases, blind.name).exit_code == 1  # as blind as the shipped 1: refused
    result = _promote(releases, "candidate")
    assert result.exit_code == 0, result.output
    entry = json.loads((releases / "weights" / "manifest.json").read_text())["models"][-1]
    assert [r["version"] for r in entry["promotion"]["refused_before"]] == ["3"]
    assert (
        "Before it, candidate 3 was refused" in (releases / "weights" / "MODEL_CARD.md").read_text()
    )


def test_dry_run_of_a_loser_changes_nothing_but_the_look_record(releases: Path) -> None:
    from training.promote import LOOKS_FILE

    blind = _losing(releases)
    before = {p.name: p.read_bytes() for p in (releases / "weights").iterdir()}
    assert _promote(releases, blind.name, "--dry-run").exit_code == 1
    after = {p.name: p.read_bytes() for p in (releases / "weights").iterdir()}
    (look,) = [json.loads(line) for line in after.pop(LOOKS_FILE).decode().splitlines()]
    assert after == before
    assert look["look"] == 1 and look["candidate"] == "3" and look["promote"] is False


def test_a_fresh_database_does_not_reset_the_count_of_looks(
    releases: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.promote import LOOKS_FILE, look_alpha

    blind = _release(releases / "weights", releases / "blind", version="3", threshold=1.01)
    for look in (1, 2):
        assert json.loads(_promote(releases, blind.name, "--dry-run").stdout)["look"] == look
    # Another deployment (or this one after its database was lost) judges the same photos:
    # its ledger has no looks, the weights folder's record has two, so this is the third.
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(releases / "elsewhere"))
    third = json.loads(_promote(releases, blind.name, "--dry-run").stdout)
    assert third["look"] == 3 and third["alpha"] == look_alpha(0.05, 3)
    rows = (releases / "weights" / LOOKS_FILE).read_text().splitlines()
    assert [json.loads(r)["look"] for r in rows] == [1, 2, 3]
    # The other way round: the first database, whose ledger knows the looks, still counts on
    # when the record is gone (a checkout of an older commit, a deleted file).
    (releases / "weights" / LOOKS_FILE).unlink()
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(releases / "var"))
    assert json.loads(_promote(releases, blind.name, "--dry-run").stdout)["look"] == 3


def test_dry_run_compares_but_installs_nothing(releases: Path) -> None:
    before = (releases / "weights" / "manifest.json").read_text()
    result = _promote(releases, "candidate", "--dry-run")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["promote"] is True
    assert (releases / "weights" / "manifest.json").read_text() == before


def test_a_missing_split_is_a_clear_error(releases: Path) -> None:
    result = _promote(releases, "candidate", "--split", "val")
    assert result.exit_code == 2
    assert "split 'val' is missing (images/val)" in result.stderr
    assert "freshproof datasets build" in result.stderr


def _ledger(root: Path) -> Any:
    from api.services import build_services
    from api.settings import Settings

    return build_services(Settings(data_dir=root / "var", anchor_backend="none"))


def test_each_look_at_the_split_is_on_the_ledger_and_spends_alpha(releases: Path) -> None:
    from serving.releases import gate_looks
    from training.promote import look_alpha, split_identity

    blind = _release(releases / "weights", releases / "blind", version="3", threshold=1.01)
    levels = []
    for look in (1, 2, 3):
        result = _promote(releases, blind.name, "--dry-run")  # a dry run looks all the same
        out = json.loads(result.stdout)
        assert out["look"] == look and out["alpha"] == look_alpha(0.05, look)
        levels.append(out["alpha"])
    assert sum(levels) < 0.05 and levels == sorted(levels, reverse=True)
    services = _ledger(releases)
    try:
        split = split_identity(releases / "dataset", "test")
        assert gate_looks(services.engine, split) == 3
        entry = services.ledger.entry(out["gate_entry"]["index"])
        assert entry.kind == "model.gate" and entry.body["candidate"] == "3"
        assert entry.body["split_id"] == split and entry.body["promote"] is False
    finally:
        services.close()
    # The fourth look's level is still positive; all of them together stay under alpha.
    assert look_alpha(0.05, 4) > 0 and sum(look_alpha(0.05, k) for k in range(1, 10**4)) < 0.05


def test_a_promotion_and_a_rollback_are_ledger_entries(releases: Path) -> None:
    from serving.releases import record_release, release_body, serving_release
    from vision.registry import manifest_entry

    runner = CliRunner()
    weights = releases / "weights"

    def rollback(reason: str) -> Result:
        return runner.invoke(app, ["models", "rollback", "--name", "tiny", "--reason", reason])

    assert rollback("nothing served yet").exit_code == 1
    services = _ledger(releases)
    try:  # the shipped 1, recorded as a serving process does at start-up
        first = record_release(
            services.ledger, release_body(manifest_entry(weights, "tiny", "1")), actor="test"
        )
    finally:
        services.close()
    assert "no earlier release" in rollback("only one").stderr
    assert _promote(releases, "candidate").exit_code == 0
    services = _ledger(releases)
    try:
        second = serving_release(services.engine, "tiny")
        assert second is not None and second.version == "2" and second.kind == "model.release"
        body = services.ledger.entry(second.ref.index).body
        assert body["gate"]["promote"] is True and body["released_by"].startswith("cli:")
        assert body["files"] == {
            "tiny-2.onnx": file_sha256(weights / "tiny-2.onnx"),
            "tiny-2-condition.onnx": file_sha256(weights / "tiny-2-condition.onnx"),
        }
    finally:
        services.close()
    back = rollback("bad boxes")
    assert back.exit_code == 0, back.output
    done = json.loads(back.stdout)
    assert done["kind"] == "model.rollback" and done["version"] == "1"
    services = _ledger(releases)
    try:
        assert serving_release(services.engine, "tiny") == first  # 1's own release entry
        entry = services.ledger.entry(done["ledger_index"]).body
        assert entry["from_version"] == "2" and entry["reason"] == "bad boxes"
        assert entry["release_entry"]["index"] == first.ref.index
    finally:
        services.close()
    # Rolling back again walks back along what was served: 2 serves again.
    assert json.loads(rollback("1 was worse").stdout)["version"] == "2"


def test_a_candidate_with_a_packaging_classifier_is_judged_and_installed_whole(
    releases: Path,
) -> None:
    """Issue 25: the packaging classifier travels with its release through the gate (its
    file copied, its hash served) and the gate's figures become the release's test figures."""
    from tests.conftest import tiny_onnx
    from vision.predictor import Predictor

    # Parcels, every one damaged; the shipped release finds nothing.
    dataset = releases / "dataset"
    rows = []
    for i in range(PHOTOS):
        name = f"fruit_fresh_rotten__{i}"
        parcel = f"parcel_damaged_intact__{i}"
        (dataset / "images" / "test" / f"{name}.jpg").rename(
            dataset / "images" / "test" / f"{parcel}.jpg"
        )
        (dataset / "labels" / "test" / f"{name}.txt").unlink()
        label = LABELS.index("package_damage")
        (dataset / "labels" / "test" / f"{parcel}.txt").write_text(f"{label} 0.5 0.5 0.9 0.9\n")
        rows.append({"file": f"images/test/{parcel}.jpg", "pool": "parcel_damaged_intact"})
    (dataset / "samples.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    # The candidate: the shipped networks and thresholds, and a packaging classifier whose
    # threshold every photo reaches.
    candidate = _release(releases / "weights", releases / "packed", version="3", threshold=1.01)
    net = tiny_onnx(candidate / "tiny-3-package.onnx", kind="classifier", imgsz=32, classes=2)
    manifest = json.loads((candidate / "manifest.json").read_text())
    manifest["models"][0]["thresholds"]["package_damage"] = 0.5
    manifest["models"][0]["package_classifier"] = {
        "file": net.name,
        "sha256": file_sha256(net),
        "classes": ["intact", "damaged"],
        "imgsz": 32,
        "input": "squash",
        "threshold": 0.01,
        "fusion": "replace",
    }
    (candidate / "manifest.json").write_text(json.dumps(manifest))
    result = _promote(releases, candidate.name)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["groups"]["parcels_and_boxes"]["only_candidate_right"] == 10
    weights = releases / "weights"
    assert (weights / "tiny-3-package.onnx").read_bytes() == net.read_bytes()
    entry = json.loads((weights / "manifest.json").read_text())["models"][-1]
    assert entry["version"] == "3" and entry["package_classifier"]["file"] == net.name
    # Released without looking at test: the gate's look gives its test figures.
    assert entry["metrics"]["test"]["image_level"]["accuracy"] == 1.0
    assert "## On test, as the gate judged it" in (weights / "MODEL_CARD.md").read_text()
    served = Predictor.from_weights(weights, name="tiny")
    assert served.model["package_classifier_sha256"] == file_sha256(net)
    # The release's ledger entry names its file and how it is fused.
    from serving.releases import release_body

    body = release_body(entry)
    assert body["files"][net.name] == file_sha256(net)
    assert body["operating"]["package"]["fusion"] == "replace"
