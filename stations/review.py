"""Station items left to people: the queue of items the model was not sure of, and a
person's grade, which puts the item's inspection event on the ledger.

An item graded below the policy's confidence gets no event when its batch is recorded
(``stations.batches``); it waits here, oldest first, with the model's grade and why it was
not sure. An adjudicator looks at its photos and grades it; the grade is appended as the
same ``inspecting`` event a confident model would have written (the station's read point,
the CBV disposition, the photos' hashes), naming the person instead of a confidence. The
event and the queue row change in one transaction, so an item is graded exactly once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, select, update

from ledger.log import Ledger
from stations.batches import Station, epcis_document, inspection_event, station_reviews
from stations.errors import (
    AmbiguousStationItemError,
    InvalidGradeError,
    StationItemGradedError,
    UnknownStationItemError,
)
from stations.grading import CLEAN, CONDITIONS, DISPOSITIONS, Grade, Kind
from supplychain.capture import capture_in
from supplychain.epcis import parse_document

__all__ = ["ManualItem", "conditions_for", "grade_by_person", "manual_item", "open_items"]


@dataclass(frozen=True)
class ManualItem:
    """One station item waiting for (or graded by) a person."""

    batch_id: str
    position: int
    station_id: str
    read_point: str
    epc: str
    uri: str
    lot: str | None
    kind: Kind
    photos: tuple[str, ...]
    model_grade: dict[str, Any]
    status: str  # open, graded
    created_at: datetime
    graded_by: str | None = None
    condition: str | None = None
    ledger_index: int | None = None
    family: str | None = None  # the family the station named, if it named one

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "batch_id": self.batch_id,
            "position": self.position,
            "station_id": self.station_id,
            "epc": self.epc,
            "uri": self.uri,
            "lot": self.lot,
            "kind": self.kind,
            "family": self.family,
            "photos": list(self.photos),
            "model_grade": self.model_grade,
            "conditions": list(conditions_for(self.kind)),
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "graded_by": self.graded_by,
            "condition": self.condition,
            "ledger_index": self.ledger_index,
        }


def conditions_for(kind: Kind) -> tuple[str, ...]:
    """The conditions a person may give an item of this kind, clean first."""
    return (CLEAN[kind], *(c for _, c in reversed(CONDITIONS[kind])))


def _item(row: Any) -> ManualItem:
    return ManualItem(
        row.batch_id,
        row.position,
        row.station_id,
        row.read_point,
        row.epc,
        row.uri,
        row.lot,
        cast(Kind, row.kind),
        tuple(json.loads(row.photos)),
        json.loads(row.model_grade),
        row.status,
        row.created_at,
        row.graded_by,
        row.condition,
        row.ledger_index,
        row.family,
    )


def open_items(engine: Engine, *, limit: int = 200) -> list[ManualItem]:
    """Items waiting for a person, oldest first."""
    query = (
        select(station_reviews)
        .where(station_reviews.c.status == "open")
        .order_by(
            station_reviews.c.created_at, station_reviews.c.batch_id, station_reviews.c.position
        )
        .limit(limit)
    )
    with engine.connect() as conn:
        return [_item(r) for r in conn.execute(query)]


def manual_item(
    engine: Engine, batch_id: str, position: int, station_id: str | None = None
) -> ManualItem:
    """One item left to people, open or graded; ``UnknownStationItemError`` otherwise.

    A batch id is its station's own: when several stations used it, ``station_id`` says
    whose (``AmbiguousStationItemError`` names them otherwise).
    """
    with engine.connect() as conn:
        return _item(_find(conn, batch_id, position, station_id))


def _find(conn: Connection, batch_id: str, position: int, station_id: str | None) -> Any:
    query = select(station_reviews).where(
        station_reviews.c.batch_id == batch_id, station_reviews.c.position == position
    )
    if station_id is not None:
        query = query.where(station_reviews.c.station_id == station_id)
    rows = conn.execute(query.order_by(station_reviews.c.station_id)).all()
    if not rows:
        raise UnknownStationItemError(batch_id, position)
    if len(rows) > 1:
        raise AmbiguousStationItemError(batch_id, position, tuple(r.station_id for r in rows))
    return rows[0]


def grade_by_person(
    *,
    ledger: Ledger,
    batch_id: str,
    position: int,
    condition: str,
    actor: str,
    now: datetime,
    station_id: str | None = None,
) -> ManualItem:
    """Grade a waiting item: its inspection event on the ledger, the queue row closed.

    ``actor`` is the person's key as the ledger names it. A condition outside the item's
    kind is an ``InvalidGradeError``; an item graded before, ``StationItemGradedError``.
    """
    with ledger.writer() as w:
        row = _find(w.conn, batch_id, position, station_id)
        if row.status != "open":
            raise StationItemGradedError(batch_id, position, row.graded_by)
        item = _item(row)
        if condition not in conditions_for(item.kind):
            allowed = ", ".join(conditions_for(item.kind))
            raise InvalidGradeError("condition", f"a {item.kind} is one of {allowed}")
        disposition, action = DISPOSITIONS[condition]
        grade = Grade(item.kind, condition, 1.0, disposition, action, False, "graded by a person")
        station = Station(item.station_id, item.read_point, actor)
        event = inspection_event(
            uri=item.uri,
            lot=item.lot,
            photos=item.photos,
            grade=grade,
            station=station,
            now=now,
            graded_by=actor,
        )
        captured = capture_in(w, parse_document(epcis_document([event], now)), actor=actor)
        index = captured.appended[0][1]
        changed = w.conn.execute(
            update(station_reviews)
            .where(
                station_reviews.c.station_id == item.station_id,
                station_reviews.c.batch_id == batch_id,
                station_reviews.c.position == position,
                station_reviews.c.status == "open",
            )
            .values(
                status="graded",
                graded_at=now,
                graded_by=actor,
                condition=condition,
                ledger_index=index,
            )
        )
        if changed.rowcount != 1:  # another person's grade won the race: this one rolls back
            raise StationItemGradedError(batch_id, position, "another person")
    return manual_item(ledger.engine, batch_id, position, item.station_id)
