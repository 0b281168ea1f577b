"""The workbench's operations dashboard: the window's figures and the lots to watch.

One domain call (``operations.dashboard.operations_dashboard``); the page embeds its JSON
form for the charts (Chart.js, vendored under static/vendor: nothing loads from elsewhere)
and renders the tables and the early-warning list itself. ``/review/operations.json`` is the
same JSON behind the same session. Adjudicators and auditors (the workbench's roles) see it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from api.web.routes import page, templates
from api.web.session import WebUser, current_session
from operations.dashboard import operations_dashboard

__all__ = ["duration", "router"]

router = APIRouter(prefix="/review", include_in_schema=False)
User = Annotated[WebUser, Depends(current_session)]
Days = Annotated[int, Query(ge=1, le=92, description="days back, today included")]
WINDOWS = (1, 7, 30)


def duration(seconds: float | None) -> str:
    """Seconds as a person reads them: 40 s, 20 min, 3.5 h, 2.1 d; an em dash for none."""
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


templates.env.filters["duration"] = duration


def _dashboard(request: Request, days: int) -> dict[str, Any]:
    services = request.app.state.services
    board = operations_dashboard(
        engine=services.engine, ledger=services.ledger, now=datetime.now(UTC), days=days
    )
    return board.as_dict()


@router.get("/operations")
def operations(request: Request, user: User, days: Days = 7) -> Response:
    """Claims, SLAs, automation and compensation over the last days; lots to watch."""
    data = _dashboard(request, days)
    context = {"user": user, "d": data, "days": days, "windows": WINDOWS}
    return page(request, "operations.html", context)


@router.get("/operations.json")
def operations_json(request: Request, user: User, days: Days = 7) -> Response:
    """The dashboard's figures as JSON, behind the workbench session."""
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return JSONResponse(_dashboard(request, days), headers=headers)
