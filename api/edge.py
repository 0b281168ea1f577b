"""The edge: who is asking, and how much they may send, decided before a body is read.

FastAPI reads a request's body before it runs the route's dependencies, so a check in a
dependency comes too late: a 140 MB upload with no key was spooled to disk, then refused
(issue 22). This pure ASGI middleware sits in front of the app and, from the request line
and headers alone:

1. finds the route's permission in ``ROUTE_PERMISSIONS`` (the table ``authorize`` uses);
2. for a route that needs a key: checks the key, its role and its rate (``admit``), and
   answers 401/403/429 problem+json without reading the body; the principal it found is
   left in the scope, where ``authorize`` takes it (one rate token a request); for a pack's
   public page (no key), takes a token of the client address's rate, or answers 429;
3. answers 413 when Content-Length exceeds the route's body cap (``api.limits``);
4. counts a body without Content-Length as it streams, and answers 413 past the cap.

A refusal with a body still unsent closes the connection, so the server does not drain
it either. Public routes (liveness, the ledger's public views, the workbench login, the
docs) and workbench pages (session cookie, checked by the page) pass on to the app; their
bodies get the small cap of non-upload routes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth.access import (
    ADDRESS_PREFIX,
    ADMITTED,
    PUBLIC,
    ROUTE_PERMISSIONS,
    AccessError,
    Permission,
    admit,
)
from api.auth.keys import AuthError
from api.limits import BodyLimits, CountingReceive, body_too_large, content_length, has_body
from api.problems import access_problem, unavailable_problem

__all__ = ["EdgeMiddleware", "RouteMatch", "match_route"]

_NO_KEY = (PUBLIC, Permission.WEB_SESSION, Permission.PUBLIC_PAGE)


def _admit_address(request: Request) -> None:
    """A public page's rate: one token of the client address's bucket."""
    client = request.client
    request.app.state.services.rate_limiter.take(
        ADDRESS_PREFIX + (client.host if client else "unknown")
    )


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A declared route a request path matches: its path as declared, and its permission."""

    path: str
    permission: Permission


def _compiled(
    table: Mapping[tuple[str, str], Permission],
) -> dict[str, list[tuple[re.Pattern[str], RouteMatch]]]:
    by_method: dict[str, list[tuple[re.Pattern[str], RouteMatch]]] = {}
    for (method, path), permission in table.items():
        regex, _, _ = compile_path(path)
        by_method.setdefault(method, []).append((regex, RouteMatch(path, permission)))
    return by_method


_ROUTES = _compiled(ROUTE_PERMISSIONS)


def match_route(method: str, path: str) -> RouteMatch | None:
    """The declared route for a request, or None (no such route: the app answers it).

    Where several declared paths match (``{lot:path}`` is greedy), a route needing a key
    wins over one that does not, so an ambiguity never skips the key check at the edge.
    """
    method = "GET" if method == "HEAD" else method
    found = [m for regex, m in _ROUTES.get(method, ()) if regex.match(path)]
    if not found:
        return None
    needing = [m for m in found if m.permission not in _NO_KEY]
    return (needing or found)[0]


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class EdgeMiddleware:
    """Key, role, rate and body size checked from the headers, before the app reads a byte."""

    def __init__(self, app: ASGIApp, *, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        route = match_route(scope["method"], path)
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        cap = self.limits.for_route(method, route.path if route else None)
        closing = has_body(scope)

        if route is not None and route.permission is Permission.PUBLIC_PAGE:
            try:
                # Shared buckets live in Redis: off the event loop, as a key's check is.
                await anyio.to_thread.run_sync(_admit_address, Request(scope))
            except AccessError as exc:
                await self._refuse(scope, send, access_problem(exc, path), route, closing)
                return
        elif route is not None and route.permission not in _NO_KEY:
            try:
                # The key store is a database: off the event loop, as a sync dependency is.
                scope[ADMITTED] = await anyio.to_thread.run_sync(
                    admit, Request(scope), route.permission
                )
            except (AccessError, AuthError) as exc:
                await self._refuse(scope, send, access_problem(exc, path), route, closing)
                return
            except Exception as exc:
                # The key store is down: the 503 a route would answer, not a bare 500.
                if (down := unavailable_problem(exc, path)) is None:
                    raise
                await self._refuse(scope, send, down, route, closing)
                return

        length = content_length(scope)
        if length is not None and length > cap:
            await self._refuse(scope, send, body_too_large(cap, path), route, True)
            return
        await self._run_capped(scope, receive, send, cap, path)

    async def _run_capped(
        self, scope: Scope, receive: Receive, send: Send, cap: int, path: str
    ) -> None:
        counted = CountingReceive(receive, cap)
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if counted.exceeded:
                # The app's own answer to the overflow (an error page): ours replaces it.
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not counted.exceeded:
                raise
        if counted.exceeded and not started:
            await body_too_large(cap, path)(scope, receive, send)

    @staticmethod
    async def _refuse(
        scope: Scope,
        send: Send,
        response: Response,
        route: RouteMatch | None,
        closing: bool,
    ) -> None:
        if closing:
            # The body was never read: close rather than have the server drain it.
            response.headers["Connection"] = "close"
        if route is not None:
            scope["route"] = route  # metrics count the refusal under the route's path

        async def nothing() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)
