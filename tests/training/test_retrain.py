"""The retraining plan: the base pools replayed, new examples repeated, val kept clean."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_in_child
from training.retrain import assemble, plan_retraining


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built dataset of generated swelling images (no photo pools needed)."""
    from training.datasets import build_dataset

    ds = tmp_path_factory.mktemp("retrain") / "ds"
    build_dataset(
        pools_dir=ds.parent / "no-pools",
        out=ds,
        synthetic_per_split={"train": 6, "val": 4, "test": 3},
    )
    return ds


def _feedback(base: Path, root: Path) -> tuple[Path, str]:
    """An export of two adjudicated photos: a base val photo (re-filed as a claim) and a new
    one, named by their SHA-256 as `freshproof feedback export` names them."""
    fb = root / "feedback"
    val_photo = sorted((base / "images" / "val").glob("*.jpg"))[0]
    new_photo = sorted((base / "images" / "test").glob("*.jpg"))[0]
    shas = []
    for n, (src, cls) in enumerate(((val_photo, "swelling"), (new_photo, "clean"))):
        sha = hashlib.sha256(src.read_bytes()).hexdigest()
        shas.append(sha)
        split = "train" if n == 0 else "val"
        (fb / "images" / split).mkdir(parents=True, exist_ok=True)
        (fb / "labels" / split).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, fb / "images" / split / f"{sha}.jpg")
        text = "2 0.5 0.5 0.4 0.4\n" if cls == "swelling" else ""
        (fb / "labels" / split / f"{sha}.txt").write_text(text)
        (fb / "cls" / split / cls).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, fb / "cls" / split / cls / f"{sha}.jpg")
    (fb / "manifest.json").write_text(json.dumps({"version": "t"}))
    return fb, str(val_photo.resolve())


def test_new_examples_repeat_over_the_replayed_pools_and_leave_val(
    base: Path, tmp_path: Path
) -> None:
    feedback, val_photo = _feedback(base, tmp_path)
    plan = plan_retraining(base=base, feedback=feedback, weight=3)
    base_train = sorted(str(p.resolve()) for p in (base / "images" / "train").glob("*.jpg"))
    # Every base training image is replayed once; each new example comes 3 times.
    assert sorted(plan.train[: len(base_train)]) == base_train
    new = plan.train[len(base_train) :]
    assert len(new) == 2 * 3 and len(set(new)) == 2
    # The fed-back val photo left val (thresholds are chosen there); test is untouched.
    assert val_photo in plan.left_val and val_photo not in plan.val
    assert len(plan.val) == len(list((base / "images" / "val").glob("*.jpg"))) - 1
    classes = [c for _, c in plan.cls_train[len(base_train) :]]
    assert sorted(classes) == ["clean"] * 3 + ["swelling"] * 3
    assert plan.counts()["left_out_of_val"] == 1


def test_assembly_is_a_trainable_dataset_named_by_its_manifest(base: Path, tmp_path: Path) -> None:
    feedback, _ = _feedback(base, tmp_path)
    plan = plan_retraining(base=base, feedback=feedback, weight=2)
    first = assemble(plan, tmp_path / "a")
    out = tmp_path / "a"
    assert (out / "train.txt").read_text().split() == list(plan.train)
    yaml = (out / "data.yaml").read_text()
    assert "train: train.txt" in yaml and "val: val.txt" in yaml and "2: swelling" in yaml
    repeated = list((out / "cls" / "train" / "swelling").glob("*__r1.jpg"))
    assert len(repeated) == 1  # the second copy of the new swelling example
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["train_images"] == len(plan.train)
    assert (
        manifest["feedback_manifest_sha256"]
        == hashlib.sha256((feedback / "manifest.json").read_bytes()).hexdigest()
    )
    assert first == hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    # The same plan assembled again elsewhere names the same data.
    other = plan_retraining(base=base, feedback=feedback, weight=2)
    assert assemble(other, tmp_path / "c") == first


