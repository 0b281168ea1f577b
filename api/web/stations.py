"""The workbench's station page: items a station's model was unsure of, their photos, and a
person's grade (``stations.review.grade_by_person``, as ``POST
/v1/review/stations/{batch_id}/{position}/grade`` does)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse
from PIL import Image

from api.auth.access import ROLE_PERMISSIONS, Permission
from api.routes.station_review import BatchId, PhotoNumber, Position, StationId
from api.web.routes import page
from api.web.session import WebUser, current_session, form_session
from api.web.views import Refusal, refusal
from stations.errors import StationsError
from stations.review import grade_by_person, manual_item, open_items
from storage.errors import EvidenceNotFoundError

__all__ = ["router"]

router = APIRouter(prefix="/review/stations", include_in_schema=False)
User = Annotated[WebUser, Depends(current_session)]
FormUser = Annotated[WebUser, Depends(form_session)]
_BROWSER_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def _may_grade(user: WebUser) -> bool:
    return Permission.STATIONS_REVIEW in ROLE_PERMISSIONS[user.principal.role]


def _page(
    request: Request, user: WebUser, *, problem: Refusal | None = None, notice: str | None = None
) -> Response:
    items = open_items(request.app.state.services.engine, limit=100)
    context = {
        "user": user,
        "items": items,
        "may_grade": _may_grade(user),
        "problem": problem,
        "notice": notice,
    }
    return page(request, "stations.html", context, problem.status if problem else 200)


@router.get("")
def stations(request: Request, user: User, graded: str | None = None) -> Response:
    """Station items waiting for a person's grade, oldest first, with their photos."""
    notice = f"Graded: {graded}. The inspection event is on the ledger." if graded else None
    return _page(request, user, notice=notice)


@router.get("/{batch_id:path}/{position:int}/photos/{n}")
def photo(
    request: Request,
    user: User,
    batch_id: BatchId,
    position: Position,
    n: PhotoNumber,
    station_id: StationId = None,
) -> Response:
    """An item's photo, the served copy (GPS and device serials removed)."""
    services = request.app.state.services
    try:
        data = services.evidence.get_served(
            manual_item(services.engine, batch_id, position, station_id).photos[n]
        )
    except (StationsError, IndexError, EvidenceNotFoundError):
        return Response("no such photo", status_code=404, media_type="text/plain")
    with Image.open(io.BytesIO(data)) as img:
        media = _BROWSER_FORMATS.get(img.format or "")
        if media is None:
            out = io.BytesIO()
            img.convert("RGB").save(out, format="JPEG", quality=90)
            data, media = out.getvalue(), "image/jpeg"
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=media, headers=headers)


@router.post("/{batch_id:path}/{position:int}/grade")
def grade(
    request: Request,
    user: FormUser,
    batch_id: BatchId,
    position: Position,
    condition: Annotated[str, Form()] = "",
    station_id: StationId = None,
) -> Response:
    """Grade one item; the page again, with the refusal if the grade was not accepted."""
    if not _may_grade(user):
        detail = f"A {user.principal.role} key may not grade station items."
        return page(
            request, "error.html", {"user": user, "title": "Not allowed", "detail": detail}, 403
        )
    services = request.app.state.services
    try:
        grade_by_person(
            ledger=services.ledger,
            batch_id=batch_id,
            position=position,
            condition=condition,
            actor=user.principal.actor,
            now=datetime.now(UTC),
            station_id=station_id,
        )
    except StationsError as exc:
        if (problem := refusal(exc)) is None:
            raise
        return _page(request, user, problem=problem)
    services.after_write()
    return RedirectResponse(f"/review/stations?graded={quote(condition)}", status_code=303)
