"""Supply-chain capture and query: parties, EPCIS 2.0 documents, the EPCIS query, traces."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from api.auth.access import ROLE_PERMISSIONS, ForbiddenError, Permission, principal
from api.auth.key_records import iso_time
from api.auth.keys import Principal
from api.deps import get_services, get_settings
from api.held_captures import release_held_captures
from api.openapi import problem_responses
from api.problems import Problem
from api.queries import OPEN_QUERY
from api.services import Services
from api.settings import Settings
from claims.models import Name
from claims.reassess import reassess_after_capture
from supplychain.capture import (
    PARTY_ID_MAX,
    PARTY_ID_PATTERN,
    PARTY_ROLES,
    register_party,
)
from supplychain.epcis import parse_document
from supplychain.fsma import MEDIA_TYPES, FSMAQuery, export_fsma
from supplychain.held import (
    Capturer,
    HeldCapture,
    UnknownHeldCaptureError,
    capture_or_hold,
    get_held,
)
from supplychain.query import PER_PAGE_DEFAULT, Scope, query_document, search_events
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
    responses={
        202: {
            "description": "Held: every refusal awaits a sender's own record of a handover "
            "(a receipt that arrived before the shipment); appended once it arrives. "
            "`Location` is the held capture (`GET /v1/events/held/{held_id}`).",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **problem_responses(403, 413, 415, 422, 429),
    },
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
    other event refuses the whole document, 403 ``not-your-custody`` naming the event. A
    receipt from a named sender whose own record of the handover is not on the ledger yet
    (and the key's later events about that lot) is held instead, whole: 202 with
    ``Location: /v1/events/held/{id}``, appended once the sender's record arrives, expired
    if it does not in time; a key holds a limited number at once (429 ``too-many-held``).
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
    body = await request.body()
    parsed = await run_in_threadpool(parse_document, body, limits=limits, now=datetime.now(UTC))
    # Who may write what (supplychain/authorship.py): each event about a part of each lot's
    # history one of the key's parties took part in; checked under the write lock. A
    # document whose refusals all await a sender's own record waits for it (supplychain/held.py).
    outcome = await run_in_threadpool(
        capture_or_hold,
        ledger=services.ledger,
        document=parsed,
        raw=body,
        capturer=Capturer(caller.key_id, caller.actor, caller.parties),
        policy=settings.hold_policy,
        now=services.clock(),
    )
    if isinstance(outcome, HeldCapture):
        response.status_code = 202
        response.headers["Location"] = f"/v1/events/held/{outcome.id}"
        return {**_held_view(outcome, services.clock()), "events": len(parsed.events)}
    result = outcome
    if indices := result.indices:
        # Late records about a lot's past: its claims are assessed again (GUIDE §4 rule 6).
        # A document sent again counts too: the retry of a capture whose reassessment failed
        # after the events were stored (an error, a crash) finishes it; a claim the records
        # change nothing for is left as it is.
        await run_in_threadpool(
            reassess_after_capture,
            ledger=services.ledger,
            appended=indices,
            config=services.claims_config,
            now=datetime.now(UTC),
            actor=caller.actor,
        )
        # Records a held receipt waited for may have arrived: it is appended now.
        await run_in_threadpool(release_held_captures, services, captured=parsed.events)
    services.after_write()
    return {
        "appended": [{"hash_id": h, "ledger_index": i} for h, i in result.appended],
        "duplicates": [h for h, _ in result.duplicates],
        "events": len(parsed.events),
    }


_HELD_DETAIL = {
    "held": "held until the sender's own record of this handover is on the ledger; it will be "
    "appended then",
    "released": "appended: the sender's own record of the handover arrived",
    "expired": "expired before the sender's own record of the handover arrived; nothing was "
    "appended",
}


def _held_view(held: HeldCapture, now: datetime) -> dict[str, Any]:
    status = held.status_at(now)
    return {
        "held": held.id,
        "status": status,
        "created_at": iso_time(held.created_at),
        "expires_at": iso_time(held.expires_at),
        **({"ledger_indices": list(held.ledger_indices)} if status == "released" else {}),
        **({"released_at": iso_time(held.released_at)} if held.released_at else {}),
        "detail": _HELD_DETAIL[status],
    }


@router.get("/events/held/{held_id}", responses=problem_responses(404))
def held_capture(held_id: str, services: Svc, caller: Caller) -> dict[str, Any]:
    """A document held for its sender's record of a handover (``POST /v1/events`` answered 202):
    held, released (with its ledger indices) or expired. The key that sent it, a key speaking
    for the same parties, and staff read it; to any other key it does not exist (404)."""
    held = get_held(services.engine, held_id)
    mine = held.capturer.key_id == caller.key_id or (
        bool(held.capturer.parties) and set(held.capturer.parties) <= set(caller.parties)
    )
    if caller.role == "supply_chain" and not mine:
        raise UnknownHeldCaptureError(held_id)
    return _held_view(held, services.clock())


@router.get("/lots/{lot:path}/trace", responses=problem_responses(403, 404, 409))
def trace(lot: str, services: Svc, caller: Caller) -> dict[str, Any]:
    """The lot's events in time order, with custody, temperatures, inspections and ledger refs.
    A supply-chain key: only a lot one of its parties took part in. A bare lot number that
    several products' lots share: 409 ``ambiguous-lot`` naming them (a supply-chain key: the
    one of them its parties took part in)."""
    bound = caller.parties if caller.role == "supply_chain" else None
    return lot_trace(ledger=services.ledger, lot=lot, speaks_for=bound)


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


def _parameter(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_TIME = {"type": "string", "format": "date-time"}
_COUNT = {"type": "integer", "minimum": 1}
_QUERY_PARAMETERS = [
    _parameter("eventType", "Event types, `|`-separated."),
    _parameter("GE_eventTime", "Events at or after this time (with its UTC offset).", _TIME),
    _parameter("LT_eventTime", "Events before this time.", _TIME),
    _parameter("GE_recordTime", "Events recorded (captured) at or after this time.", _TIME),
    _parameter("LT_recordTime", "Events recorded before this time.", _TIME),
    _parameter("EQ_action", "ADD, OBSERVE or DELETE, `|`-separated."),
    _parameter("EQ_bizStep", "CBV business steps (short names or URIs), `|`-separated."),
    _parameter("EQ_disposition", "CBV dispositions, `|`-separated."),
    _parameter("EQ_readPoint", "Read point URIs (`WD_readPoint` alike: no master data)."),
    _parameter("EQ_bizLocation", "Business location URIs (`WD_bizLocation` alike)."),
    _parameter("EQ_eventID", "Event ids (declared, or the CBV event hash `ni:///...`)."),
    _parameter("MATCH_epc", "EPCs in epcList/childEPCs; `urn:epc:idpat:` patterns too."),
    _parameter("MATCH_anyEPC", "EPCs anywhere: epcList, childEPCs, parentID, inputs, outputs."),
    _parameter("MATCH_epcClass", "Classes in quantityList/childQuantityList (lots: LGTIN)."),
    _parameter("MATCH_anyEPCClass", "Classes in any quantity list."),
    _parameter("EQ_type", "Sensor measurement types (`Temperature`, `gs1:Temperature`)."),
    _parameter(
        "GE_maxValue_CEL",
        "Some sensorReport's maxValue at or above this (°C). Every "
        "`{GT,GE,LT,LE}_{field}_{unit}` for the fields value, minValue, maxValue, meanValue, "
        "sDev, percValue and the units CEL, FAR, KEL, MSK, K40 (or another unit as captured) "
        "is a parameter alike.",
        {"type": "number"},
    ),
    _parameter(
        "orderBy",
        "eventTime, or recordTime (the default).",
        {"type": "string", "enum": ["eventTime", "recordTime"]},
    ),
    _parameter(
        "orderDirection", "ASC (the default) or DESC.", {"type": "string", "enum": ["ASC", "DESC"]}
    ),
    _parameter("eventCountLimit", "At most this many events, all pages together.", _COUNT),
    _parameter("maxEventCount", "More events match: 413 QueryTooLargeException.", _COUNT),
    _parameter("perPage", f"Events per page (default {PER_PAGE_DEFAULT}; capped).", _COUNT),
    _parameter("nextPageToken", 'From the `Link: <...>; rel="next"` header: the next page.'),
]
_QUERY_DOC: dict[str, Any] = {
    OPEN_QUERY: True,
    "parameters": _QUERY_PARAMETERS,
    "responses": {
        "200": {
            "description": 'An EPCISQueryDocument holding one page; `Link: <...>; rel="next"` '
            "while more remain.",
            "headers": {
                "Link": {"description": "The next page.", "schema": {"type": "string"}},
                "GS1-EPCIS-Version": {"schema": {"type": "string"}},
            },
        }
    },
}


def _scope(caller: Principal) -> Scope:
    """What the key reads: a supply-chain key its parties' lots, staff every event."""
    if caller.role == "supply_chain":
        return Scope.of_parties(caller.parties)
    return Scope.everything()


