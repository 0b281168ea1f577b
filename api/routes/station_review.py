"""Station items the model left to people: the queue, an item's photos, a person's grade."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from api.auth.access import principal
from api.auth.keys import Principal
from api.deps import get_services
from api.openapi import problem_responses
from api.problems import Problem
from api.services import Services
from stations.review import grade_by_person, manual_item, open_items
from storage.errors import EvidenceNotFoundError

router = APIRouter(prefix="/v1/review/stations", tags=["adjudication"])
Svc = Annotated[Services, Depends(get_services)]
Caller = Annotated[Principal, Depends(principal)]
BatchId = Annotated[str, Path(min_length=1, max_length=200, description="The station's batch id.")]
Position = Annotated[int, Path(ge=0, le=9999, description="The item's place in its batch.")]
PhotoNumber = Annotated[int, Path(ge=0, le=99, description="The photo's place in its item.")]
StationId = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        description="Whose batch: needed only when several stations used the batch id "
        "(409 names them).",
    ),
]


class PersonGrade(BaseModel):
    """A person's grade of a station item: its condition, in the item's kind's terms."""

    model_config = ConfigDict(extra="forbid")

    condition: str = Field(
        min_length=1,
        max_length=20,
        description="produce: fresh, spoiled or moldy; package: intact, damaged or swollen",
        examples=["damaged"],
    )


@router.get("", responses=problem_responses(422))
def queue(services: Svc, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    """Station items waiting for a person's grade, oldest first, with the model's grade."""
    return {"items": [i.as_dict() for i in open_items(services.engine, limit=limit)]}


@router.get(
    "/{batch_id:path}/{position:int}/photos/{n}",
    responses=problem_responses(404, 409)
    | {200: {"content": {"image/*": {}}, "description": "The photo's served copy."}},
)
def photo(
    batch_id: BatchId,
    position: Position,
    n: PhotoNumber,
    services: Svc,
    station_id: StationId = None,
) -> Response:
    """An item's photo: the served copy (GPS and device serials removed)."""
    found = manual_item(services.engine, batch_id, position, station_id)
    if not 0 <= n < len(found.photos):
        raise Problem(404, "unknown-photo", "Unknown photo", f"the item has {len(found.photos)}")
    try:
        data = services.evidence.get_served(found.photos[n])
    except EvidenceNotFoundError as exc:
        raise Problem(404, "unknown-photo", "Unknown photo", "not in the evidence store") from exc
    with Image.open(io.BytesIO(data)) as img:  # the header only: which format it is
        media = Image.MIME.get(img.format or "", "application/octet-stream")
    return Response(data, media_type=media, headers=_PHOTO_HEADERS)


_PHOTO_HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


@router.post("/{batch_id:path}/{position:int}/grade", responses=problem_responses(404, 409, 422))
async def grade(
    batch_id: BatchId,
    position: Position,
    body: PersonGrade,
    services: Svc,
    caller: Caller,
    station_id: StationId = None,
) -> dict[str, Any]:
    """Grade the item: its inspection event goes on the ledger, naming the grader."""
    graded = await run_in_threadpool(
        lambda: grade_by_person(
            ledger=services.ledger,
            batch_id=batch_id,
            position=position,
            condition=body.condition,
            actor=caller.actor,
            now=datetime.now(UTC),
            station_id=station_id,
        )
    )
    services.after_write()
    return graded.as_dict()


# Last: a batch id may hold slashes (``{batch_id:path}``), so this pattern would also match
# the photo and grade paths above if it came first.
@router.get("/{batch_id:path}/{position:int}", responses=problem_responses(404, 409))
def item(
    batch_id: BatchId, position: Position, services: Svc, station_id: StationId = None
) -> dict[str, Any]:
    """One item left to people, waiting or graded."""
    return manual_item(services.engine, batch_id, position, station_id).as_dict()
