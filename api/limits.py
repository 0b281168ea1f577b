"""Request body caps by kind of route: from Content-Length before a body is read, and counted
while a body without one (chunked) streams in.

Three kinds: photo uploads (every photo at its limit plus the form), EPCIS documents (their
own byte limit: parsing costs memory and time per byte), and everything else, JSON and
form posts, which are small. ``api.edge`` applies them, once it knows the route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope

from api.problems import problem_response

__all__ = [
    "BODY_KINDS",
    "BodyLimits",
    "BodyTooLargeError",
    "CountingReceive",
    "body_too_large",
    "content_length",
    "has_body",
]

BodyKind = Literal["uploads", "epcis", "other"]

BODY_KINDS: Mapping[tuple[str, str], BodyKind] = MappingProxyType(
    {
        ("POST", "/v1/inspect"): "uploads",
        ("POST", "/v1/claims"): "uploads",
        ("POST", "/v1/stations/batches"): "uploads",
        ("POST", "/v1/events"): "epcis",
    }
)
"""(method, route path as declared) → the kind of body it takes; any other route: ``other``."""


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Bytes a request body may have, by kind of route."""

    uploads: int
    epcis: int
    other: int

    def for_route(self, method: str, path: str | None) -> int:
        """The cap for a route (``path`` as declared; None: no route matched)."""
        kind = BODY_KINDS.get((method, path), "other") if path is not None else "other"
        return {"uploads": self.uploads, "epcis": self.epcis, "other": self.other}[kind]


class BodyTooLargeError(HTTPException):
    """A body that streamed past its cap; raised into the app from ``receive``.

    An ``HTTPException``, so that FastAPI's body reader passes it on instead of calling the
    body malformed (400); the edge answers the 413 itself.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(413, "Request too large")


def content_length(scope: Scope) -> int | None:
    """The declared body length, or None (absent or not a number: the server refuses those)."""
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a length above zero, or chunked)."""
    headers = Headers(scope=scope)
    length = content_length(scope)
    return bool(length) or "chunked" in headers.get("transfer-encoding", "").lower()


class CountingReceive:
    """``receive`` that counts body bytes and raises ``BodyTooLargeError`` past the cap."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self.seen = 0
        self.exceeded = False

    async def __call__(self) -> Message:
        if self.exceeded:
            raise BodyTooLargeError(self.limit)
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                self.exceeded = True
                raise BodyTooLargeError(self.limit)
        return message


def body_too_large(limit: int, instance: str) -> JSONResponse:
    """The 413 problem; the connection closes, since the rest of the body is not read."""
    return problem_response(
        413,
        "request-too-large",
        "Request too large",
        f"the request body exceeds {limit} bytes",
        instance,
        headers={"Connection": "close"},
        limit=limit,
    )
