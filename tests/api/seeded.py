"""A served app with one lot on the ledger, and what a refused request must leave unchanged.

Shared by the edge tests (claims, parties, EPCIS) and the hostile-upload tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from claims.service import count_claims
from tests.conftest import REPO

__all__ = ["EPCIS", "LOT", "seeded_client", "stored_state"]

EPCIS = REPO / "tests" / "ledger" / "data" / "epcis" / "object_shipping_inspection.json"
LOT = "STRAW-0502"
_PARTIES = (
    ("urn:epc:id:pgln:4012345.00000", "supplier", "Berry Farm"),
    ("urn:epc:id:pgln:4023333.00000", "carrier", "FastVan"),
    ("urn:epc:id:pgln:4000001.00000", "warehouse", "City DC"),
)


@contextmanager
def seeded_client(data_dir: Path, **settings: Any) -> Iterator[TestClient]:
    """The app on ``data_dir`` with the README's three parties and lot STRAW-0502 captured."""
    app = create_app(Settings(data_dir=data_dir, anchor_backend="none", **settings))
    with TestClient(app, raise_server_exceptions=False) as c:
        for pid, role, name in _PARTIES:
            assert c.post("/v1/parties", json={"id": pid, "role": role, "name": name}).is_success
        assert c.post("/v1/events", json=json.loads(EPCIS.read_text())).status_code == 201
        yield c


def stored_state(client: TestClient) -> tuple[int, int, int]:
    """(ledger size, claims, evidence files): what a refused request must leave alone."""
    services = client.app.state.services  # type: ignore[attr-defined]
    root = Path(client.app.state.settings.data_dir)  # type: ignore[attr-defined]
    files = sum(1 for p in root.rglob("*") if p.is_file() and "evidence" in p.parts)
    return services.ledger.size(), count_claims(services.engine), files
