"""API keys: an admin creates, lists and revokes them (``freshproof keys`` does the same)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from api.auth.access import ForbiddenError, principal
from api.auth.keys import ROLES, Principal
from api.deps import get_services
from api.openapi import problem_responses
from api.services import Services
from claims.models import Identifier

router = APIRouter(prefix="/v1/keys", tags=["access"])
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


@router.post("", status_code=201, responses=problem_responses(403, 422))
def create_key(spec: KeyIn, services: Svc, caller: Caller) -> dict[str, Any]:
    """Create a key; the answer is the only time the key itself is shown."""
    if spec.approval_limit is not None:
        raise ForbiddenError(
            "approval limits are granted from the server's shell only "
            "(freshproof keys create --role adjudicator --approval-limit AMOUNT)"
        )
    token, record = services.keys.create(
        role=spec.role,
        name=spec.name,
        created_by=caller.actor,
        customer_id=spec.customer_id,
        parties=tuple(spec.parties),
        station_id=spec.station_id,
        read_point=spec.read_point,
        expires_in=timedelta(days=spec.expires_in_days) if spec.expires_in_days else None,
    )
    services.after_write()
    return {"key": token, **record.as_dict()}


@router.get("")
def list_keys(services: Svc) -> dict[str, Any]:
    """Every key, newest first, without secrets."""
    return {"items": [r.as_dict() for r in services.keys.list()]}


@router.delete("/{key_id}", responses=problem_responses(404))
def revoke_key(key_id: str, services: Svc, caller: Caller) -> dict[str, Any]:
    """Revoke a key at once; revoking it again changes nothing."""
    record = services.keys.revoke(key_id, by=caller.actor)
    services.after_write()
    return record.as_dict()