def test_a_photo_has_one_class_whether_built_or_retrained(base: Path, tmp_path: Path) -> None:
    from training.classify import build_cls_dataset, label_file_class

    labels = tmp_path / "labels"
    labels.mkdir()
    # Two mould regions and one rotten one: the defect seen most often, whichever comes first.
    (labels / "mixed.txt").write_text("0 .2 .2 .1 .1\n1 .5 .5 .1 .1\n1 .7 .7 .1 .1\n")
    (labels / "tie.txt").write_text("3 .2 .2 .1 .1\n0 .5 .5 .1 .1\n")  # ties: LABELS order
    (labels / "clean.txt").write_text("")
    assert label_file_class(labels / "mixed.txt") == "mold"
    assert label_file_class(labels / "tie.txt") == "spoilage"
    assert label_file_class(labels / "clean.txt") == "clean"
    assert label_file_class(labels / "missing.txt") == "clean"
    # The classifier tree a build makes and the one a retraining plan makes agree, photo by photo.
    built = build_cls_dataset(dataset=base, out=tmp_path / "cls")
    plan = plan_retraining(base=base, feedback=None)
    planned: dict[str, int] = {}
    for _, cls in plan.cls_val:
        planned[cls] = planned.get(cls, 0) + 1
    assert planned == {k: v for k, v in built["val"].items() if v}


def test_a_weight_below_one_is_refused(base: Path) -> None:
    with pytest.raises(ValueError, match="weight"):
        plan_retraining(base=base, feedback=None, weight=0)


