"""Queued station batches: what the API keeps before a worker grades them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from stations.batches import ItemInput, ItemResult, Station
from stations.jobs import BatchJob, JobItem, ProgressLog, job_progress, record_job, store_job
from storage.evidence import LocalEvidenceStore
from storage.schema import metadata
from supplychain.projections import event_lots, projection_metadata
from supplychain.trace import lot_class_of, lot_classes_of
from tests.conftest import jpeg_bytes, textured

STATION = Station("ST-1", "urn:epc:id:sgln:4000001.00001.0", "key:station")


@pytest.mark.parametrize("side_by_side", [False, True])
def test_stored_side_by_side_the_job_is_the_same(tmp_path: Path, side_by_side: bool) -> None:
    photos = [jpeg_bytes(textured(40 + i, 50)) for i in range(5)]
    items = [
        ItemInput("epc-0", "package", (("a.jpg", photos[0]), ("b.jpg", photos[1]))),
        # Its second photo is no image: the item fails there, naming that photo.
        ItemInput("epc-1", "package", (("c.jpg", photos[2]), ("d.jpg", b"no image")), (2, 3)),
        ItemInput("epc-2", "produce", (("e.jpg", photos[3]),)),
    ]
    store = LocalEvidenceStore(tmp_path)
    with ThreadPoolExecutor(3) as pool:
        job = store_job(store, "b-1", STATION, items, pool=pool if side_by_side else None)
    assert [i.epc for i in job.items] == ["epc-0", "epc-1", "epc-2"]
    first, failed, last = job.items
    assert [name for name, _ in first.photos] == ["a.jpg", "b.jpg"]
    assert [store.get_original(h) for _, h in first.photos] == photos[:2]
    assert failed.error is not None and failed.error["photo_index"] == 1
    assert failed.error["request_photo_index"] == 3
    assert [store.get_original(h) for _, h in last.photos] == [photos[3]]
    assert first.error is None and last.error is None


def test_progress_commits_a_runs_first_item_at_once_and_the_rest_together(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    metadata.create_all(engine)
    job = BatchJob("b-2", STATION, (JobItem("x", "package", ()),) * 3)
    record_job(engine, job, datetime.now(UTC), owner="me")
    log = ProgressLog(engine, job.key, interval=3600)
    log(ItemResult(0, "x", error={"type": "t"}))
    assert sorted(job_progress(engine, job.key)) == [0]  # the run's first item: at once
    log(ItemResult(1, "x", error={"type": "t"}))
    log(ItemResult(2, "x", error={"type": "t"}))
    assert sorted(job_progress(engine, job.key)) == [0]  # within the interval: they wait
    log.flush()
    assert sorted(job_progress(engine, job.key)) == [0, 1, 2]


def test_a_batchs_lots_in_one_query_are_each_items_own(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    projection_metadata.create_all(engine)
    lgtin = "urn:epc:class:lgtin:4000001.012345.{}"
    rows = [  # an event naming two items and two lots; another naming one item and no lot
        ("urn:epc:id:sgtin:4000001.012345.1", "e1"),
        ("urn:epc:id:sgtin:4000001.012345.2", "e1"),
        (lgtin.format("B"), "e1"),
        (lgtin.format("A"), "e1"),
        ("urn:epc:id:sgtin:4000001.012345.3", "e2"),
        ("urn:epc:id:sgtin:4000001.012345.4", "e3"),
        (lgtin.format("C"), "e3"),
    ]
    with engine.begin() as conn:
        conn.execute(event_lots.insert(), [{"lot": lot, "hash_id": h} for lot, h in rows])
    uris = [f"urn:epc:id:sgtin:4000001.012345.{n}" for n in range(6)]
    found = lot_classes_of(engine, uris)
    assert found == {uri: lot_class_of(engine, uri) for uri in uris}
    assert found[uris[1]] == lgtin.format("A") and found[uris[4]] == lgtin.format("C")
    assert found[uris[3]] is None and found[uris[5]] is None
