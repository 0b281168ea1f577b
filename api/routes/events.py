"""Supply-chain capture: parties, EPCIS 2.0 documents, and lot traces."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import get_services
from api.services import Services
from ledger.capture import capture_events, register_party
from ledger.epcis import parse_document
from ledger.trace import lot_trace

router = APIRouter(prefix="/v1", tags=["supply chain"])
Svc = Annotated[Services, Depends(get_services)]


class PartyIn(BaseModel):
    """A party and its role in the chain."""

    id: str = Field(examples=["urn:epc:id:pgln:4012345.00000"])
    role: str = Field(examples=["carrier"])
    name: str = Field(examples=["FastVan Logistics"])


@router.post("/parties", status_code=201)
def create_party(party: PartyIn, services: Svc) -> dict[str, Any]:
    """Register (or update) a party; appends a ledger entry only when something changed."""
    registered, appended = register_party(
        ledger=services.ledger, party_id=party.id, role=party.role, name=party.name
    )
    services.after_write()
    return {**registered.as_dict(), "appended": appended}


@router.post("/events", status_code=201)
async def capture(
    services: Svc,
    document: Annotated[
        dict[str, Any], Body(description="An EPCIS 2.0 EPCISDocument (JSON/JSON-LD)")
    ],
) -> dict[str, Any]:
    """Validate and append an EPCIS document; events already captured are reported, not added."""
    parsed = parse_document(document)
    result = await run_in_threadpool(capture_events, ledger=services.ledger, events_in=parsed)
    services.after_write()
    return {
        "appended": [{"hash_id": h, "ledger_index": i} for h, i in result.appended],
        "duplicates": list(result.duplicates),
        "events": len(parsed.events),
    }


@router.get("/lots/{lot:path}/trace")
def trace(lot: str, services: Svc) -> dict[str, Any]:
    """The lot's events in time order, with custody, temperatures, inspections and ledger refs."""
    return lot_trace(ledger=services.ledger, lot=lot)
