"""Paging through 10,000 events: every event once, in order, no gaps, whatever the order and
the page size; and another tenant pages through nothing of them.

The 10,000 take about 20 s to seed on a shared two-core machine, so they are ``slow``
(``make test`` leaves them out; CI's full run and ``pytest -m slow`` take them); the same
tests run on 1,500 events in every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from supplychain.capture import capture_events
from supplychain.epcis import parse_document
from tests.api.access import grant

SUPPLIER = "urn:epc:id:pgln:4012345.00000"
START = datetime(2024, 5, 1, tzinfo=UTC)


def _event(i: int) -> dict[str, Any]:
    # Seven events a minute: ties in event time, which the keyset must not lose or repeat.
    at = START + timedelta(minutes=i // 7)
    return {
        "eventID": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "shipping" if i % 2 else "receiving",
        "epcList": [f"urn:epc:id:sscc:4012345.{i:010d}"],
        "eventTime": at.isoformat().replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+00:00",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"},
        "sourceList": [{"type": "possessing_party", "source": SUPPLIER}],
    }


@pytest.fixture(scope="module", params=[1_500, pytest.param(10_000, marks=pytest.mark.slow)])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, dict[str, str], int]]:
    n: int = request.param
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("paging") / "var"))
    with TestClient(app, raise_server_exceptions=False) as client:
        key = grant(app, "supply_chain", parties=[SUPPLIER])
        # Through the capture function POST /v1/events calls (tests/api/test_epcis_query.py
        # captures over HTTP), in documents of the capture limit: seeded in seconds.
        ledger = app.state.services.ledger
        for start in range(0, n, 1000):
            doc = {
                "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                "type": "EPCISDocument",
                "schemaVersion": "2.0",
                "creationDate": "2024-06-01T00:00:00Z",
                "epcisBody": {"eventList": [_event(i) for i in range(start, min(start + 1000, n))]},
            }
            capture_events(ledger=ledger, events_in=parse_document(doc), speaks_for=[SUPPLIER])
        yield client, key, n


def _walk(client: TestClient, url: str, key: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
    while True:
        resp = client.get(url, headers=key)
        assert resp.status_code == 200, resp.text
        yield resp.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        link = resp.headers.get("link")
        if link is None:
            return
        url = link.split(">")[0].lstrip("<")


def _serial(event: dict[str, Any]) -> int:
    return int(event["eventID"].rsplit("-", 1)[1])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("perPage=1000", lambda n: list(range(n))),
        ("perPage=700&orderBy=eventTime", lambda n: list(range(n))),
        ("perPage=999&orderBy=eventTime&orderDirection=DESC", lambda n: list(reversed(range(n)))),
        ("perPage=5000&EQ_bizStep=shipping", lambda n: list(range(1, n, 2))),
    ],
)
def test_paging_through_every_event(
    seeded: tuple[TestClient, dict[str, str], int],
    query: str,
    expected: Callable[[int], list[int]],
) -> None:
    client, key, n = seeded
    pages = list(_walk(client, f"/v1/events?{query}", key))
    served = [_serial(e) for page in pages for e in page]
    assert len(served) == len(set(served))  # no event twice
    # (Descending: the latest minute first and, within a minute, the later captured first.)
    assert served == expected(n)
    assert all(len(p) <= 1000 for p in pages)  # the server's cap on perPage


def test_another_tenant_pages_through_none_of_them(
    seeded: tuple[TestClient, dict[str, str], int],
) -> None:
    client, _, _ = seeded
    other = grant(client.app, "supply_chain", parties=["urn:epc:id:pgln:4099999.00000"])  # type: ignore[arg-type]
    assert [e for page in _walk(client, "/v1/events?perPage=1000", other) for e in page] == []
