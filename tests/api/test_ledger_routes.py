"""The ledger over HTTP: entries come back as bundles that verify offline with the served key."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from ledger.bundle import verify_bundle
from ledger.checkpoint import verify_checkpoint
from ledger.errors import LedgerError
from ledger.proof import verify_consistency
from tests.api.access import grant


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = create_app(Settings(data_dir=tmp_path / "var"))
    ledger = app.state.services.ledger
    ledger.append_many([("test.note", {"n": i}) for i in range(7)])
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """No key by default: the checkpoint, the key and consistency proofs are public."""
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def auditor(app: FastAPI) -> dict[str, str]:
    """Entries and their inclusion proofs are not public (claim entries name customers)."""
    return grant(app, "auditor")


def test_key_and_checkpoint_verify(client: TestClient) -> None:
    key = client.get("/v1/ledger/key").text.strip()
    assert key.startswith("freshproof.local/ledger+")
    note = client.get("/v1/ledger/checkpoint").text
    cp = verify_checkpoint(note, key)
    # Eight: start-up records the shipped model's release after the seven notes.
    assert cp.size == 8 and cp.origin == "freshproof.local/ledger"
    assert client.get("/v1/ledger/checkpoint").text == note  # unchanged log, same note


def test_entry_bundle_verifies_offline_and_tampering_is_caught(
    client: TestClient, auditor: dict[str, str]
) -> None:
    key = client.get("/v1/ledger/key").text.strip()
    assert client.get("/v1/ledger/entries/3").status_code == 401  # not public
    bundle = client.get("/v1/ledger/entries/3", headers=auditor).json()
    # Nine: the seven notes, the model release recorded at start-up, the auditor's key.created.
    assert bundle["body"] == {"n": 3} and bundle["tree_size"] == 9
    verified = verify_bundle(bundle, key)
    assert (verified.index, verified.kind) == (3, "test.note")
    forged = {**bundle, "record": bundle["record"].replace('"n":3', '"n":4')}
    with pytest.raises(LedgerError):
        verify_bundle(forged, key)


def test_consistency_proof_links_two_checkpoints(client: TestClient) -> None:
    body = client.get("/v1/ledger/consistency", params={"from": 3, "to": 7}).json()
    import base64

    verify_consistency(
        size1=3,
        size2=7,
        proof=[base64.b64decode(h) for h in body["proof"]],
        root1=base64.b64decode(body["root_from"]),
        root2=base64.b64decode(body["root_to"]),
    )


def test_out_of_range_is_a_404_problem(client: TestClient, auditor: dict[str, str]) -> None:
    resp = client.get("/v1/ledger/entries/70", headers=auditor)
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["type"].endswith("/not-in-log")
    late = client.get("/v1/ledger/consistency", params={"from": 90})
    assert late.status_code == 404
    # The detail names the size asked for (a probe got "(to=N)" for from=9999).
    assert "from=90" in late.json()["detail"]
    backwards = client.get("/v1/ledger/consistency", params={"from": 5, "to": 3}).json()
    assert "from=5, to=3" in backwards["detail"]
    assert client.get("/v1/ledger/consistency", params={"from": -1}).status_code == 422
