"""One tiny epoch on generated images, exported to ONNX and served by our own predictor.

Runs in a child process: importing ultralytics patches ``PIL.Image.open`` process-wide,
which would change how every later test's image decoding fails.
"""

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import run_in_child

LABELS = ("spoilage", "mold", "swelling", "package_damage")


def smoke(tmp: Path) -> dict[str, object]:
    """Build, train one epoch at 64 px, export, and inspect one image with the ONNX model."""
    from training.datasets import build_dataset
    from training.release import release_model
    from training.train import train_detector
    from vision.predictor import Predictor

    ds = tmp / "ds"
    build_dataset(
        pools_dir=tmp / "no-pools", out=ds, synthetic_per_split={"train": 8, "val": 4, "test": 4}
    )
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
