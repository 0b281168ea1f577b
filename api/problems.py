"""RFC 9457 problem details: every error reaches clients through this one table.

Domain packages raise their own typed errors; this module alone decides their HTTP status,
type URI and title. A 500 never carries a traceback or exception text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.auth.access import (
    AccessError,
    ForbiddenError,
    MissingCredentialsError,
    RateLimitedError,
    UndeclaredRouteError,
)
from api.auth.keys import (
    AuthError,
    InvalidKeySpecError,
    KeyRejectedError,
    KeyRequestClosedError,
    LastAdminError,
    SameAdminError,
    UnknownKeyError,
    UnknownKeyRequestError,
)
from claims.errors import (
    AlreadyPaidError,
    AwaitingApprovalError,
    ClaimClosedError,
    ClaimsError,
    DecisionRequiredError,
    IdempotencyConflictError,
    InvalidClaimError,
    InvalidDecisionError,
    InvalidTransitionError,
    NoPendingApprovalError,
    OverLimitError,
    OwnProposalError,
    PaymentRefusedError,
    PhotoRejectedError,
    UnknownClaimError,
)
from ledger.anchor.errors import AnchorError
from ledger.errors import (
    AuditError,
    CanonicalJSONError,
    CheckpointError,
    InconsistentCheckpointError,
    InvalidEntryError,
    InvalidIndexError,
    LedgerError,
)
from notifications.errors import NotificationsError
from stations.errors import (
    AmbiguousStationItemError,
    BatchConflictError,
    InvalidGradeError,
    StationItemGradedError,
    StationsError,
    UnknownStationItemError,
)
from storage.errors import StorageError, StorageUnavailableError
from supplychain.authorship import NotYourCustodyError
from supplychain.capture import PartyError, RoleChangeRefusedError
from supplychain.epcis import (
    DocumentTooLargeError,
    EPCISDocumentError,
    TooManyEventsError,
    TooManyReadingsError,
)
from supplychain.fsma import ExportQueryError
from supplychain.held import TooManyHeldError, UnknownHeldCaptureError
from supplychain.lot_names import AmbiguousLotError
from supplychain.query import (
    NoSuchNameError,
    NotYourLotError,
    QueryParameterError,
    QueryTooLargeError,
)
from supplychain.strict_json import InvalidJSONError
from supplychain.trace import UnknownLotError
from vision.errors import (
    DecoderBusyError,
    ImageRejected,
    ImageTooLargeError,
    ImageTooSmallError,
    ModelError,
    NotAnImageError,
    VisionError,
    rejected_summary,
)

__all__ = [
    "PROBLEM_TYPES",
    "Problem",
    "access_problem",
    "field_errors",
    "install_problem_handlers",
    "problem_response",
    "rejected_photos_problem",
    "unavailable_problem",
]

log = logging.getLogger("freshproof.api")
MEDIA_TYPE = "application/problem+json"
_BASE = "https://freshproof.dev/problems/"


@dataclass(frozen=True)
class _Kind:
    status: int
    slug: str
    title: str
    retry_after: int | None = None  # when the error itself carries none (``exc.retry_after``)


# Most specific class first: the first isinstance match wins.
# Also what any other photo the decoder rejects reads as (``rejected_photos_problem``).
_NOT_AN_IMAGE = _Kind(422, "not-an-image", "Not a readable image")

PROBLEM_TYPES: tuple[tuple[type[Exception], _Kind], ...] = (
    (MissingCredentialsError, _Kind(401, "credentials-required", "API key required")),
    (KeyRejectedError, _Kind(401, "invalid-credentials", "API key not accepted")),
    (ForbiddenError, _Kind(403, "forbidden", "Not allowed for this key")),
    (UndeclaredRouteError, _Kind(403, "forbidden", "Not allowed for this key")),
    (RateLimitedError, _Kind(429, "rate-limited", "Too many requests")),
    (InvalidKeySpecError, _Kind(422, "invalid-key", "Invalid key request")),
    (UnknownKeyError, _Kind(404, "unknown-key", "Unknown key")),
    (UnknownKeyRequestError, _Kind(404, "unknown-key-request", "Unknown key request")),
    (KeyRequestClosedError, _Kind(409, "key-request-closed", "Key request no longer pending")),
    (SameAdminError, _Kind(403, "separation-of-duties", "A second admin must approve")),
    (LastAdminError, _Kind(409, "last-admin", "The last admin key cannot be revoked")),
    (RoleChangeRefusedError, _Kind(403, "role-change-refused", "Changing a role needs an admin")),
    (NotYourCustodyError, _Kind(403, "not-your-custody", "Not this key's part of the lot")),
    (TooManyHeldError, _Kind(429, "too-many-held", "Too many documents held for this key")),
    (UnknownHeldCaptureError, _Kind(404, "unknown-held-capture", "Unknown held capture")),
    (
        NotYourLotError,
        _Kind(403, "not-your-lot", "None of this key's parties took part in the lot"),
    ),
    (ImageTooLargeError, _Kind(413, "image-too-large", "Image too large")),
    (ImageTooSmallError, _Kind(422, "image-too-small", "Image too small")),
    (NotAnImageError, _NOT_AN_IMAGE),
    (ModelError, _Kind(503, "model-unavailable", "Model unavailable")),
    (DecoderBusyError, _Kind(503, "decoder-busy", "Too many photos being decoded")),
    (VisionError, _Kind(422, "vision-error", "Image could not be processed")),
    (InvalidClaimError, _Kind(422, "invalid-claim", "Invalid claim")),
    (UnknownClaimError, _Kind(404, "unknown-claim", "Unknown claim")),
    (UnknownStationItemError, _Kind(404, "unknown-station-item", "Unknown station item")),
    (
        AmbiguousStationItemError,
        _Kind(409, "ambiguous-station-item", "Several stations used this batch id"),
    ),
    (StationItemGradedError, _Kind(409, "station-item-graded", "Station item already graded")),
    (AmbiguousLotError, _Kind(409, "ambiguous-lot", "Lot number names several lots")),
    (
        IdempotencyConflictError,
        _Kind(409, "idempotency-conflict", "Idempotency-Key reused with a different request"),
    ),
    (
        BatchConflictError,
        _Kind(409, "idempotency-conflict", "Idempotency-Key reused with a different request"),
    ),
    (AlreadyPaidError, _Kind(409, "already-paid", "Claim already paid")),
    (ClaimClosedError, _Kind(409, "claim-closed", "Claim already resolved")),
    (InvalidTransitionError, _Kind(409, "invalid-transition", "Ticket cannot move that way")),
    (OverLimitError, _Kind(403, "over-limit", "Over this key's approval limit")),
    (OwnProposalError, _Kind(403, "four-eyes", "The proposer cannot approve")),
    (AwaitingApprovalError, _Kind(409, "awaiting-approval", "A proposal waits for approval")),
    (DecisionRequiredError, _Kind(409, "decision-required", "The claim needs a decision first")),
    (NoPendingApprovalError, _Kind(409, "no-pending-approval", "No proposal waits for approval")),
    (InvalidDecisionError, _Kind(422, "invalid-decision", "Invalid decision")),
    (InvalidGradeError, _Kind(422, "invalid-decision", "Invalid decision")),
    (PaymentRefusedError, _Kind(409, "payment-refused", "Payment refused")),
    (ClaimsError, _Kind(422, "claim-error", "Claim could not be processed")),
    # The outbox's errors were claims errors before notifications/ had its own root: the
    # same answer, so that the move changed nothing a client sees.
    (NotificationsError, _Kind(422, "claim-error", "Claim could not be processed")),
    (StationsError, _Kind(422, "station-error", "Station item could not be processed")),
    (StorageUnavailableError, _Kind(503, "storage-unavailable", "Evidence store unavailable")),
    # The database went away (restarted, failed over, out of connections): nothing was
    # committed, and the pool reconnects on its own, so the client is told to come back in
    # 3 s (a restarted PostgreSQL is back within seconds).
    (OperationalError, _Kind(503, "database-unavailable", "Database unavailable", 3)),
    (InterfaceError, _Kind(503, "database-unavailable", "Database unavailable", 3)),
    (TooManyEventsError, _Kind(413, "too-many-events", "Too many events in one document")),
    (DocumentTooLargeError, _Kind(413, "epcis-too-large", "EPCIS document too large")),
    (TooManyReadingsError, _Kind(413, "too-many-readings", "Too many sensor readings")),
    (EPCISDocumentError, _Kind(422, "invalid-epcis", "Malformed EPCIS document")),
    (UnknownLotError, _Kind(404, "unknown-lot", "Unknown lot")),
    (ExportQueryError, _Kind(422, "invalid-export-query", "Export query cannot run")),
    # The EPCIS query's exceptions (EPCIS 2.0 §8.2.7, REST binding): the type URI ends in
    # the standard's name, the title is that name, the status the binding's.
    (
        QueryParameterError,
        _Kind(400, "epcis/QueryParameterException", "QueryParameterException"),
    ),
    (QueryTooLargeError, _Kind(413, "epcis/QueryTooLargeException", "QueryTooLargeException")),
    (NoSuchNameError, _Kind(404, "epcis/NoSuchNameException", "NoSuchNameException")),
    (PartyError, _Kind(422, "invalid-party", "Invalid party")),
    (AnchorError, _Kind(502, "anchor-failed", "Anchoring failed")),
    (InvalidIndexError, _Kind(404, "not-in-log", "No such ledger entry or tree size")),
    (CanonicalJSONError, _Kind(422, "not-canonical-json", "Not representable as canonical JSON")),
    (InvalidJSONError, _Kind(422, "invalid-json", "Not acceptable JSON")),
    (InvalidEntryError, _Kind(422, "invalid-entry", "Invalid ledger entry")),
    (InconsistentCheckpointError, _Kind(409, "inconsistent-checkpoint", "Checkpoint refused")),
    (CheckpointError, _Kind(422, "bad-checkpoint", "Checkpoint or signature invalid")),
    (AuditError, _Kind(500, "ledger-integrity", "Ledger integrity failure")),
    (LedgerError, _Kind(500, "ledger-error", "Ledger error")),
)


class Problem(Exception):
    """An API-level problem raised by routes (limits, missing resources)."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.extra = (
            status,
            slug,
            title,
            detail,
            extra,
        )