def _answer(
    request: Request,
    response: Response,
    services: Services,
    settings: Settings,
    caller: Principal,
    event_type: str | None,
) -> dict[str, Any]:
    page = search_events(
        engine=services.engine,
        params=request.query_params.multi_items(),
        scope=_scope(caller),
        # Signs nextPageToken: a secret every process of the service shares (var/keys).
        secret=hashlib.sha256(b"epcis-page-token\n" + services.webhook_secret).digest(),
        event_type=event_type,
        per_page_max=settings.epcis_query_max_per_page,
    )
    response.headers["GS1-EPCIS-Version"] = "2.0"
    response.headers["GS1-CBV-Version"] = "2.0"
    if page.next_token is not None:
        following = urlencode({"perPage": page.per_page, "nextPageToken": page.next_token})
        response.headers["Link"] = f'<{request.url.replace(query=following)}>; rel="next"'
    return query_document(page, now=datetime.now(UTC))


@router.get("/events", responses=problem_responses(400, 413), openapi_extra=_QUERY_DOC)
def query_events(
    request: Request,
    response: Response,
    services: Svc,
    settings: Annotated[Settings, Depends(get_settings)],
    caller: Caller,
) -> dict[str, Any]:
    """The EPCIS 2.0 query: the events matching the standard's parameters, a page at a time.

    A supply-chain key reads the events of the lots its parties took part in (named as the
    sender or receiver of a handover, or captured a record of the lot); staff keys read every
    event. A parameter unknown, unsupported or malformed is a 400 ``QueryParameterException``;
    more events than ``maxEventCount`` a 413 ``QueryTooLargeException``.
    """
    return _answer(request, response, services, settings, caller, None)


@router.get(
    "/eventTypes/{event_type}/events",
    responses=problem_responses(400, 404, 413),
    openapi_extra=_QUERY_DOC,
)
def query_events_of_type(
    event_type: str,
    request: Request,
    response: Response,
    services: Svc,
    settings: Annotated[Settings, Depends(get_settings)],
    caller: Caller,
) -> dict[str, Any]:
    """``GET /v1/events`` for one event type (the REST binding's path); another is a 404."""
    return _answer(request, response, services, settings, caller, event_type)
