"""Warehouse stations: batches of returned items (EPC + photos) graded onto the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from api.auth.access import ForbiddenError, principal
from api.auth.keys import Principal
from api.deps import IDEMPOTENCY_KEY_PATTERN, get_predictor, get_services, get_settings
from api.openapi import photo_encoding, problem_responses
from api.problems import Problem, field_errors
from api.services import Services
from api.settings import Settings
from api.uploads import read_photos
from stations.batches import ItemInput, Station, grade_batch, request_digest
from stations.grading import GradingPolicy
from stations.job_state import job_state, stations_with_batch
from stations.jobs import live_jobs, queued_conflict, record_job, store_job
from stations.waiting import MAX_WAIT_SECONDS, wait_for_job
from supplychain import strict_json
from vision.predictor import Predictor

router = APIRouter(prefix="/v1/stations", tags=["stations"])
Svc = Annotated[Services, Depends(get_services)]
Caller = Annotated[Principal, Depends(principal)]
MAX_PHOTOS_PER_ITEM = 4


class ItemIn(BaseModel):
    """One item: its EPC as read, its kind, and which uploaded photos show it (0-based)."""

    model_config = ConfigDict(extra="forbid")

    epc: str = Field(min_length=1, max_length=300, examples=["3074257BF7194E4000001A85"])
    kind: Literal["produce", "package"]
    # Strict: JSON's ``true`` is not photo 1.
    photos: list[StrictInt] = Field(min_length=1, max_length=MAX_PHOTOS_PER_ITEM)
    family: Literal["produce", "parcel", "can", "pouch"] | None = Field(
        None,
        description="What the item is, when the station knows: the model decides alone only "
        "at or above this family's operating point. Left out: every family the kind may be "
        "(the strictest).",
    )

    @model_validator(mode="after")
    def _family_fits_kind(self) -> ItemIn:
        if self.family is not None and (self.family == "produce") != (self.kind == "produce"):
            raise ValueError(f"family {self.family!r} is not a kind of {self.kind!r}")
        return self


class BatchIn(BaseModel):
    """A station's batch: an id it chose (retries with it are idempotent) and its items."""

    model_config = ConfigDict(extra="forbid")

    # The length first, so a long id is told its length, not shown the pattern.
    batch_id: str = Field(min_length=1, max_length=200, pattern=IDEMPOTENCY_KEY_PATTERN)
    items: list[ItemIn] = Field(min_length=1)


def _batch(text: str, settings: Settings, photos: int) -> BatchIn:
    """The ``batch`` form part, read by the strict JSON reader first (as the claim part)."""
    try:
        strict_json.loads(text)
        batch = BatchIn.model_validate_json(text)
    except strict_json.InvalidJSONError as exc:
        errors = [{"field": strict_json.format_path(exc.path, "batch"), "reason": exc.reason}]
    except ValidationError as exc:
        errors = field_errors(exc, root="batch")
    else:
        errors = []
    if errors:
        raise Problem(
            422,
            "invalid-batch",
            "Invalid batch",
            "; ".join(f"{e['field']}: {e['reason']}" for e in errors),
            errors=errors,
        )
    if len(batch.items) > settings.station_max_items:
        raise Problem(
            413,
            "batch-too-large",
            "Batch too large",
            f"{len(batch.items)} items; at most {settings.station_max_items} per batch",
            limit=settings.station_max_items,
        )
    bad = [(n, p) for n, item in enumerate(batch.items) for p in item.photos if not 0 <= p < photos]
    if bad:
        n, p = bad[0]
        raise Problem(
            422, "invalid-batch", "Invalid batch", f"item {n} names photo {p}; {photos} were sent"
        )
    return batch


def _station(caller: Principal) -> Station:
    if caller.station_id is None or caller.read_point is None:
        raise ForbiddenError("only a station's key grades batches")
    return Station(caller.station_id, caller.read_point, caller.actor)


