"""The ledger's public face: checkpoints, proofs, the verifier key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import PlainTextResponse

from api.deps import get_services
from api.openapi import problem_responses
from api.services import Services
from ledger.anchoring import list_anchors
from ledger.service import consistency, current_checkpoint, entry_bundle

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])

Svc = Annotated[Services, Depends(get_services)]
# Indices are BIGINT columns; a larger number is refused before it reaches the database.
_MAX_INDEX = 2**63 - 1


@router.get("/checkpoint", response_class=PlainTextResponse)
def checkpoint(services: Svc) -> str:
    """The latest C2SP signed checkpoint (text/plain signed note) of the whole log."""
    return current_checkpoint(ledger=services.ledger, signer=services.signer)


@router.get("/key", response_class=PlainTextResponse)
def key(services: Svc) -> str:
    """The checkpoint verifier key in signed-note verifier-key form."""
    return services.signer.verifier().to_string() + "\n"


@router.get("/entries/{index}", responses=problem_responses(404, 422))
def entry(index: Annotated[int, Path(ge=0, le=_MAX_INDEX)], services: Svc) -> dict[str, Any]:
    """Entry ``index`` as a proof bundle: record, inclusion proof, signed checkpoint."""
    return entry_bundle(ledger=services.ledger, signer=services.signer, index=index)


@router.get("/consistency", responses=problem_responses(404, 422))
def consistency_proof(
    services: Svc,
    size_from: Annotated[int, Query(alias="from", ge=0, le=_MAX_INDEX)],
    size_to: Annotated[int | None, Query(alias="to", ge=0, le=_MAX_INDEX)] = None,
) -> dict[str, Any]:
    """An RFC 9162 consistency proof between two tree sizes (default ``to``: current)."""
    return consistency(ledger=services.ledger, size1=size_from, size2=size_to)


@router.get("/anchors")
def anchors(services: Svc) -> list[dict[str, Any]]:
    """Every checkpoint anchored on chain: chain id, contract, tx hash, block, checkpoint."""
    return list_anchors(services.ledger)


@router.post("/anchors", status_code=201, responses=problem_responses(502, 503))
def anchor(services: Svc) -> dict[str, Any]:
    """Anchor the current checkpoint now (no-op answer if nothing new since the last one)."""
    record = services.anchor_now()
    return record or {"anchored": False, "reason": "nothing new since the last anchor"}
