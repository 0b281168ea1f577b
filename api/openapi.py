"""The OpenAPI document tells the whole truth: every status an operation answers, and its body.

Routes declare the problems they can answer with ``problem_responses(...)``; every error
answer is ``application/problem+json`` with the one ``Problem`` schema. What any route can
answer (a 500, and a 413 from the body limit on routes that take a body) is added here once.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from api.auth.access import Permission, openapi_permissions, roles_with
from api.problems import MEDIA_TYPE
from claims.models import ClaimInput

__all__ = [
    "PHOTO_MEDIA_TYPES",
    "ProblemOut",
    "install_openapi",
    "photo_encoding",
    "problem_responses",
]

_REF_TEMPLATE = "#/components/schemas/{model}"
_REF = _REF_TEMPLATE.format(model="Problem")

_DESCRIPTIONS = {
    400: "Bad request: a header is unusable or the body cannot be parsed.",
    401: "Credentials missing or not valid.",
    403: "Not allowed for these credentials.",
    404: "No such resource.",
    409: "Conflicts with an earlier request (problem+json says which).",
    413: "Too large: the request body, a photo, its pixels, or too many items.",
    415: "Unsupported media type.",
    422: "Not valid: every problem is listed under `errors`, each naming its field.",
    429: "Too many requests at once; retry after `Retry-After` seconds.",
    500: "Internal error; logged, never with a traceback.",
    502: "An upstream service (the anchoring chain) failed.",
    503: "A dependency is unavailable or busy; retry after `Retry-After` seconds when given.",
}


class ProblemOut(BaseModel):
    """An RFC 9457 problem: ``type`` identifies the kind, ``detail`` says what to change."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(examples=["https://freshproof.dev/problems/invalid-claim"])
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    instance: str | None = None
    field: str | None = Field(None, description="The request field at fault, when one is.")
    errors: list[dict[str, Any]] | None = Field(
        None, description="Every problem found, when there are several (field and reason)."
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry for a route that can answer these problem statuses."""
    return {s: _problem(s) for s in statuses}


PHOTO_MEDIA_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heic",
    "image/bmp",
    "image/tiff",
)


def photo_encoding(**parts: str) -> dict[str, Any]:
    """``openapi_extra`` for a multipart body: photos are images, ``parts`` name the others'."""
    encoding = {"photos": {"contentType": ", ".join(PHOTO_MEDIA_TYPES)}}
    encoding |= {name: {"contentType": media} for name, media in parts.items()}
    return {"requestBody": {"content": {"multipart/form-data": {"encoding": encoding}}}}


def _problem(status: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": _DESCRIPTIONS.get(status, "Problem."),
        "content": {MEDIA_TYPE: {"schema": {"$ref": _REF}}},
    }
    if status in (429, 503):
        out["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    return out


def _secure(op: dict[str, Any], permission: Permission | None) -> None:
    """Who may call the operation: its security, its refusals, the roles that hold it."""
    if permission is None:  # undeclared: refused at run time, and the access test fails
        return
    op["x-permission"] = str(permission)
    if permission is Permission.PUBLIC:
        op["security"] = []
        return
    op["security"] = [{"apiKey": []}]
    roles = ", ".join(roles_with(permission))
    op["description"] = (op.get("description", "") + f"\n\nRoles: {roles}.").strip()
    responses = op.setdefault("responses", {})
    for status in (401, 403, 429):
        responses.setdefault(str(status), _problem(status))


def install_openapi(app: FastAPI) -> None:
    """Generate the document once, with the shared problem answers and schemas added."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = ProblemOut.model_json_schema(ref_template=_REF_TEMPLATE)
        # The claim travels as a JSON string in a multipart part; its schema is referenced
        # from that part's contentSchema.
        claim = ClaimInput.model_json_schema(ref_template=_REF_TEMPLATE, mode="validation")
        schemas.update(claim.pop("$defs", {}))
        schemas["Claim"] = claim
        doc["components"]["securitySchemes"] = {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key (fpk_...) from `freshproof keys create` or "
                "POST /v1/keys, sent as `Authorization: Bearer <key>`.",
            }
        }
        permissions = openapi_permissions()
        for path, operations in doc.get("paths", {}).items():
            for method, op in operations.items():
                _secure(op, permissions.get((method, path)))
                responses = op.setdefault("responses", {})
                # FastAPI's own validation schema (added for routes with parameters that
                # declare no 422) is not what this API answers.
                declared = responses.get("422")
                if declared is not None and MEDIA_TYPE not in declared.get("content", {}):
                    responses["422"] = _problem(422)
                responses.setdefault("500", _problem(500))
                if "requestBody" in op:
                    # A body that cannot be parsed (400) or is over the size limit (413).
                    responses.setdefault("400", _problem(400))
                    responses.setdefault("413", _problem(413))
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