@router.post(
    "/batches",
    responses=problem_responses(400, 409, 413, 422, 429)
    | {
        202: {
            "description": "Queued: poll the job's URL (the body's `url`, and `Location`).",
            "headers": {
                "Location": {"description": "The job's URL.", "schema": {"type": "string"}}
            },
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    openapi_extra=photo_encoding(batch="application/json"),
)
async def grade(
    request: Request,
    response: Response,
    photos: Annotated[
        list[UploadFile], File(description="The items' photos (JPEG, PNG, WebP, HEIC, ...)")
    ],
    batch: Annotated[
        str, Form(description="The batch as JSON: batch_id and items (epc, kind, photos).")
    ],
    services: Svc,
    settings: Annotated[Settings, Depends(get_settings)],
    predictor: Annotated[Predictor, Depends(get_predictor)],
    caller: Caller,
) -> dict[str, Any]:
    """Grade a batch: per item the condition, the CBV disposition and one ledger event.

    Up to ``station_sync_items`` items are graded now (200); larger batches are queued
    (202 with the job's URL), and a full queue answers 429 with ``Retry-After``. A batch id
    is the station's own: sent again with the same content it answers the first batch's
    state, with other content 409 (queued or not); another station's ids do not meet it.
    """
    station = _station(caller)
    parsed = _batch(batch, settings, len(photos))
    data = await read_photos(
        photos, settings, max_photos=settings.station_max_items * MAX_PHOTOS_PER_ITEM
    )
    now = datetime.now(UTC)
    items = [
        ItemInput(i.epc, i.kind, tuple(data[p] for p in i.photos), tuple(i.photos), i.family)
        for i in parsed.items
    ]
    if len(parsed.items) <= settings.station_sync_items:
        queued_conflict(services.engine, station.station_id, parsed.batch_id, request_digest(items))
        result = await run_in_threadpool(
            lambda: grade_batch(
                ledger=services.ledger,
                store=services.evidence,
                inspector=predictor,
                station=station,
                batch_id=parsed.batch_id,
                items=items,
                policy=GradingPolicy(settings.grading_min_confidence),
                now=now,
                pool=services.grading_pool,
                label_reader=services.label_reader,
            )
        )
        services.after_write()
        return {
            "batch_id": result.batch_id,
            "status": "done",
            "replay": result.replay,
            "counts": result.counts,
            "items": list(result.items),
        }
    if live_jobs(services.engine, now) >= settings.station_max_queued:
        raise Problem(
            429,
            "queue-full",
            "Too many batches queued",
            "the grading queue is full; retry shortly",
            retry_after=30,
        )
    job = await run_in_threadpool(
        lambda: store_job(
            services.evidence, parsed.batch_id, station, items, pool=services.evidence_pool
        )
    )
    new = record_job(services.engine, job, now)
    if new:
        request.app.state.jobs.submit(job)
    response.status_code = 202
    # RFC 9110 §15.3.3: a 202 points at where its outcome will be; the body says it too.
    url = f"/v1/stations/jobs/{quote(job.batch_id, safe='/')}"
    response.headers["Location"] = url
    state = None if new else job_state(services.engine, station.station_id, job.batch_id)
    status = state["status"] if state else "pending"
    return {"batch_id": job.batch_id, "status": status, "url": url, "replay": not new}


@router.get("/jobs/{batch_id:path}", responses=problem_responses(404, 409))
async def job(
    batch_id: str,
    services: Svc,
    caller: Caller,
    station_id: Annotated[
        str | None,
        Query(max_length=200, description="Whose batch (staff; a station reads its own)."),
    ] = None,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            allow_inf_nan=False,  # "NaN" is not a number of seconds (it is not "over 30")
            description="Seconds to wait for a pending batch to finish before answering "
            "(long polling); 0 answers at once.",
        ),
    ] = 0.0,
) -> dict[str, Any]:
    """A queued batch: pending, done (with its items, in the order sent) or failed.

    With ``wait``, a pending batch is answered when it finishes or when the wait is over,
    whichever comes first, so a station need not ask again every few milliseconds.

    A station reads its own batches only: another's id answers 404, as if absent, so ids
    cannot be probed. Auditors and admins read any station's; when several stations used
    the id, ``station_id`` names which (409 lists them otherwise).
    """
    unknown = Problem(404, "unknown-batch", "Unknown batch", f"no batch {batch_id!r}")
    if caller.role == "station":
        if caller.station_id is None or station_id not in (None, caller.station_id):
            raise unknown
        station_id = caller.station_id
    elif station_id is None:
        found = await run_in_threadpool(stations_with_batch, services.engine, batch_id)
        if len(found) > 1:
            raise Problem(
                409,
                "ambiguous-batch",
                "Several stations used this batch id",
                f"stations {', '.join(found)} each sent a batch {batch_id!r}: name one "
                "with ?station_id=",
                stations=found,
            )
        station_id = found[0] if found else None
    if station_id and wait > 0:
        await wait_for_job(services.engine, station_id, batch_id, seconds=wait)
    state = (
        await run_in_threadpool(job_state, services.engine, station_id, batch_id)
        if station_id
        else None
    )
    if state is None:
        raise unknown
    return state
