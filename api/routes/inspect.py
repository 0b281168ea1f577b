"""``POST /v1/inspect``: judge photos without filing anything."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.deps import get_predictor, get_settings
from api.openapi import photo_encoding, problem_responses
from api.problems import rejected_photos_problem
from api.schemas import InspectionOut
from api.settings import Settings
from api.uploads import read_photos
from claims.models import Family
from vision.errors import ImageRejected
from vision.predictor import Predictor

router = APIRouter(prefix="/v1", tags=["inspect"])


def inspect_all(
    predictor: Predictor, photos: list[tuple[str, bytes]], family: str | None = None
) -> list[dict[str, Any]]:
    """Judge every photo (of ``family``, when the caller named one), or reject the whole
    request naming every bad photo."""
    results = []
    rejected = []
    for i, (name, data) in enumerate(photos):
        try:
            results.append(predictor.inspect(data, image=name, family=family).as_dict())
        except ImageRejected as exc:
            rejected.append((i, name, exc))
    if rejected:
        raise rejected_photos_problem(rejected)
    return results


@router.post(
    "/inspect",
    response_model=list[InspectionOut],
    response_model_exclude_none=True,
    responses=problem_responses(413, 422, 503),
    openapi_extra=photo_encoding(),
)
async def inspect(
    request: Request,
    photos: Annotated[list[UploadFile], File(description="One or more photos (JPEG, PNG, ...)")],
    settings: Annotated[Settings, Depends(get_settings)],
    predictor: Annotated[Predictor, Depends(get_predictor)],
    family: Annotated[
        Family | None,
        Query(
            description="What the photos show, when the caller knows: a release's packaging "
            "classifier judges only the families it names (its manifest's `families`)."
        ),
    ] = None,
) -> list[dict[str, Any]]:
    """Run the quality gate and the detector on each photo; nothing is stored."""
    data = await read_photos(photos, settings)
    results = await run_in_threadpool(inspect_all, predictor, data, family)
    request.app.state.metrics.observe_photos(results)
    return results
