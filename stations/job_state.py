"""What a station (or staff) reads of a queued batch: its status, and its items once graded
with any person's grades (``job_state``), and which stations used a batch id."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select

from stations.batches import station_batches, station_reviews
from stations.jobs import job_where, station_jobs
from storage.db import read_snapshot

__all__ = ["job_state", "stations_with_batch"]


def job_state(engine: Engine, station_id: str, batch_id: str) -> dict[str, Any] | None:
    """A station's job: its status, and the batch's items once done; None when the station
    has no batch of that id (another station's same id is not this one's); its job row, result
    and the persons' grades read as one committed state."""
    with read_snapshot(engine) as conn:
        row = conn.execute(select(station_jobs).where(job_where(station_id, batch_id))).first()
        done = conn.execute(
            select(station_batches.c.result).where(
                station_batches.c.station_id == station_id, station_batches.c.batch_id == batch_id
            )
        ).first()
        graded = conn.execute(
            select(station_reviews).where(
                station_reviews.c.station_id == station_id,
                station_reviews.c.batch_id == batch_id,
                station_reviews.c.status == "graded",
            )
        ).all()
    if row is None and done is None:
        return None
    items = json.loads(done.result) if done is not None else None
    return {
        "batch_id": batch_id,
        "station_id": station_id,
        "status": "done" if done is not None else row.status if row else "pending",
        "error": row.error if row else None,
        "items": _with_persons_grades(items, graded) if items is not None else None,
    }


def stations_with_batch(engine: Engine, batch_id: str) -> list[str]:
    """The stations that queued or graded a batch of this id (staff read any of them)."""
    with engine.connect() as conn:
        queued = conn.execute(
            select(station_jobs.c.station_id).where(station_jobs.c.batch_id == batch_id)
        ).scalars()
        graded = conn.execute(
            select(station_batches.c.station_id).where(station_batches.c.batch_id == batch_id)
        ).scalars()
        return sorted({*queued, *graded})


def _with_persons_grades(items: list[dict[str, Any]], graded: Sequence[Any]) -> list[Any]:
    """The batch's items as graded, with what a person decided for the items the model left
    to one: their inspection event's ``ledger_index`` and ``person_grade``."""
    by_position = {r.position: r for r in graded}
    out = []
    for item in items:
        r = by_position.get(item.get("position"))
        if r is not None:
            person = {
                "condition": r.condition,
                "graded_by": r.graded_by,
                "graded_at": r.graded_at.isoformat() if r.graded_at else None,
            }
            item = item | {"ledger_index": r.ledger_index, "person_grade": person}
        out.append(item)
    return out
