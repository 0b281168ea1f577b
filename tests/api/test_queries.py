"""A query parameter the operation does not have is a 422 naming it, not silently ignored."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.access import grant


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path / "var"))) as c:
        yield c


def test_misspelt_parameter_is_refused_and_named(client: TestClient) -> None:
    headers = grant(client.app, "adjudicator")  # type: ignore[arg-type]
    assert (
        client.get("/v1/review/stations", params={"limit": 5}, headers=headers).status_code == 200
    )
    resp = client.get("/v1/review/stations", params={"limt": 5, "x": 1}, headers=headers)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["type"].endswith("/validation")
    assert [e["field"] for e in body["errors"]] == ["query.limt", "query.x"]


def test_without_a_key_the_answer_is_still_401(client: TestClient) -> None:
    assert client.get("/v1/review/stations", params={"limt": 5}).status_code == 401


def test_workbench_pages_keep_their_notices(client: TestClient) -> None:
    # Pages are not API operations: the login page reads ?reason= itself.
    assert client.get("/review/login", params={"reason": "expired"}).status_code == 200
