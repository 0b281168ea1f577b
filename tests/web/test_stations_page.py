"""The workbench's station page without a browser: waiting items, their photos, a grade."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stations.batches import ItemInput, Station, grade_batch
from stations.grading import GradingPolicy
from stations.review import open_items
from tests.api.access import grant
from tests.stations.test_batches import PHOTOS, PhotoScores
from tests.web.test_session import _app, _csrf, _log_in

STATION = Station("ST-3", "urn:epc:id:sgln:4000002.00003.0", "key:fpk_00000003 (station)")
UNSURE = "urn:epc:id:sgtin:4000001.012345.7001"


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return _app(tmp_path)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        services = app.state.services
        grade_batch(
            ledger=services.ledger,
            store=services.evidence,
            inspector=PhotoScores(),
            station=STATION,
            batch_id="b-page",
            items=[
                ItemInput(UNSURE, "package", (("u.jpg", PHOTOS["unsure"]),)),
                ItemInput(
                    "urn:epc:id:sgtin:4000001.012345.7002",
                    "package",
                    (("d.jpg", PHOTOS["damaged"]),),
                ),
            ],
            policy=GradingPolicy(0.7),
            now=datetime.now(UTC),
        )
        yield c


def test_an_adjudicator_sees_the_unsure_item_and_grades_it(app: Any, client: TestClient) -> None:
    _log_in(client, grant(app, "adjudicator"))
    page = client.get("/review/stations")
    assert page.status_code == 200 and UNSURE in page.text
    assert "1 item the stations" in page.text  # the confident item is not waiting
    src = re.search(r'<img src="([^"]+)"', page.text)
    assert src is not None
    photo = client.get(src.group(1))
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    size = app.state.services.ledger.size()
    done = client.post(
        "/review/stations/b-page/0/grade",
        data={"condition": "damaged", "csrf": _csrf(client)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    after = client.get(done.headers["location"])
    assert "Graded: damaged" in after.text and UNSURE not in after.text
    entry = app.state.services.ledger.entry(size)
    assert entry.body["event"]["disposition"] == "damaged"
    assert entry.body["event"]["readPoint"]["id"] == STATION.read_point
    again = client.post(
        "/review/stations/b-page/0/grade", data={"condition": "intact", "csrf": _csrf(client)}
    )
    assert again.status_code == 409 and "was graded already by" in again.text


def test_an_auditor_sees_the_queue_but_cannot_grade(app: Any, client: TestClient) -> None:
    _log_in(client, grant(app, "auditor"))
    page = client.get("/review/stations")
    assert page.status_code == 200 and UNSURE in page.text and "/grade" not in page.text
    refused = client.post(
        "/review/stations/b-page/0/grade", data={"condition": "intact", "csrf": _csrf(client)}
    )
    assert refused.status_code == 403
    assert [i.uri for i in open_items(app.state.services.engine)] == [UNSURE]
