"""Queued station batches: what the API keeps before a worker grades them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stations.batches import ItemInput, Station
from stations.jobs import store_job
from storage.evidence import LocalEvidenceStore
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
