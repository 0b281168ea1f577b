"""Separation of duties an admin cannot get around (issue 22, item 5).

An admin does not decide claims; nor may one admin mint a key that decides claims (an
adjudicator's) or manages keys (another admin's): such a key is a request until a second
admin approves it, and the last active admin key is never revoked. Each step is a ledger
entry. The server's shell stays the root of trust: it issues any key at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth.keys import (
    REQUEST_LIFETIME,
    KeyRequestClosedError,
    KeyStore,
    LastAdminError,
    SameAdminError,
    create_key_tables,
)
from api.settings import Settings
from storage.db import make_engine
from tests.api.access import grant

PROBLEM = "application/problem+json"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    app = create_app(
        Settings(data_dir=tmp_path / "var", anchor_backend="none", anchor_every_entries=10**6)
    )
    with TestClient(app, raise_server_exceptions=False):
        yield app


@pytest.fixture
def client(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def _roles(app: Any) -> list[str]:
    return sorted(r.role for r in app.state.services.keys.list())


def _kinds_since(app: Any, size: int) -> list[str]:
    ledger = app.state.services.ledger
    return [ledger.entry(i).kind for i in range(size, ledger.size())]


@pytest.mark.parametrize("role", ["adjudicator", "admin"])
def test_one_admin_alone_gets_a_pending_request_not_a_key(
    app: Any, client: TestClient, role: str
) -> None:
    admin = grant(app, "admin")
    before, size = _roles(app), app.state.services.ledger.size()
    asked = client.post("/v1/keys", headers=admin, json={"role": role, "name": f"new {role}"})
    # Before: 201 with a working key; the admin then decided claims with it.
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert "key" not in body and body["state"] == "pending" and body["role"] == role
    assert asked.headers["location"] == f"/v1/key-requests/{body['request_id']}"
    assert _roles(app) == before
    assert _kinds_since(app, size) == ["key.requested"]
    # The same admin answering its own request is the bypass: refused, naming the rule.
    url = f"/v1/key-requests/{body['request_id']}/approval"
    own = client.post(url, headers=admin, json={"answer": "approve"})
    assert own.status_code == 403 and own.headers["content-type"].startswith(PROBLEM)
    assert own.json()["type"].endswith("/separation-of-duties")
    assert "separation of duties" in own.json()["detail"]
    assert _roles(app) == before and _kinds_since(app, size) == ["key.requested"]
    assert client.get(url.removesuffix("/approval"), headers=admin).json()["state"] == "pending"


def test_a_second_admin_approves_and_alone_receives_the_key_once(
    app: Any, client: TestClient
) -> None:
    first, second = grant(app, "admin"), grant(app, "admin")
    asked = client.post("/v1/keys", headers=first, json={"role": "adjudicator", "name": "Ana"})
    request_id = asked.json()["request_id"]
    size = app.state.services.ledger.size()
    url = f"/v1/key-requests/{request_id}/approval"
    approved = client.post(url, headers=second, json={"answer": "approve", "note": "new hire"})
    assert approved.status_code == 201, approved.text
    key = approved.json()["key"]
    assert approved.json()["role"] == "adjudicator"
    assert approved.json()["request"]["state"] == "approved"
    assert approved.json()["request"]["key_id"] == approved.json()["key_id"]
    # The key works as an adjudicator's: the review queue is open to it.
    assert client.get("/v1/review", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    ledger = app.state.services.ledger
    answered, created = (ledger.entry(i) for i in range(size, ledger.size()))
    assert (answered.kind, created.kind) == ("key.request.approved", "key.created")
    assert answered.body["requested_by"] == created.body["requested_by"] != answered.body["actor"]
    assert created.body["request_id"] == request_id and key not in str(created.body)
    # Answered once: approving again (or rejecting) issues nothing more.
    again = client.post(url, headers=second, json={"answer": "approve"})
    assert again.status_code == 409 and again.json()["type"].endswith("/key-request-closed")
    listed = client.get("/v1/key-requests", headers=first).json()["items"]
    assert [(r["request_id"], r["state"]) for r in listed] == [(request_id, "approved")]
    assert key not in client.get("/v1/key-requests", headers=first).text


def test_a_rejected_request_issues_nothing(app: Any, client: TestClient) -> None:
    first, second = grant(app, "admin"), grant(app, "admin")
    asked = client.post("/v1/keys", headers=first, json={"role": "admin", "name": "Mallory"})
    url = f"/v1/key-requests/{asked.json()['request_id']}/approval"
    before, size = _roles(app), app.state.services.ledger.size()
    refused = client.post(url, headers=second, json={"answer": "reject", "note": "who?"})
    assert refused.status_code == 200 and "key" not in refused.json()
    assert refused.json()["request"]["state"] == "rejected"
    assert _roles(app) == before and _kinds_since(app, size) == ["key.request.rejected"]
    assert client.post(url, headers=first, json={"answer": "approve"}).status_code == 409


def test_keys_that_cannot_decide_or_manage_are_still_issued_at_once(
    app: Any, client: TestClient
) -> None:
    admin = grant(app, "admin")
    made = client.post("/v1/keys", headers=admin, json={"role": "auditor", "name": "reader"})
    assert made.status_code == 201 and made.json()["key"].startswith("fpk_")


def _key_id(app: Any, headers: dict[str, str]) -> str:
    token = headers["Authorization"].removeprefix("Bearer ")
    return str(app.state.services.keys.authenticate(token).key_id)


def test_the_last_active_admin_cannot_be_revoked(app: Any, client: TestClient) -> None:
    first, second = grant(app, "admin"), grant(app, "admin")
    gone = client.delete(f"/v1/keys/{_key_id(app, second)}", headers=first)
    assert gone.status_code == 200
    size = app.state.services.ledger.size()
    # Before: 200, and the installation had no admin left to manage keys.
    last = client.delete(f"/v1/keys/{_key_id(app, first)}", headers=first)
    assert last.status_code == 409 and last.headers["content-type"].startswith(PROBLEM)
    assert last.json()["type"].endswith("/last-admin")
    assert "last active admin" in last.json()["detail"]
    assert app.state.services.ledger.size() == size
    assert client.get("/v1/keys", headers=first).status_code == 200


# --- the store itself: what the shell (freshproof keys) goes through too -------------------


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 5, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_the_store_refuses_the_same_admin_an_expired_request_and_the_last_admin(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    create_key_tables(engine)
    clock = _Clock()
    store = KeyStore(engine, clock=clock)
    _, root = store.create(role="admin", name="root", created_by="cli:alice")
    pending = store.request(role="adjudicator", name="Bo", requested_by="key:fpk_aaaaaaaa (admin)")
    with pytest.raises(SameAdminError):
        store.answer_request(pending.request_id, answer="approve", by=pending.requested_by)
    clock.now += REQUEST_LIFETIME
    with pytest.raises(KeyRequestClosedError) as closed:
        store.answer_request(pending.request_id, answer="approve", by="key:fpk_bbbbbbbb (admin)")
    assert closed.value.state == "expired"
    # The API's revocations keep the last admin.
    with pytest.raises(LastAdminError):
        store.revoke(root.key_id, by="key:fpk_cccccccc (admin)", keep_last_admin=True)
    _, other = store.create(role="admin", name="second", created_by="cli:alice")
    revoked = store.revoke(root.key_id, by="key:fpk_cccccccc (admin)", keep_last_admin=True)
    assert revoked.revoked_at is not None
    # An expired admin key is not an admin: the one active key is still the last.
    store.create(role="admin", name="brief", created_by="cli:alice", expires_in=timedelta(hours=1))
    clock.now += timedelta(hours=2)
    with pytest.raises(LastAdminError):
        store.revoke(other.key_id, by="key:fpk_cccccccc (admin)", keep_last_admin=True)
    # The shell, the root of trust, may stop a leaked sole admin key at once.
    assert store.revoke(other.key_id, by="cli:alice").revoked_at is not None
    engine.dispose()