def carry_over(tmp: Path) -> dict[str, object]:
    """`retrain` with no hours for either network, from a serving folder holding its ONNX
    beside each checkpoint (as ``weights/`` does): both re-exported under the new version."""
    from training.offline import configure_offline

    configure_offline(tmp / "yolo")
    import torch
    from ultralytics.nn.tasks import ClassificationModel, DetectionModel

    from training.classify import CLASSES
    from training.retrain import retrain
    from vision.labels import LABELS

    torch.manual_seed(0)
    serving = tmp / "serving"
    serving.mkdir()
    for file, model, names, task in (
        ("m-1.pt", DetectionModel("yolo11n.yaml", nc=len(LABELS), verbose=False), LABELS, "detect"),
        (
            "m-1-condition.pt",
            ClassificationModel("yolo11n-cls.yaml", nc=len(CLASSES), verbose=False),
            CLASSES,
            "classify",
        ),
    ):
        model.names = dict(enumerate(names))
        model.args = {"task": task, "imgsz": 64}
        torch.save({"model": model, "train_args": model.args}, serving / file)
        (serving / file).with_suffix(".onnx").write_bytes(b"shipped")
    ds = tmp / "ds"
    from training.datasets import build_dataset

    build_dataset(
        pools_dir=tmp / "no-pools", out=ds, synthetic_per_split={"train": 4, "val": 4, "test": 4}
    )
    fb, _ = _feedback(ds, tmp)
    entry = retrain(
        plan=plan_retraining(base=ds, feedback=fb, weight=2, caps={}, seed=0),
        out=tmp / "run",
        candidate=tmp / "candidate",
        version="2",
        name="m",
        detector_from=serving / "m-1.pt",
        classifier_from=serving / "m-1-condition.pt",
        detector_hours=0.0,
        classifier_hours=0.0,
        imgsz=64,
        classifier_imgsz=64,
        serving_entry={"version": "1"},
        log=lambda _: None,
    )
    candidate_files = sorted(p.name for p in (tmp / "candidate").iterdir())
    # Released again from its own checkpoints, as `models rerelease` does: nothing trains,
    # the training record stays, the choices on val are made again.
    from typer.testing import CliRunner

    from api.cli import app
    from vision.registry import load_manifest

    args = ["rerelease", str(tmp / "candidate"), "--dataset", str(tmp / "run" / "eval")]
    rerun = CliRunner().invoke(app, ["models", *args, "--name", "m"])
    again = load_manifest(tmp / "candidate")["models"][-1]
    return {
        "serving_onnx": sorted(
            p.name for p in serving.glob("*.onnx") if p.read_bytes() == b"shipped"
        ),
        "candidate": candidate_files,
        "training": {k: entry["training"][k]["summary"] for k in ("detector", "classifier")},
        "dataset_sha": entry["training"]["dataset_manifest_sha256"],
        "train_images_used": entry["training"]["train_images_used"],
        "hardware": entry["training"]["hardware"],
        "command": entry["training"]["command"],
        "views": entry["classifier"]["views"],
        "views_on_val": entry["classifier"]["views_on_val"],
        "rerelease_exit": rerun.exit_code,
        "rerelease_output": rerun.output,
        "again": {
            "version": again["version"],
            "views_on_val": again["classifier"]["views_on_val"],
            "training": again["training"]["classifier"]["summary"],
            "entries": len(load_manifest(tmp / "candidate")["models"]),
            "card": (tmp / "candidate" / "MODEL_CARD.md").read_text().splitlines()[0],
        },
    }


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None,
    reason="the train extra (ultralytics) is not installed",
)
def test_retrain_carries_untrained_networks_over_and_leaves_the_serving_folder_alone(
    tmp_path: Path,
) -> None:
    result = run_in_child("tests.training.test_retrain:carry_over", tmp_path)
    assert result["serving_onnx"] == ["m-1-condition.onnx", "m-1.onnx"]
    assert {"m-2.onnx", "m-2-condition.onnx", "manifest.json", "MODEL_CARD.md"} <= set(
        result["candidate"]
    )
    assert result["training"] == {
        "detector": "kept from 1, not trained.",
        "classifier": "kept from 1, not trained.",
    }
    assert len(str(result["dataset_sha"])) == 64
    # The card quotes what was learned from: the base pools (capped) and each fed-back photo
    # as often as it repeats (two photos, weight 2).
    used: dict[str, int] = result["train_images_used"]  # type: ignore[assignment]
    assert used["feedback"] == 4 and sum(used.values()) > 4
    assert set(used) - {"feedback"} <= {"synthetic_can", "synthetic_pouch"}
    assert "CPU" in str(result["hardware"]) or "GPU" in str(result["hardware"])
    assert str(result["command"]).startswith("freshproof models retrain")
    # The classifier's test-time views were chosen on val among the three choices.
    views_on_val: dict[str, float] = result["views_on_val"]  # type: ignore[assignment]
    assert set(views_on_val) == {"none", "hflip", "hflip+vflip"}
    best = max(views_on_val.values())
    assert views_on_val["+".join(result["views"]) or "none"] == best  # type: ignore[arg-type]
    # Re-released in place: the same entry, its training record kept, the choice made again.
    assert result["rerelease_exit"] == 0, result["rerelease_output"]
    again: dict[str, object] = result["again"]  # type: ignore[assignment]
    assert again["version"] == "2" and again["entries"] == 1
    assert again["training"] == "kept from 1, not trained."
    assert again["views_on_val"] == views_on_val  # the same networks on the same val photos
    assert again["card"] == "# Model card: m 2"


def test_the_card_gives_a_retrain_command_the_cli_accepts() -> None:
    import shlex

    import typer.main

    from api.cli import app
    from api.retraining import RetrainJob

    job = RetrainJob(
        version="0.9.0",
        feedback="var/feedback/x",
        weight=2,
        classifier_hours=1.5,
        classifier_imgsz=224,
        caps={"fruit_fresh_rotten": 1000},
        seed=3,
    )
    words = shlex.split(job.command())
    assert words[:4] == ["freshproof", "models", "retrain", "0.9.0"]
    group: Any = typer.main.get_command(app)
    command = group.commands["models"].commands["retrain"]
    context = command.make_context("retrain", words[3:])  # parses as the CLI would
    assert context.params["version"] == "0.9.0" and context.params["feedback"] is not None
    assert str(context.params["feedback"]) == "var/feedback/x" and context.params["weight"] == 2
    assert context.params["classifier_hours"] == 1.5 and context.params["classifier_imgsz"] == 224
    assert context.params["detector_hours"] == 0.0 and context.params["seed"] == 3
    assert context.params["cap"] == ["fruit_fresh_rotten=1000"]
