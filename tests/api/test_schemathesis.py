"""Every operation against its own OpenAPI document, with schemathesis and all its checks.

Positive and negative cases are generated from the document the app serves: every answer
must be documented (status, media type, headers, body schema), invalid input must be refused
with a 4xx, and nothing may answer 5xx. The number of examples is bounded so CI stays fast;
raise ``FRESHPROOF_SCHEMATHESIS_EXAMPLES`` for a longer run.
"""

from __future__ import annotations

import atexit
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from api.openapi import PHOTO_MEDIA_TYPES
from api.settings import Settings

EXAMPLES = int(os.environ.get("FRESHPROOF_SCHEMATHESIS_EXAMPLES", "15"))


# Loaded at import: schemathesis parametrizes from the schema at collection time, and this
# pytest's fixture-based loader is not usable. The app is built lazily on first use is not
# possible either, so it lives in a temporary folder removed when the process exits.
_TMP = tempfile.TemporaryDirectory(prefix="fp-schemathesis-")
atexit.register(_TMP.cleanup)
_APP = create_app(Settings(data_dir=Path(_TMP.name) / "var", anchor_backend="none"))
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


def _jpeg(seed: int, side: int) -> bytes:
    # Textured enough to pass the quality gate, so valid photos reach the model and the ledger.
    rng = np.random.default_rng(seed)
    pixels = rng.integers(40, 220, size=(side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=85)
    return out.getvalue()


# A schema-valid photo is an image, which JSON Schema cannot say: real JPEGs for image/*.
schemathesis.openapi.media_type(
    "image/jpeg",
    st.builds(_jpeg, st.integers(0, 2**16), st.sampled_from([64, 96, 160])),
    aliases=[m for m in PHOTO_MEDIA_TYPES if m != "image/jpeg"],
)


# Operations where input the schema allows can still be refused with a documented 422, for
# reasons JSON Schema cannot express; schemathesis's positive-data check would call that a
# failure. Every other check still runs on them.
BEYOND_THE_SCHEMA = {
    # Photos must decode and pass the quality gate, and a delivery cannot be in the future.
    # (schemathesis also sends file parts without a filename, which multipart reads as text.)
    ("POST", "/v1/claims"),
    ("POST", "/v1/inspect"),
    # An EPCIS document is validated event by event against the standard, not the schema.
    ("POST", "/v1/events"),
    # A cursor is opaque: only the ones this API returned are valid.
    ("GET", "/v1/claims"),
}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_holds_to_its_document(case: schemathesis.Case) -> None:
    semantic = (case.operation.method.upper(), case.operation.path) in BEYOND_THE_SCHEMA
    # Every other check runs on every operation, positive and negative cases alike.
    case.call_and_validate(excluded_checks=[positive_data_acceptance] if semantic else None)
