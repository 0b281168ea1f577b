"""``freshproof predict --json``: one line per image, errors per file, exit status."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import FIXTURES, jpeg_bytes, textured


def test_predict_json_lines_and_exit_status(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo")
    missing = tmp_path / "missing.jpg"
    good = FIXTURES / "swollen_pouch.jpg"
    result = CliRunner().invoke(app, ["predict", "--json", str(good), str(bad), str(missing)])
    assert result.exit_code == 1
    lines = [json.loads(x) for x in result.stdout.strip().splitlines()]
    assert [x["image"] for x in lines] == [str(good), str(bad), str(missing)]
    assert lines[0]["quality"]["ok"] and "findings" in lines[0] and "error" not in lines[0]
    assert len(lines[0]["sha256"]) == 64 and lines[0]["model"]["version"]
    assert "not a readable image" in lines[1]["error"]
    assert "cannot read" in lines[2]["error"]


def test_predict_all_good_exits_zero() -> None:
    result = CliRunner().invoke(app, ["predict", str(FIXTURES / "flat_pouch.jpg")])
    assert result.exit_code == 0, result.output
    assert "flat_pouch.jpg" in result.stdout


def test_predict_records_the_chosen_backend(
    tiny_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    monkeypatch.delenv("FRESHPROOF_INFERENCE_BACKEND", raising=False)
    monkeypatch.delenv("FRESHPROOF_INFERENCE_PRECISION", raising=False)
    photo = tmp_path / "x.jpg"
    photo.write_bytes(jpeg_bytes(textured()))
    args = ["predict", "--json", "--weights", str(tiny_weights), str(photo)]
    result = CliRunner().invoke(app, [*args, "--backend", "openvino", "--precision", "f32"])
    assert result.exit_code == 0, result.output
    model = json.loads(result.stdout)["model"]
    assert (model["backend"], model["precision"]) == ("openvino", "f32")
    assert model["name"] == "tiny" and len(model["sha256"]) == 64
    ort = json.loads(CliRunner().invoke(app, [*args, "--backend", "onnxruntime"]).stdout)["model"]
    assert (ort["backend"], ort["precision"]) == ("onnxruntime", "f32")
    # The default is the service's: each network on the runtime and at the precision that
    # measure faster here (auto), recorded as what ran ("onnxruntime+openvino": one of each).
    default = json.loads(CliRunner().invoke(app, args).stdout)["model"]
    assert set(default["backend"].split("+")) <= {"onnxruntime", "openvino"}
    assert set(default["precision"].split("+")) <= {"bf16", "f32"}
    assert "bf16" not in default["precision"] or "openvino" in default["backend"]


def test_predict_unknown_backend_is_a_clear_error(tiny_weights: Path, tmp_path: Path) -> None:
    photo = tmp_path / "x.jpg"
    photo.write_bytes(jpeg_bytes(textured()))
    result = CliRunner().invoke(
        app, ["predict", "--weights", str(tiny_weights), "--backend", "tensorrt", str(photo)]
    )
    assert result.exit_code == 2
    assert "unknown inference backend 'tensorrt'" in result.stderr
    assert "Traceback" not in result.output


def test_worker_command_line_is_one_celery_accepts() -> None:
    """The worker's argv parses with Celery's own worker command: one pool thread for one
    batch at a time (not the solo pool, whose acks wait for the event loop's next turn),
    prefork for more, gossip and mingle off, a node name of its own per process."""
    from celery import Celery
    from celery.bin.base import CLIContext
    from celery.bin.worker import worker as celery_worker

    from api.cli import worker_argv

    obj = CLIContext(app=Celery("argv-test"), no_color=True, workdir=None, quiet=True)
    one = worker_argv(concurrency=1, loglevel="INFO", name=None)
    ctx = celery_worker.make_context("worker", one[1:], obj=obj)
    assert ctx.params["pool"].__module__ == "celery.concurrency.thread"
    assert ctx.params["concurrency"] == 1
    assert ctx.params["without_gossip"] is True
    assert ctx.params["without_mingle"] is True
    assert ctx.params["hostname"].startswith(f"freshproof-{os.getpid()}@")
    many = worker_argv(concurrency=2, loglevel="WARNING", name="grader-2@%h")
    ctx = celery_worker.make_context("worker", many[1:], obj=obj)
    assert ctx.params["pool"].__module__ == "celery.concurrency.prefork"
    assert ctx.params["concurrency"] == 2
    assert ctx.params["hostname"].startswith("grader-2@")  # %h: Celery puts the host in


def test_predict_judges_photos_as_the_family_it_is_told(tiny_weights: Path, tmp_path: Path) -> None:
    from tests.vision.test_package import with_package

    weights = with_package(tiny_weights, tmp_path / "w", families=["can"])
    photo = tmp_path / "x.jpg"
    photo.write_bytes(jpeg_bytes(textured()))
    args = ["predict", "--json", "--weights", str(weights), "--backend", "onnxruntime"]
    can = json.loads(CliRunner().invoke(app, [*args, "--family", "can", str(photo)]).stdout)
    unnamed = json.loads(CliRunner().invoke(app, [*args, str(photo)]).stdout)
    assert can["family"] == "can" and "package" in can["timing_ms"]
    assert "family" not in unnamed and "package" not in unnamed["timing_ms"]
    wrong = CliRunner().invoke(app, [*args, "--family", "crate", str(photo)])
    assert wrong.exit_code == 2 and "unknown family 'crate'" in wrong.stderr
