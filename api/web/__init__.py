"""The adjudicator workbench: server-rendered pages under /review, with a session cookie;
and a pack's public page (``api.web.pack``), which shares its static files and proof script.

``install_workbench`` mounts it on the app: the session store, the routes (each listed in
``api.auth.access.ROUTE_PERMISSIONS``; hidden from the OpenAPI document, which describes the
API), the static files, and the answers to a missing session (a redirect to the login page)
and a forged form (a 403 page). Static files carry no data and need no session.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.web.operations import router as operations_router
from api.web.pack import router as pack_router
from api.web.routes import page, router
from api.web.session import COOKIE, CsrfError, LoginRequiredError, SessionStore
from api.web.stations import router as stations_router

__all__ = ["STATIC_DIR", "install_workbench"]

STATIC_DIR = Path(__file__).parent / "static"
"""The workbench's CSS and scripts, served at /review/static."""


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequiredError)
    target = "/review/login"
    params = []
    if exc.code:
        params.append(f"reason={exc.code}")
    if request.method == "GET" and request.url.path != "/review":
        params.append(f"next={request.url.path}")
    response = RedirectResponse(target + ("?" + "&".join(params) if params else ""), 303)
    response.delete_cookie(COOKIE, path="/review")
    return response


async def _csrf(request: Request, exc: Exception) -> Response:
    detail = str(exc)
    return page(request, "error.html", {"title": "Form refused", "detail": detail}, 403)


def install_workbench(app: FastAPI) -> None:
    """Mount the workbench on an app whose services are built."""
    # The session table is there: start-up migrated the database (api.database).
    app.state.web_sessions = SessionStore(app.state.services.engine)
    app.include_router(router)
    app.include_router(stations_router)
    app.include_router(operations_router)
    # A pack's public page (GS1 Digital Link paths, no key; api/web/pack.py).
    app.include_router(pack_router)
    app.mount("/review/static", StaticFiles(directory=STATIC_DIR), name="review-static")
    app.add_exception_handler(LoginRequiredError, _login_required)
    app.add_exception_handler(CsrfError, _csrf)
