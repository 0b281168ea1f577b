"""Supply-chain capture: parties, EPCIS 2.0 documents, and lot traces."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from api.auth.access import ROLE_PERMISSIONS, ForbiddenError, Permission, principal
from api.auth.keys import Principal
from api.deps import get_services, get_settings
from api.openapi import problem_responses
from api.problems import Problem
from api.services import Services
from api.settings import Settings
from claims.models import Name
from claims.reassess import reassess_after_capture
from supplychain.authorship import bound_to
from supplychain.capture import (
    PARTY_ID_MAX,
    PARTY_ID_PATTERN,
    PARTY_ROLES,
    capture_events,
    register_party,
)
from supplychain.epcis import parse_document
from supplychain.fsma import MEDIA_TYPES, FSMAQuery, export_fsma
from supplychain.trace import lot_trace

router = APIRouter(prefix="/v1", tags=["supply chain"])
Svc = Annotated[Services, Depends(get_services)]
Caller = Annotated[Principal, Depends(principal)]


class PartyIn(BaseModel):
    """A party and its role in the chain."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    # The registry checks id and role (supplychain/capture.py); the schema shows the same rules.
    id: StrictStr = Field(
        examples=["urn:epc:id:pgln:4012345.00000"],
        description="GLN or PGLN as an EPC URN or a GS1 Digital Link.",
        json_schema_extra={"pattern": PARTY_ID_PATTERN, "maxLength": PARTY_ID_MAX},
    )
    role: StrictStr = Field(
        examples=["carrier"], json_schema_extra={"enum": [r for r in sorted(PARTY_ROLES)]}
    )
    name: Name = Field(examples=["FastVan Logistics"])


@router.post("/parties", status_code=201, responses=problem_responses(422))
def create_party(party: PartyIn, services: Svc, caller: Caller) -> dict[str, Any]:
    """Register (or update) a party; appends a ledger entry naming who, only on a change.

    A supply-chain key registers only the parties it speaks for; changing a registered
    party's role needs an admin key.
    """
    if caller.role == "supply_chain" and party.id not in caller.parties:
        raise ForbiddenError(f"this key speaks for {', '.join(caller.parties)}, not {party.id}")
    registered, appended = register_party(
        ledger=services.ledger,
        party_id=party.id,
        role=party.role,
        name=party.name,
        actor=caller.actor,
        may_change_role=Permission.PARTIES_CHANGE_ROLE in ROLE_PERMISSIONS[caller.role],
    )
    services.after_write()
    return {**registered.as_dict(), "appended": appended}


_EPCIS_MEDIA = ("application/json", "application/ld+json")
_EPCIS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An EPCIS 2.0 EPCISDocument (JSON or JSON-LD); every event is validated, "
    "and the whole document is refused, naming each bad event and field, if one is not valid.",
    "required": ["@context", "type", "schemaVersion", "creationDate", "epcisBody"],
    "properties": {
        "@context": {},
        "type": {"const": "EPCISDocument"},
        "schemaVersion": {"type": ["string", "number"]},
        "creationDate": {"type": "string", "format": "date-time"},
        "epcisBody": {
            "type": "object",
            "required": ["eventList"],
            "properties": {"eventList": {"type": "array", "items": {"type": "object"}}},
        },
    },
}


@router.post(
    "/events",
    status_code=201,
    responses=problem_responses(403, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {m: {"schema": _EPCIS_SCHEMA} for m in _EPCIS_MEDIA},
        }
    },
)
async def capture(
    request: Request,
    response: Response,
    services: Svc,
    settings: Annotated[Settings, Depends(get_settings)],
    caller: Caller,
) -> dict[str, Any]:
    """Validate and append an EPCIS document; events already captured are reported, not added.

    A key adds events about a lot only for the part of the lot's history one of its parties
    took part in (held it, handed it over or took it over, or at its own read point); any
    other event refuses the whole document, 403 ``not-your-custody`` naming the event.
    At most ``GS1-EPCIS-Capture-Limit`` events per document (a response header, as in the
    EPCIS 2.0 REST binding); event times may be at most a few minutes ahead of the server.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _EPCIS_MEDIA:
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"send the document as {' or '.join(_EPCIS_MEDIA)}, not {media or 'no type'}",
        )
    limits = settings.capture_limits
    response.headers["GS1-EPCIS-Capture-Limit"] = str(limits.max_events)
    # The raw bytes, not a parsed dict: the EPCIS reader refuses duplicate keys and NaN,
    # which a generic JSON parser would silently accept.
    parsed = await run_in_threadpool(
        parse_document, await request.body(), limits=limits, now=datetime.now(UTC)
    )
    # Who may write what (supplychain/authorship.py): each event about a part of each lot's
    # history one of the key's parties took part in; checked under the write lock.
    result = await run_in_threadpool(
        capture_events,
        ledger=services.ledger,
        events_in=parsed,
        actor=caller.actor,
        speaks_for=caller.parties,
        check=bound_to(caller.parties),
    )
    if result.appended:
        # Late records about a lot's past: its claims are assessed again (GUIDE §4 rule 6).
        await run_in_threadpool(
            reassess_after_capture,
            ledger=services.ledger,
            appended=[i for _, i in result.appended],
            config=services.claims_config,
            now=datetime.now(UTC),
            actor=caller.actor,
        )
    services.after_write()
    return {
        "appended": [{"hash_id": h, "ledger_index": i} for h, i in result.appended],
        "duplicates": list(result.duplicates),
        "events": len(parsed.events),
    }


@router.get("/lots/{lot:path}/trace", responses=problem_responses(404))
def trace(lot: str, services: Svc) -> dict[str, Any]:
    """The lot's events in time order, with custody, temperatures, inspections and ledger refs."""
    return lot_trace(ledger=services.ledger, lot=lot)


@router.get(
    "/lots/{lot:path}/fsma",
    response_class=Response,
    responses={
        **problem_responses(403, 404, 422),
        200: {
            "description": "The lot's FDA FSMA 204 sortable spreadsheet.",
            "content": {m.split(";")[0]: {} for m in MEDIA_TYPES.values()},
        },
    },
)
def fsma(
    lot: str,
    services: Svc,
    caller: Caller,
    format: Annotated[Literal["csv", "xlsx"], Query(description="csv or xlsx")] = "csv",
) -> Response:
    """The lot's key data elements per critical tracking event (FDA FSMA 204, 21 CFR 1.1325 to
    1.1350) as a sortable spreadsheet: one row per CTE, each missing value named, each row
    with its ledger entry. A supply-chain key: only a lot one of its parties took part in."""
    bound = caller.parties if caller.role == "supply_chain" else None
    export = export_fsma(
        ledger=services.ledger, query=FSMAQuery(lot=lot), fmt=format, speaks_for=bound
    )
    return Response(
        export.content,
        media_type=export.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )
