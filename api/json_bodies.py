"""Every JSON body the API reads passes the one strict reader (``supplychain.strict_json``).

FastAPI decodes ``application/json`` bodies with Python's lenient ``json`` (duplicate keys:
the last wins; ``NaN`` accepted) before any route code runs, and offers no hook to replace
that reader for routers it merely includes. So an app-wide dependency reads the same bytes
again with the strict reader, after the key check and before the body is validated: a
body the strict reader refuses never reaches a model, and one it accepts decodes to the
same value under both readers (no duplicate key, no non-finite number is left to differ
on). Bodies here are small (keys, parties, decisions); EPCIS documents and multipart parts
are read by their routes, through the same reader, and are not read twice.

A refusal is a 422 naming the offending key by its path, e.g. ``body.role``: "duplicate
key 'role' in the object at $". Multipart JSON parts (the claim) call the reader directly.
"""

from __future__ import annotations

from email.message import Message

from fastapi import Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from supplychain.strict_json import InvalidJSONError, loads

__all__ = ["is_json_media", "strict_json_body"]


def is_json_media(content_type: str | None) -> bool:
    """``application/json`` or ``application/<anything>+json``, as FastAPI decides it."""
    if not content_type:
        return False
    message = Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


async def strict_json_body(request: Request) -> None:
    """An app-wide dependency: a 422 naming where a JSON body breaks the strict reader."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return  # no body FastAPI decodes: the route reads its own (EPCIS, multipart)
    if isinstance(route.body_field.field_info, params.Form):
        return
    if not is_json_media(request.headers.get("content-type")):
        return  # FastAPI decodes no JSON without the media type either (strict content type)
    body = await request.body()  # already read and kept by FastAPI: no second read
    if not body:
        return
    try:
        loads(body)
    except InvalidJSONError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    # A too-deep body's path is as long as it is deep: its first steps do.
                    "loc": ("body", *(exc.path[:8] if exc.fault == "depth" else exc.path)),
                    "msg": exc.reason,
                    "input": None,
                }
            ]
        ) from None
