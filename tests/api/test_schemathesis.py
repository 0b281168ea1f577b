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
from api.auth.access import Permission, openapi_permissions, roles_with
from api.openapi import PHOTO_MEDIA_TYPES
from api.settings import Settings
from tests.api.access import grant

EXAMPLES = int(os.environ.get("FRESHPROOF_SCHEMATHESIS_EXAMPLES", "15"))


# Loaded at import: schemathesis parametrizes from the schema at collection time, and this
# pytest's fixture-based loader is not usable. The app is built lazily on first use is not
# possible either, so it lives in a temporary folder removed when the process exits.
_TMP = tempfile.TemporaryDirectory(prefix="fp-schemathesis-")
atexit.register(_TMP.cleanup)
# Hundreds of calls a minute on one key: no rate limit here (tests/api/test_access.py has it).
_APP = create_app(
    Settings(data_dir=Path(_TMP.name) / "var", anchor_backend="none", rate_limit_per_minute=0)
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


def _caller(permission: Permission) -> dict[str, str]:
    """A key of a role holding the permission: the admin where it can, else the first."""
    holders = roles_with(permission)
    role = "admin" if "admin" in holders else holders[0]
    bindings = {
        "customer_app": {"customer_id": "C-SCHEMA"},
        "supply_chain": {"parties": ["urn:epc:id:pgln:4012345.00000"]},
        "station": {"station_id": "ST-SCHEMA", "read_point": "urn:epc:id:sgln:4012345.00001.0"},
    }.get(role, {})
    return grant(_APP, role, **bindings)


_PERMISSIONS = openapi_permissions()
# A permission no key holds (the workbench's pages: a session cookie) needs no caller here.
_CALLERS = {p: _caller(p) for p in set(_PERMISSIONS.values()) if roles_with(p)}


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
    # The EPCIS query: CBV terms, URIs and EPC patterns, times with offsets, a signed
    # nextPageToken, eventCountLimit or maxEventCount but not both (a 400 names the parameter).
    ("GET", "/v1/events"),
    ("GET", "/v1/eventTypes/{event_type}/events"),
    # What a key must be bound to depends on its role (a customer app to one customer...).
    ("POST", "/v1/keys"),
    # A party id's GS1 check digit (Digital Link) and extension length are beyond a regex.
    ("POST", "/v1/parties"),
    # A decision's fields depend on each other (override names a party, change an amount).
    ("POST", "/v1/claims/{claim_id}/decision"),
    # A batch's items name its photo parts, and photos must be images: beyond the schema.
    ("POST", "/v1/stations/batches"),
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
    permission = _PERMISSIONS[(case.operation.method.lower(), case.operation.path)]
    headers = _CALLERS.get(permission, {})
    # Every other check runs on every operation, positive and negative cases alike; with the
    # security the document declares, schemathesis also checks that a call without the key
    # is refused.
    case.call_and_validate(
        headers=headers, excluded_checks=[positive_data_acceptance] if semantic else None
    )