def rejected_photos_problem(rejected: Sequence[tuple[int, str, ImageRejected]]) -> Problem:
    """One problem naming every photo that cannot be judged (``photos[i]``, its file name).

    Status, type and ``photo_index`` are the first bad photo's, as they were when only it
    was named; ``errors`` lists them all, so a customer retakes every bad one at once.
    """
    errors = []
    for index, name, error in rejected:
        kind = _kind_of(error) or _NOT_AN_IMAGE
        errors.append(
            {
                "field": f"photos[{index}]",
                "filename": name,
                "type": _BASE + kind.slug,
                "reason": error.reason,
            }
        )
    first_index, _, first = rejected[0]
    kind = _kind_of(first) or _NOT_AN_IMAGE
    return Problem(
        kind.status,
        kind.slug,
        kind.title,
        rejected_summary(rejected),
        photo_index=first_index,
        field=errors[0]["field"],
        errors=errors,
    )


def _kind_of(exc: Exception) -> _Kind | None:
    """The table's entry for ``exc`` (the first class it is an instance of), or None."""
    return next((kind for cls, kind in PROBLEM_TYPES if isinstance(exc, cls)), None)


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build an ``application/problem+json`` response."""
    body: dict[str, Any] = {"type": _BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def field_errors(
    errors: ValidationError | Sequence[Mapping[str, Any]], *, root: str | None = None
) -> list[dict[str, str]]:
    """Pydantic errors as ``{"field": "claim.line_value", "reason": ...}``, one per problem.

    ``root`` names what was validated when the error's location is empty (a whole JSON part).
    """
    items = errors.errors() if isinstance(errors, ValidationError) else errors
    out = []
    for e in items:
        loc = [str(part) for part in e.get("loc", ())]
        reason = str(e.get("msg", ""))
        if e.get("type") == "string_pattern_mismatch":
            # The pattern itself is no help to a person; the schema documents it.
            reason = "contains a control or invisible character, is blank, or has the wrong form"
        out.append(
            {"field": ".".join([*([root] if root else []), *loc]) or "body", "reason": reason}
        )
    return out or [{"field": root or "body", "reason": "is not valid"}]


def _for_domain_error(
    exc: Exception, instance: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    kind = _kind_of(exc)
    if kind is None:
        return _internal(exc, instance)
    detail = getattr(exc, "reason", None) or str(exc)
    if kind.status >= 500 and not isinstance(
        exc,
        ModelError
        | AnchorError
        | StorageUnavailableError
        | DecoderBusyError
        | OperationalError
        | InterfaceError,
    ):
        return _internal(exc, instance)
    if isinstance(exc, ModelError):
        log.error("model unavailable: %s", exc)
        detail = "the detection model is not available; try again later"
    if isinstance(exc, StorageUnavailableError):
        # The reason names the endpoint and bucket: logged, never sent to clients.
        log.error("%s", exc)
        detail = "the evidence store is not reachable; try again later"
    if isinstance(exc, OperationalError | InterfaceError):
        # The driver's message names the host and port: logged, never sent.
        log.error("database unavailable: %s", exc)
        detail = "the database is not reachable; try again later"
    headers = dict(headers or {})
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is None:
        retry_after = kind.retry_after
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return problem_response(
        kind.status, kind.slug, kind.title, detail, instance, headers=headers, **extra
    )


def _internal(exc: Exception, instance: str) -> JSONResponse:
    log.exception("unhandled error on %s", instance, exc_info=exc)
    return problem_response(
        500,
        "internal",
        "Internal server error",
        "an unexpected error occurred; it has been logged",
        instance,
    )


_REJECTED = {
    "malformed": "the Authorization header does not carry a freshproof API key (fpk_...)",
    "unknown": "no such API key",
    "expired": "the API key has expired; ask an admin for a new one",
    "revoked": "the API key was revoked",
}

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    # Asked of the router itself, method by method: included routers nest their routes.
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(r.matches(scope)[0] == Match.FULL for r in request.app.router.routes):
            allowed.append(method)
    return allowed


def unavailable_problem(exc: Exception, instance: str) -> JSONResponse | None:
    """The 503 for a database or store that is down, from the table; None for anything else.

    For code outside the app's exception handlers (the edge middleware checks keys in the
    database before a route runs): an outage answers as it does inside a route."""
    if isinstance(exc, OperationalError | InterfaceError | StorageUnavailableError):
        return _for_domain_error(exc, instance)
    return None


def access_problem(exc: Exception, instance: str) -> JSONResponse:
    """The problem for a refused key, role or rate: the handler's, and the edge's (api.edge)."""
    headers: dict[str, str] = {}
    if isinstance(exc, MissingCredentialsError):
        headers["WWW-Authenticate"] = 'Bearer realm="freshproof"'
    if isinstance(exc, KeyRejectedError):
        headers["WWW-Authenticate"] = 'Bearer realm="freshproof", error="invalid_token"'
    if isinstance(exc, UndeclaredRouteError):
        log.error("refused %s: no permission declared in api/auth/access.py", exc.reason)
    if isinstance(exc, KeyRejectedError):
        detail = _REJECTED.get(exc.reason, "the API key was not accepted")
        return problem_response(
            401,
            "invalid-credentials",
            "API key not accepted",
            detail,
            instance,
            headers=headers,
            reason=exc.reason,
        )
    extra = {"field": exc.field} if isinstance(exc, InvalidKeySpecError) else {}
    return _for_domain_error(exc, instance, headers=headers, **extra)


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error class through the table above."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        extra = dict(exc.extra)
        headers = {}
        if (retry_after := extra.pop("retry_after", None)) is not None:
            headers["Retry-After"] = str(retry_after)
            extra["retry_after"] = retry_after
        return problem_response(
            exc.status, exc.slug, exc.title, exc.detail, request.url.path, headers=headers, **extra
        )

    @app.exception_handler(AccessError)
    @app.exception_handler(AuthError)
    async def _access(request: Request, exc: Exception) -> JSONResponse:
        return access_problem(exc, request.url.path)

    @app.exception_handler(VisionError)
    async def _vision(request: Request, exc: VisionError) -> JSONResponse:
        return _for_domain_error(exc, request.url.path, **getattr(exc, "extra", {}))

    @app.exception_handler(LedgerError)
    async def _ledger(request: Request, exc: LedgerError) -> JSONResponse:
        if isinstance(exc, AuditError | InconsistentCheckpointError):
            log.critical("ledger integrity: %s", exc)
        extra: dict[str, Any] = {}
        if isinstance(exc, EPCISDocumentError):
            # Every problem of the document at once, each naming its event and field.
            extra["errors"] = [
                {"event_index": e.index, "field": e.field, "reason": e.reason} for e in exc.errors
            ]
        if isinstance(exc, PartyError):
            extra = {"field": exc.field}
        if isinstance(exc, QueryParameterError):
            extra = {"field": exc.parameter}
        if isinstance(exc, QueryTooLargeError):
            extra = {"limit": exc.limit}
        if isinstance(exc, AmbiguousLotError):
            extra = {"lots": list(exc.lots)}
        if isinstance(exc, NotYourCustodyError):
            r = exc.refused
            extra = {"rule": r.rule, "event_index": r.event_index, "lot": r.lot}
            extra |= {"event_time": r.at.isoformat(), "needs": r.needs, "speaks_for": r.caller}
        headers: dict[str, str] = {}
        if isinstance(exc, TooManyEventsError):
            extra = {"limit": exc.limit, "actual": exc.actual}
            # The EPCIS 2.0 REST binding's name for the limit.
            headers["GS1-EPCIS-Capture-Limit"] = str(exc.limit)
        if isinstance(exc, DocumentTooLargeError | TooManyReadingsError):
            extra = {"limit": exc.limit, "actual": exc.actual}
        if isinstance(exc, DocumentTooLargeError):
            headers["GS1-EPCIS-Capture-File-Size-Limit"] = str(exc.limit)
        return _for_domain_error(exc, request.url.path, headers=headers, **extra)

    @app.exception_handler(ClaimsError)
    async def _claims(request: Request, exc: ClaimsError) -> JSONResponse:
        if isinstance(exc, PhotoRejectedError):
            # The decoder's own problem (413 or 422), naming every bad photo of the claim.
            return await _problem(request, rejected_photos_problem(exc.rejected))
        fielded = isinstance(exc, InvalidClaimError | InvalidDecisionError)
        extra: dict[str, Any] = {"field": getattr(exc, "field", None)} if fielded else {}
        return _for_domain_error(exc, request.url.path, **extra)

    @app.exception_handler(StationsError)
    async def _stations(request: Request, exc: StationsError) -> JSONResponse:
        extra: dict[str, Any] = {}
        if isinstance(exc, InvalidGradeError):
            extra = {"field": exc.field}
        if isinstance(exc, AmbiguousStationItemError):
            extra = {"stations": list(exc.stations)}
        return _for_domain_error(exc, request.url.path, **extra)

    @app.exception_handler(NotificationsError)
    async def _notifications(request: Request, exc: NotificationsError) -> JSONResponse:
        return _for_domain_error(exc, request.url.path)

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError) -> JSONResponse:
        # Unavailable: a 503 from the table; integrity and other storage faults: a logged 500.
        return _for_domain_error(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        return problem_response(
            422,
            "validation",
            "Request is not valid",
            "; ".join(f"{e['field']}: {e['reason']}" for e in errors),
            request.url.path,
            field=errors[0]["field"],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {
            400: "malformed-body",
            404: "not-found",
            405: "method-not-allowed",
            413: "request-too-large",
        }.get(exc.status_code, "http-error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            # RFC 9110 §15.5.6: every method the path has, not only those of the first route
            # whose path matched (Starlette's own Allow header).
            headers["Allow"] = ", ".join(_allowed_methods(request))
        # RFC 9457 §3.1: the title is the kind's summary, the same for every occurrence; what
        # went wrong this time (a multipart part over its size, say) is the detail.
        try:
            title = HTTPStatus(exc.status_code).phrase
        except ValueError:  # a status outside the registry
            title = "HTTP error"
        detail = str(exc.detail)
        return problem_response(
            exc.status_code,
            slug,
            title,
            None if detail == title else detail,
            request.url.path,
            headers=headers,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        return _for_domain_error(exc, request.url.path)

    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception) -> JSONResponse:
        return _internal(exc, request.url.path)
