"""Shared fixtures: real images made on the fly, the shipped weights, the real photo pools."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

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
