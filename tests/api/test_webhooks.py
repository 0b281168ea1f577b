"""A filed claim reaches a real webhook receiver, signed, through the in-process relay."""

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from notifications.signatures import verify_signature
from tests.api.access import grant
from tests.api.test_claims import DC, FARM, TRUCK, _chain, _t
from tests.conftest import FIXTURES
from tests.notifications.test_outbox import Receiver


def test_ticket_event_is_delivered_and_signed(tmp_path: Path) -> None:
    receiver = Receiver(fail=1)  # the first try fails: the relay must retry
    settings = Settings(
        data_dir=tmp_path / "var",
        anchor_backend="none",
        webhook_urls=receiver.url,
        webhook_secret="s3cret",
        relay_interval_seconds=0.2,
    )
    app = create_app(settings)
    # The supply-chain system of the three parties registers them and captures the chain
    # with its key; the customer's app files.
    supply_chain = grant(app, "supply_chain", parties=[FARM, DC, TRUCK])
    customer_app = grant(app, "customer_app", customer_id="cust-hook")
    try:
        with TestClient(app, headers=supply_chain) as client:
            for pid, role in ((FARM, "supplier"), (DC, "warehouse"), (TRUCK, "carrier")):
                resp = client.post("/v1/parties", json={"id": pid, "role": role, "name": role})
                assert resp.status_code == 201, resp.text
            delivered = datetime.now(UTC) - timedelta(hours=1)
            _chain(
                client, "LOT-HOOK", delivered=delivered, truck_temps=[4, 4, 4], headers=supply_chain
            )
            photo = (FIXTURES / "flat_pouch.jpg").read_bytes()
            claim = {
                "order_id": "O-9",
                "lot": "LOT-HOOK",
                "category": "chilled",
                "line_value": "3.20",
                "currency": "EUR",
                "delivered_at": _t(delivered),
            }
            resp = client.post(
                "/v1/claims",
                files=[("photos", ("p.jpg", photo, "image/jpeg"))],
                data={"claim": json.dumps(claim)},
                headers=customer_app,
            )
            assert resp.status_code == 201, resp.text
            deadline = time.monotonic() + 20
            while len(receiver.seen) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)  # backoff after the first failure is at most 4 s here
    finally:
        receiver.close()
    assert len(receiver.seen) >= 2, "the relay did not retry after the failure"
    (first_id, body, _), (second_id, body2, header2) = receiver.seen[:2]
    assert first_id == second_id and body == body2
    payload = json.loads(body)
    assert payload["claim_id"] == resp.json()["id"] and payload["lot"] == "LOT-HOOK"
    verify_signature(secret=b"s3cret", header=header2, body=body2, now=datetime.now(UTC))
