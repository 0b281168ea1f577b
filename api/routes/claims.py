"""Customer claims: file with photos, read back with verdict, ticket and compensation."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from api.auth.access import ForbiddenError, principal
from api.auth.keys import Principal
from api.deps import get_predictor, get_services, get_settings, idempotency_key
from api.openapi import photo_encoding, problem_responses
from api.problems import Problem, field_errors
from api.services import Services
from api.settings import Settings
from api.uploads import read_photos
from claims.errors import UnknownClaimError
from claims.models import ClaimInput
from claims.service import file_claim
from claims.state import for_customer
from claims.views import get_claim, list_claims
from dossier.build import build_dossier
from supplychain import strict_json
from vision.predictor import Predictor

router = APIRouter(prefix="/v1/claims", tags=["claims"])
Svc = Annotated[Services, Depends(get_services)]
Caller = Annotated[Principal, Depends(principal)]


def parse_claim_part(text: str) -> ClaimInput:
    """The ``claim`` form part as a ClaimInput, or a 422 problem naming every bad field.

    The strict JSON reader reads it first: a duplicate key (two ``line_value``s), NaN or
    deep nesting is refused naming where, so the model never sees an ambiguous part.
    """
    try:
        strict_json.loads(text)
        return ClaimInput.model_validate_json(text)
    except strict_json.InvalidJSONError as exc:
        where = strict_json.format_path(exc.path, "claim")
        errors = [{"field": where, "reason": exc.reason}]
    except ValidationError as exc:
        errors = field_errors(exc, root="claim")
    raise Problem(
        422,
        "invalid-claim",
        "Invalid claim",
        "; ".join(f"{e['field']}: {e['reason']}" for e in errors),
        field=errors[0]["field"],
        errors=errors,
    )


@router.post(
    "",
    status_code=201,
    responses=problem_responses(400, 409, 413, 422, 503)
    | {
        200: {
            "description": "A retry with the same Idempotency-Key: the claim as first filed.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    openapi_extra=photo_encoding(claim="application/json"),
)
async def create_claim(
    request: Request,
    response: Response,
    photos: Annotated[
        list[UploadFile],
        File(
            description="1 to 10 photos of the goods (JPEG, PNG, WebP, HEIC, BMP, TIFF)",
            json_schema_extra={"minItems": 1, "maxItems": 10},
        ),
    ],
    claim: Annotated[
        str,
        Form(
            description="The claim as a JSON object (schema `Claim`).",
            json_schema_extra={
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": "#/components/schemas/Claim"},
            },
        ),
    ],
    services: Svc,
    settings: Annotated[Settings, Depends(get_settings)],
    predictor: Annotated[Predictor, Depends(get_predictor)],
    key: Annotated[str | None, Depends(idempotency_key)],
    caller: Caller,
) -> dict[str, Any]:
    """File a claim: findings, verdict with reasons, ticket and compensation in one call.

    The claim is filed for the key's customer: a ``customer_id`` naming another is refused.
    """
    claim_input = _for_customer(parse_claim_part(claim), caller)
    data = await read_photos(photos, settings)
    result, created = await run_in_threadpool(
        lambda: file_claim(
            ledger=services.ledger,
            store=services.evidence,
            inspector=predictor,
            claim=claim_input,
            photos=data,
            now=datetime.now(UTC),
            idempotency_key=key,
            config=services.claims_config,
            actor=caller.actor,
            label_reader=services.label_reader,
        )
    )
    if not created:
        response.status_code = 200
    else:
        metrics = request.app.state.metrics
        metrics.observe_photos(result["photos"])
        metrics.claims.labels(result["verdict"]["responsible_party"]).inc()
    services.after_write()
    # Only a customer app files claims; a replay of one decided since names no key either.
    return for_customer(result)


def _for_customer(claim: ClaimInput, caller: Principal) -> ClaimInput:
    if caller.customer_id is None:
        raise ForbiddenError("only a customer app's key files claims")
    if claim.customer_id not in (None, caller.customer_id):
        raise ForbiddenError("this key files claims for its own customer only")
    return claim.model_copy(update={"customer_id": caller.customer_id})


@router.get("/{claim_id}", responses=problem_responses(404))
def read_claim(claim_id: str, services: Svc, caller: Caller) -> dict[str, Any]:
    """A claim with its findings per photo, verdict, ticket (with SLA state) and ledger refs.

    A customer app sees its own customer's claims; another's answers 404, as if absent,
    so claim ids cannot be probed. It reads "an adjudicator" where staff read a key id.
    """
    found = get_claim(services.engine, claim_id, now=datetime.now(UTC))
    if caller.role == "customer_app":
        if found.get("customer_id") != caller.customer_id:
            raise UnknownClaimError(claim_id)
        return for_customer(found)
    return found


@router.get("", responses=problem_responses(422))
def claims_index(
    services: Svc,
    caller: Caller,
    status: str | None = None,
    responsible_party: str | None = None,
    lot: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Claims newest first, filtered; pass ``next_cursor`` back as ``cursor`` for more.

    A customer app's key lists its own customer's claims only, people named by their role.
    """
    items, next_cursor = list_claims(
        services.engine,
        customer_id=caller.customer_id if caller.role == "customer_app" else None,
        limit=limit,
        cursor=cursor,
        status=status,
        responsible_party=responsible_party,
        lot=lot,
        now=datetime.now(UTC),
    )
    if caller.role == "customer_app":
        items = [for_customer(c) for c in items]
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{claim_id}/dossier", responses=problem_responses(404))
def claim_dossier(claim_id: str, response: Response, services: Svc) -> dict[str, Any]:
    """The claim's dossier: its ledger entries with proofs against one signed checkpoint.

    Whoever holds it checks it offline with the key from GET /v1/ledger/key
    (``freshproof dossier verify``): the adjudicator sends it to a party disputing a verdict.
    """
    # The id is the client's text: only a safe form of it goes into a header.
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", claim_id)[:64]
    response.headers["Content-Disposition"] = f'attachment; filename="dossier-{safe}.json"'
    return build_dossier(
        ledger=services.ledger, signer=services.signer, engine=services.engine, claim_id=claim_id
    )
