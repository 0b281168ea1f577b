"""API keys: an admin creates, lists and revokes them (``freshproof keys`` does the same).

A key that may decide or approve claims (adjudicator) or manage keys (admin) needs two
admins: the first one's POST answers 202 with a pending request, a different admin
approves it (``POST /v1/key-requests/{id}/approval``) and receives the key, once. The
last active admin key is never revoked. The server's shell (``freshproof keys create``)
issues any key at once: it is the root of trust that makes the first admin.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from api.auth.access import ForbiddenError, principal
from api.auth.keys import ROLES, Principal, needs_second_admin
from api.deps import get_services
from api.openapi import problem_responses
from api.services import Services
from claims.models import Description, Identifier

router = APIRouter(prefix="/v1", tags=["access"])
Svc = Annotated[Services, Depends(get_services)]
Caller = Annotated[Principal, Depends(principal)]


class KeyIn(BaseModel):
    """A key to create: its role, a name people recognise, and what it is bound to."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    role: StrictStr = Field(json_schema_extra={"enum": list(ROLES)})
    name: StrictStr = Field(min_length=1, max_length=100, examples=["Shop app, production"])
    customer_id: Identifier | None = Field(
        None, description="customer_app: the customer it acts for"
    )
    parties: list[StrictStr] = Field(
        default_factory=list, description="supply_chain: the party ids it speaks for"
    )
    station_id: StrictStr | None = Field(None, description="station: its id")
    read_point: StrictStr | None = Field(None, description="station: its SGLN read point")
    expires_in_days: int | None = Field(None, ge=1, le=3650)
    approval_limit: StrictStr | None = Field(
        None,
        description="Refused here: approval limits (four eyes) are granted only from the "
        "server's shell, `freshproof keys create --approval-limit`, so no API key can mint "
        "its own approver.",
    )


class RequestAnswer(BaseModel):
    """A second admin's answer to a key request."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    answer: Literal["approve", "reject"] = Field(
        description="approve: issue the key (its secret is in this answer, once); reject: "
        "issue nothing. Never the admin who made the request."
    )
    note: Description = ""


_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "A key that may decide claims or manage keys: a request waiting for a "
        "second admin (POST /v1/key-requests/{request_id}/approval).",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post("/keys", status_code=201, responses=problem_responses(403, 422) | _ACCEPTED)
def create_key(spec: KeyIn, services: Svc, caller: Caller, response: Response) -> dict[str, Any]:
    """Create a key; the answer is the only time the key itself is shown.

    An adjudicator or admin key is not issued on one admin's word: the answer is 202 with
    a pending request (``request_id``, ``state``) that a different admin approves.
    """
    if spec.approval_limit is not None:
        raise ForbiddenError(
            "approval limits are granted from the server's shell only "
            "(freshproof keys create --role adjudicator --approval-limit AMOUNT)"
        )
    fields: dict[str, Any] = {
        "role": spec.role,
        "name": spec.name,
        "customer_id": spec.customer_id,
        "parties": tuple(spec.parties),
        "station_id": spec.station_id,
        "read_point": spec.read_point,
        "expires_in": timedelta(days=spec.expires_in_days) if spec.expires_in_days else None,
    }
    if needs_second_admin(spec.role):
        pending = services.keys.request(requested_by=caller.actor, **fields)
        services.after_write()
        response.status_code = 202
        response.headers["Location"] = f"/v1/key-requests/{pending.request_id}"
        return pending.as_dict(services.keys.now())
    token, record = services.keys.create(created_by=caller.actor, **fields)
    services.after_write()
    return {"key": token, **record.as_dict()}


@router.get("/key-requests")
def list_requests(services: Svc) -> dict[str, Any]:
    """Every key request (pending, approved, rejected, expired), newest first."""
    now = services.keys.now()
    return {"items": [r.as_dict(now) for r in services.keys.requests()]}


@router.get("/key-requests/{request_id}", responses=problem_responses(404))
def get_request(request_id: str, services: Svc) -> dict[str, Any]:
    """One key request and its state."""
    return services.keys.get_request(request_id).as_dict(services.keys.now())


@router.post(
    "/key-requests/{request_id}/approval",
    responses=problem_responses(403, 404, 409, 422)
    | {201: {"description": "Approved: the key, shown this once, and its record."}},
)
def answer_request(
    request_id: str, body: RequestAnswer, services: Svc, caller: Caller, response: Response
) -> dict[str, Any]:
    """Approve or reject a key request; approving issues the key and shows it this once.

    Refused (403 ``separation-of-duties``) to the admin who made the request; 409
    ``key-request-closed`` when it was answered already or expired.
    """
    token, answered, record = services.keys.answer_request(
        request_id, answer=body.answer, by=caller.actor, note=body.note
    )
    services.after_write()
    out = {"request": answered.as_dict(services.keys.now())}
    if record is not None:
        response.status_code = 201
        return {"key": token, **record.as_dict(), **out}
    return out


@router.get("/keys")
def list_keys(services: Svc) -> dict[str, Any]:
    """Every key, newest first, without secrets."""
    return {"items": [r.as_dict() for r in services.keys.list()]}


@router.delete("/keys/{key_id}", responses=problem_responses(404, 409))
def revoke_key(key_id: str, services: Svc, caller: Caller) -> dict[str, Any]:
    """Revoke a key at once; revoking it again changes nothing.

    The last active admin key is not revoked (409 ``last-admin``).
    """
    record = services.keys.revoke(key_id, by=caller.actor, keep_last_admin=True)
    services.after_write()
    return record.as_dict()
