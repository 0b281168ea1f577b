"""Customer claims: file with photos, read back with verdict, ticket and compensation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.deps import get_predictor, get_services, get_settings
from api.problems import Problem
from api.routes.inspect import read_photos
from api.services import Services
from api.settings import Settings
from claims.service import ClaimInput, file_claim, get_claim, list_claims
from vision.predictor import Predictor

router = APIRouter(prefix="/v1/claims", tags=["claims"])
Svc = Annotated[Services, Depends(get_services)]

_REQUIRED = ("order_id", "category", "line_value", "currency", "delivered_at")


def parse_claim_part(text: str) -> ClaimInput:
    """The ``claim`` form part as a ClaimInput, or a 422 problem naming the field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Problem(
            422, "invalid-claim", "Invalid claim", f"claim is not JSON: {exc.msg}", field="claim"
        ) from exc
    if not isinstance(data, dict):
        raise Problem(
            422, "invalid-claim", "Invalid claim", "claim must be a JSON object", field="claim"
        )
    missing = [f for f in _REQUIRED if data.get(f) in (None, "")]
    if not data.get("lot") and not data.get("epc"):
        missing.append("lot")
    if missing:
        raise Problem(
            422,
            "invalid-claim",
            "Invalid claim",
            f"missing field(s): {', '.join(missing)}",
            field=missing[0],
        )
    try:
        line_value = Decimal(str(data["line_value"]))
        delivered_at = datetime.fromisoformat(str(data["delivered_at"]).replace("Z", "+00:00"))
    except (InvalidOperation, ValueError) as exc:
        raise Problem(
            422,
            "invalid-claim",
            "Invalid claim",
            "line_value must be a number and delivered_at an ISO 8601 time",
            field="line_value" if isinstance(exc, InvalidOperation) else "delivered_at",
        ) from exc
    return ClaimInput(
        order_id=str(data["order_id"]),
        lot=str(data.get("lot") or data["epc"]),
        category=str(data["category"]),
        line_value=line_value,
        currency=str(data["currency"]),
        delivered_at=delivered_at,
        description=data.get("description"),
        customer_id=data.get("customer_id"),
    )


@router.post("", status_code=201)
async def create_claim(
    request: Request,
    response: Response,
    photos: Annotated[list[UploadFile], File(description="1 to 10 photos of the goods")],
    claim: Annotated[
        str,
        Form(
            description="JSON: order_id, lot, category, line_value, "
            "currency, delivered_at[, description, customer_id]"
        ),
    ],
    services: Svc,
    settings: Annotated[Settings, Depends(get_settings)],
    predictor: Annotated[Predictor, Depends(get_predictor)],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """File a claim: findings, verdict with reasons, ticket and compensation in one call."""
    claim_input = parse_claim_part(claim)
    data = await read_photos(photos, settings)
    result, created = await run_in_threadpool(
        lambda: file_claim(
            ledger=services.ledger,
            store=services.evidence,
            inspector=predictor,
            claim=claim_input,
            photos=data,
            now=datetime.now(UTC),
            idempotency_key=idempotency_key,
            config=services.claims_config,
        )
    )
    if not created:
        response.status_code = 200
    else:
        metrics = request.app.state.metrics
        metrics.observe_photos(result["photos"])
        metrics.claims.labels(result["verdict"]["responsible_party"]).inc()
    services.after_write()
    return result


@router.get("/{claim_id}")
def read_claim(claim_id: str, services: Svc) -> dict[str, Any]:
    """A claim with its findings per photo, verdict, ticket (with SLA state) and ledger refs."""
    return get_claim(services.engine, claim_id, now=datetime.now(UTC))


@router.get("")
def claims_index(
    services: Svc,
    status: str | None = None,
    responsible_party: str | None = None,
    lot: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Claims newest first, filtered; pass ``next_cursor`` back as ``cursor`` for more."""
    items, next_cursor = list_claims(
        services.engine,
        limit=limit,
        cursor=cursor,
        status=status,
        responsible_party=responsible_party,
        lot=lot,
        now=datetime.now(UTC),
    )
    return {"items": items, "next_cursor": next_cursor}
