"""Station batches on a real ledger: grades, one event per item, failures per item, replays."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.services import Services, build_services
from api.settings import Settings
from claims.segments import Party
from claims.timeline import build_timeline
from stations.batches import (
    ItemInput,
    Station,
    create_station_tables,
    grade_batch,
    request_digest,
)
from stations.errors import BatchConflictError
from stations.grading import GradingPolicy
from stations.review import open_items
from supplychain.capture import capture_events, register_party
from supplychain.epcis import parse_document
from supplychain.epcis.build import ObjectEvent, Quantity, SourceDestination, epcis_document
from supplychain.trace import lot_trace
from tests.conftest import jpeg_bytes, textured
from vision.errors import NotAnImageError
from vision.image import QualityReport
from vision.predictor import Finding, Inspection

NOW = datetime.now(UTC).replace(microsecond=0)
LOT = "urn:epc:class:lgtin:4000001.012345.RET-7"
DC = "urn:epc:id:pgln:4000002.00000"
ITEM_A = "urn:epc:id:sgtin:4000001.012345.1001"
ITEM_B = "urn:epc:id:sgtin:4000001.012345.1002"
# SGTIN-96 of urn:epc:id:sgtin:0614141.812345.6789 (TDS example): a lot the ledger never saw.
UNKNOWN_HEX = "3074257BF7194E4000001A85"
STATION = Station("ST-7", "urn:epc:id:sgln:4000002.00007.0", "key:fpk_0000abcd (station)")
MODEL = {"name": "double", "version": "9", "sha256": "0" * 64, "release_entry": "3"}
BASE = {"spoilage": 0.01, "mold": 0.01, "swelling": 0.01, "package_damage": 0.02}


def _jpeg(seed: int) -> bytes:
    return jpeg_bytes((textured() // (seed + 1)).astype("uint8") + seed)


PHOTOS = {name: _jpeg(n) for n, name in enumerate(("damaged", "fresh", "fresh2", "unsure"))}
KIND_OF = {data: name for name, data in PHOTOS.items()}


class PhotoScores:
    """A test double for the model: each (real JPEG) photo is known to show what it shows.
    It remembers the family each photo was judged as (what routes a packaging classifier)."""

    def __init__(self) -> None:
        self.asked: dict[str, str | None] = {}

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        self.asked[image] = family
        if data not in KIND_OF:
            raise NotAnImageError("not an image")
        scores = dict(BASE)
        if KIND_OF[data] == "damaged":
            scores["package_damage"] = 0.93
        if KIND_OF[data] == "unsure":
            scores["package_damage"] = 0.45
        found = tuple(Finding(k, v, (0.0, 0.0, 9.0, 9.0)) for k, v in scores.items() if v >= 0.5)
        return Inspection(
            image, "0" * 64, 64, 64, QualityReport(True), found, MODEL, 1, scores=scores
        )


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    s = build_services(Settings(data_dir=tmp_path / "var", anchor_backend="none"))
    create_station_tables(s.engine)
    register_party(ledger=s.ledger, party_id=DC, role="warehouse", name="DC")
    commissioning = ObjectEvent(
        event_time=NOW - timedelta(days=1),
        biz_step="receiving",
        epcs=(ITEM_A, ITEM_B),
        quantities=(Quantity(LOT, 2),),
        destinations=(SourceDestination(DC),),
    )
    doc = epcis_document([commissioning], creation_date=NOW)
    capture_events(ledger=s.ledger, events_in=parse_document(doc))
    yield s
    s.close()


def _run(
    services: Services, batch_id: str, items: list[ItemInput], model: PhotoScores | None = None
) -> Any:
    return grade_batch(
        ledger=services.ledger,
        store=services.evidence,
        inspector=model or PhotoScores(),
        station=STATION,
        batch_id=batch_id,
        items=items,
        policy=GradingPolicy(min_confidence=0.7),
        now=NOW,
    )


ITEMS = [
    ItemInput(ITEM_A, "package", (("a.jpg", PHOTOS["damaged"]),)),
    ItemInput(UNKNOWN_HEX, "produce", (("b.jpg", PHOTOS["fresh"]), ("b2.jpg", PHOTOS["fresh2"]))),
    ItemInput("urn:epc:id:sgtin:123.45.6", "package", (("c.jpg", PHOTOS["fresh"]),)),
    ItemInput(ITEM_A, "package", (("d.jpg", PHOTOS["fresh"]),)),
    ItemInput(ITEM_B, "package", (("e.jpg", b"junk"),)),
    ItemInput("urn:epc:id:sgtin:4000001.012345.1003", "package", (("f.jpg", PHOTOS["unsure"]),)),
]


def test_a_batch_is_graded_item_by_item_in_the_order_sent(services: Services) -> None:
    size = services.ledger.size()
    result = _run(services, "batch-1", ITEMS)
    items = result.items
    assert [i["position"] for i in items] == list(range(6))
    a, unknown, bad, dup, corrupt, unsure = items
    assert a["grade"]["condition"] == "damaged" and a["grade"]["disposition"] == "damaged"
    assert a["grade"]["action"] == "rework" and a["lot"] == LOT and a["ledger_index"] is not None
    assert unknown["uri"] == "urn:epc:id:sgtin:0614141.812345.6789"
    assert unknown["grade"]["condition"] == "fresh" and unknown["lot"] is None
    assert "knows no lot" in unknown["notes"][0] and unknown["ledger_index"] is not None
    assert bad["error"]["type"] == "invalid-epc" and bad["grade"] is None
    assert dup["error"]["type"] == "duplicate-epc"
    assert corrupt["error"] == {
        "type": "photo-rejected",
        "detail": "not an image",
        "photo_index": 0,
        "request_photo_index": 0,  # no request here: the item's own order
    }
    assert unsure["grade"]["manual"] and unsure["ledger_index"] is None
    assert result.counts == {"items": 6, "graded": 2, "manual": 1, "failed": 3}
    # One event per graded item, naming the station's key.
    assert services.ledger.size() == size + 2
    entry = services.ledger.entry(a["ledger_index"])
    assert entry.body["captured_by"] == STATION.actor
    event = entry.body["event"]
    assert event["readPoint"]["id"] == STATION.read_point and event["bizStep"] == "inspecting"
    assert len(event["fp:photos"]) == 1
    # The model release that graded it, as its findings name it.
    assert event["fp:model"] == {"name": "double", "version": "9", "release_entry": "3"}


def test_the_lot_trace_and_the_timeline_show_the_station_inspection(services: Services) -> None:
    _run(services, "batch-2", ITEMS[:1])
    trace = lot_trace(ledger=services.ledger, lot=LOT)
    assert [e["biz_step"] for e in trace["events"]] == ["receiving", "inspecting"]
    timeline = build_timeline(
        ledger=services.ledger,
        lot=LOT,
        delivered_at=NOW + timedelta(hours=1),
        customer=Party("c", "customer"),
    )
    # A returned item's grade is evidence about that item, not a record of a handover.
    assert timeline.observations == ()
    assert [o.defects for o in timeline.returns] == [frozenset({"package_damage"})]


def test_batch_ids_are_idempotent(services: Services) -> None:
    first = _run(services, "batch-3", ITEMS[:2])
    size = services.ledger.size()
    again = _run(services, "batch-3", ITEMS[:2])
    assert again.replay and again.items == first.items and services.ledger.size() == size
    with pytest.raises(BatchConflictError):
        _run(services, "batch-3", ITEMS[:1])


def test_a_queued_batch_hashes_to_what_was_sent_without_hashing_its_photos_again() -> None:
    photos = (
        ("a.jpg", jpeg_bytes(textured(64, 64, 1))),
        ("b.jpg", jpeg_bytes(textured(64, 64, 2))),
    )
    sent = [ItemInput("urn:epc:id:sgtin:4000001.012345.1", "package", photos, family="parcel")]
    stored = tuple(hashlib.sha256(data).hexdigest() for _, data in photos)
    queued = [replace(sent[0], stored=stored)]
    assert request_digest(queued) == request_digest(sent)
    # The stored hashes are what it hashes: other hashes, another digest.
    assert request_digest([replace(sent[0], stored=stored[::-1])]) != request_digest(sent)


def test_an_item_left_to_a_person_keeps_the_family_its_station_named(services: Services) -> None:
    named = ItemInput(ITEM_A, "package", (("a.jpg", PHOTOS["unsure"]),), family="pouch")
    unnamed = ItemInput(ITEM_B, "package", (("b.jpg", PHOTOS["unsure"]),))
    model = PhotoScores()
    result = _run(services, "batch-family", [named, unnamed], model)
    assert [i["family"] for i in result.items] == ["pouch", None]
    # Each photo was judged as the family its station named (none: nobody said).
    assert model.asked == {"a.jpg": "pouch", "b.jpg": None}
    assert all(i["grade"]["manual"] for i in result.items)
    waiting = {i.epc: i for i in open_items(services.engine)}
    assert waiting[ITEM_A].family == "pouch" and waiting[ITEM_A].as_dict()["family"] == "pouch"
    assert waiting[ITEM_B].family is None
