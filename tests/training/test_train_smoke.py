"""One tiny epoch on generated images, exported to ONNX and served by our own predictor.

Runs in a child process: importing ultralytics patches ``PIL.Image.open`` process-wide,
which would change how every later test's image decoding fails.
"""

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import run_in_child

LABELS = ("spoilage", "mold", "swelling", "package_damage")


def _tiny_dataset(tmp: Path) -> Path:
    """A dataset of generated swelling images only: no photo pools needed."""
    from training.datasets import build_dataset

    ds = tmp / "ds"
    build_dataset(
        pools_dir=tmp / "no-pools", out=ds, synthetic_per_split={"train": 8, "val": 4, "test": 4}
    )
    return ds


def smoke(tmp: Path) -> dict[str, object]:
    """Build, train one epoch at 64 px, export, and inspect one image with the ONNX model."""
    from training.release import release_model
    from training.train import train_detector
    from vision.predictor import Predictor

    ds = _tiny_dataset(tmp)
    result = train_detector(
        data=ds / "data.yaml",
        out_dir=tmp / "runs",
        epochs=1,
        imgsz=64,
        batch=4,
        workers=0,
        cache=False,
        config_dir=tmp / "yolo",
    )
    # The release path the shipped model took: export, calibrate and pick thresholds on val,
    # measure test, write the manifest.
    entry = release_model(
        checkpoint=result.best,
        dataset=ds,
        name="smoke",
        version="0",
        imgsz=64,
        weights_dir=tmp / "w",
        training={"seconds": result.seconds},
        config_dir=tmp / "yolo",
    )
    image = next((ds / "images" / "val").glob("*.jpg")).read_bytes()
    out = Predictor.from_weights(tmp / "w").inspect(image, image="x").as_dict()
    return {
        "seconds": result.seconds,
        "best": str(result.best),
        "inspection": out,
        "metrics": entry["metrics"],
        "calibration": entry["calibration"],
    }


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None,
    reason="the train extra (ultralytics) is not installed",
)
def test_train_export_and_serve(tmp_path: Path) -> None:
    result = run_in_child("tests.training.test_train_smoke:smoke", tmp_path)
    assert result["seconds"] > 0 and Path(result["best"]).is_file()
    assert result["inspection"]["model"]["name"] == "smoke"
    assert set(result["metrics"]) == {"val", "test"}
    assert result["metrics"]["test"]["images"] == 4  # 2 swollen + 2 flat synthetic pouches
    assert result["calibration"]["fitted_on"] == "val"
    assert result["inspection"]["quality"]["ok"] is True


def continued(tmp: Path) -> dict[str, float]:
    """Train one epoch, go on from its checkpoint, and compare the networks' weights.

    ultralytics silently trains the bare architecture when a ``.pt`` model is trained with
    ``pretrained=False``; a continued run must instead start where its checkpoint ended.
    """
    import torch

    from training.train import train_detector

    ds = _tiny_dataset(tmp)

    def run(name: str, model: str, seed: int) -> Path:
        return train_detector(
            data=ds / "data.yaml",
            out_dir=tmp / name,
            model=model,
            epochs=1,
            imgsz=64,
            batch=4,
            workers=0,
            seed=seed,
            cache=False,
            config_dir=tmp / "yolo",
        ).best

    def weights(pt: Path) -> torch.Tensor:
        ckpt = torch.load(pt, map_location="cpu", weights_only=False)
        model = (ckpt.get("ema") or ckpt["model"]).float()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    first = run("first", "yolo11n.yaml", seed=0)
    # Another seed than the first run's: from scratch with seed 0 would rebuild ``first``
    # exactly (deterministic training) and hide a lost checkpoint.
    went_on = run("went-on", str(first), seed=1)
    fresh = run("fresh", "yolo11n.yaml", seed=1)
    start = weights(first)
    return {
        "went_on": float((weights(went_on) - start).norm()),
        "fresh": float((weights(fresh) - start).norm()),
    }


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None,
    reason="the train extra (ultralytics) is not installed",
)
def test_continued_training_starts_from_the_checkpoint(tmp_path: Path) -> None:
    distance = run_in_child("tests.training.test_train_smoke:continued", tmp_path)
    # One small epoch moves the weights a little; a fresh start is another network entirely.
    assert distance["went_on"] < 0.2 * distance["fresh"], distance


def test_start_weights_names_a_checkpoint_and_nothing_else() -> None:
    from training.train import start_weights

    assert start_weights("weights/freshproof-detector-0.1.0.pt") == (
        "weights/freshproof-detector-0.1.0.pt"
    )
    assert start_weights("yolo11n.yaml") is False
