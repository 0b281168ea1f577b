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
from claims.views import count_claims
from tests.api.access import grant
from tests.conftest import REPO

__all__ = ["CUSTOMER", "EPCIS", "LOT", "as_role", "seeded_client", "stored_state"]

EPCIS = REPO / "tests" / "supplychain" / "data" / "epcis" / "object_shipping_inspection.json"
LOT = "STRAW-0502"
CUSTOMER = "C-EDGE"
_PARTIES = (
    ("urn:epc:id:pgln:4012345.00000", "supplier", "Berry Farm"),
    ("urn:epc:id:pgln:4023333.00000", "carrier", "FastVan"),
    ("urn:epc:id:pgln:4000001.00000", "warehouse", "City DC"),
)


@contextmanager
def seeded_client(data_dir: Path, **settings: Any) -> Iterator[TestClient]:
    """The app on ``data_dir`` with the README's three parties and lot STRAW-0502 captured.

    The client calls as the customer app of customer ``C-EDGE`` by default; ``as_role``
    gives the headers of the admin and of the supply-chain system of the three parties.
    """
    app = create_app(Settings(data_dir=data_dir, anchor_backend="none", **settings))
    with TestClient(app, raise_server_exceptions=False) as c:
        roles = {
            "admin": grant(app, "admin"),
            "supply_chain": grant(app, "supply_chain", parties=[p for p, _, _ in _PARTIES]),
            "customer_app": grant(app, "customer_app", customer_id=CUSTOMER),
        }
        app.state.test_roles = roles
        c.headers.update(roles["customer_app"])
        for pid, role, name in _PARTIES:
            body = {"id": pid, "role": role, "name": name}
            assert c.post("/v1/parties", json=body, headers=roles["admin"]).is_success
        doc = json.loads(EPCIS.read_text())
        assert c.post("/v1/events", json=doc, headers=roles["supply_chain"]).status_code == 201
        yield c


def as_role(client: TestClient, role: str) -> dict[str, str]:
    """Headers of the seeded app's key for ``role`` (admin, supply_chain, customer_app)."""
    roles: dict[str, dict[str, str]] = client.app.state.test_roles  # type: ignore[attr-defined]
    return roles[role]


def stored_state(client: TestClient) -> tuple[int, int, int]:
    """(ledger size, claims, evidence files): what a refused request must leave alone."""
    services = client.app.state.services  # type: ignore[attr-defined]
    root = Path(client.app.state.settings.data_dir)  # type: ignore[attr-defined]
    files = sum(1 for p in root.rglob("*") if p.is_file() and "evidence" in p.parts)
    return services.ledger.size(), count_claims(services.engine), files
