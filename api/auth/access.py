"""Who may call what: one table of route → permission, one of role → permissions.

Every request passes ``authorize`` (an app-wide dependency). It finds the matched route's
permission in ``ROUTE_PERMISSIONS``; a route missing from the table is refused (fail closed)
and the matrix test names it. Public routes need nothing; every other route needs a bearer
key (``api.auth.keys``) whose role holds the permission, then passes the key's rate limit.
What a key may see *within* a route (a customer app only its own customer's claims, a
supply-chain system only the parties it speaks for) is checked by the route with the
``Principal`` this leaves on ``request.state.principal``.

Roles, and why these: a customer app files and reads its own customer's claims and asks
for inspections; a supply-chain system captures events and registers the parties it speaks
for, reads lot traces, and queries the events of the lots its parties took part in (the
EPCIS query; staff who read the ledger query every event); a station inspects and reads traces (its batch API comes with the
stations issue); an adjudicator works the review queue, decides claims and moves tickets,
and reads claims, traces and the ledger (the admin does not decide claims: who manages keys
should not also pay out, and an admin cannot mint a deciding key alone either: an
adjudicator or admin key issued through the API needs a second admin); above the adjudicator limit a second adjudicator approves, with an
approval limit only the server's shell grants (``freshproof keys create --approval-limit``),
never the API, so an admin key cannot mint its own approver; an ML engineer runs
inspections and reads metrics; an auditor reads everything and changes nothing; an admin
manages keys and parties (changing a party's role is the admin's alone, because roles decide
verdicts), anchors checkpoints and reads everything. Public: liveness, the signed
checkpoint, the verifier key, consistency proofs and anchors (hashes only: anyone holding an
old checkpoint can check the log only grew). Entries and their inclusion proofs are not
public: claim entries name customers and describe their complaints; auditors and
adjudicators read them, and the claim dossier carries the ones a counter-party needs.
The workbench's pages (``WEB_SESSION``) take no bearer key: each checks its session
cookie, and the key behind it, itself (``api.web.session``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType

from fastapi import Request

from api.auth.keys import ROLES, Principal, a_role
from api.auth.rate_limit import Buckets, LocalBuckets

__all__ = [
    "ADDRESS_PREFIX",
    "ADMITTED",
    "PUBLIC",
    "ROLE_PERMISSIONS",
    "ROUTE_PERMISSIONS",
    "AccessError",
    "ForbiddenError",
    "MissingCredentialsError",
    "Permission",
    "RateLimitedError",
    "RateLimiter",
    "UndeclaredRouteError",
    "admit",
    "authorize",
    "openapi_permissions",
    "principal",
    "roles_with",
]


class Permission(StrEnum):
    """What a route needs."""

    PUBLIC = "public"
    INSPECT = "inspect"
    CLAIMS_FILE = "claims:file"
    CLAIMS_READ = "claims:read"  # a customer app: its own customer's only
    EVENTS_CAPTURE = "events:capture"
    # The EPCIS query: a supply-chain key the lots its parties took part in, staff all.
    EVENTS_READ = "events:read"
    PARTIES_REGISTER = "parties:register"  # a supply-chain system: its own parties only
    PARTIES_CHANGE_ROLE = "parties:change-role"
    TRACE_READ = "trace:read"
    # The FDA FSMA 204 spreadsheet of a lot: a supply-chain key only for its parties' lots.
    FSMA_EXPORT = "fsma:export"
    LEDGER_READ = "ledger:read"
    LEDGER_ANCHOR = "ledger:anchor"
    KEYS_MANAGE = "keys:manage"
    METRICS = "metrics"
    REVIEW_READ = "review:read"
    CLAIMS_DECIDE = "claims:decide"
    TICKETS_MANAGE = "tickets:manage"
    # The workbench's pages: no bearer key here; the route's own dependency checks the
    # session cookie and the key behind it (api/web/session.py: current_session).
    WEB_SESSION = "web-session"
    # A pack's public page (the QR code's link): no key, but the edge counts the client
    # address's rate as it counts a key's (api/edge.py).
    PUBLIC_PAGE = "public-page"
    STATIONS_GRADE = "stations:grade"
    STATIONS_REVIEW = "stations:review"  # grade the items a station's model was unsure of
    STATIONS_READ = "stations:read"  # a station: its own batches only; staff who read all


PUBLIC = Permission.PUBLIC
P = Permission

ROLE_PERMISSIONS: Mapping[str, frozenset[Permission]] = MappingProxyType(
    {
        "customer_app": frozenset({P.INSPECT, P.CLAIMS_FILE, P.CLAIMS_READ}),
        "supply_chain": frozenset(
            {P.EVENTS_CAPTURE, P.EVENTS_READ, P.PARTIES_REGISTER, P.TRACE_READ, P.FSMA_EXPORT}
        ),
        "station": frozenset({P.INSPECT, P.TRACE_READ, P.STATIONS_GRADE, P.STATIONS_READ}),
        "adjudicator": frozenset(
            {
                P.INSPECT,
                P.CLAIMS_READ,
                P.EVENTS_READ,
                P.TRACE_READ,
                P.LEDGER_READ,
                P.REVIEW_READ,
                P.CLAIMS_DECIDE,
                P.TICKETS_MANAGE,
                P.STATIONS_REVIEW,
            }
        ),
        "ml_engineer": frozenset({P.INSPECT, P.METRICS}),
        "auditor": frozenset(
            {
                P.CLAIMS_READ,
                P.EVENTS_READ,
                P.TRACE_READ,
                P.FSMA_EXPORT,
                P.LEDGER_READ,
                P.METRICS,
                P.REVIEW_READ,
                P.STATIONS_READ,
            }
        ),
        "admin": frozenset(
            {
                P.PARTIES_REGISTER,
                P.PARTIES_CHANGE_ROLE,
                P.EVENTS_READ,
                P.TRACE_READ,
                P.FSMA_EXPORT,
                P.CLAIMS_READ,
                P.LEDGER_READ,
                P.LEDGER_ANCHOR,
                P.KEYS_MANAGE,
                P.METRICS,
                P.REVIEW_READ,
                P.STATIONS_READ,
            }
        ),
    }
)
assert set(ROLE_PERMISSIONS) == set(ROLES)

# (method, route path as declared) → permission. HEAD follows GET.
ROUTE_PERMISSIONS: Mapping[tuple[str, str], Permission] = MappingProxyType(
    {
        ("GET", "/healthz"): P.PUBLIC,
        ("GET", "/readyz"): P.PUBLIC,
        ("GET", "/metrics"): P.METRICS,
        ("POST", "/v1/inspect"): P.INSPECT,
        ("GET", "/v1/ledger/checkpoint"): P.PUBLIC,
        ("GET", "/v1/ledger/key"): P.PUBLIC,
        ("GET", "/v1/ledger/consistency"): P.PUBLIC,
        ("GET", "/v1/ledger/anchors"): P.PUBLIC,
        ("GET", "/v1/ledger/entries/{index}"): P.LEDGER_READ,
        ("POST", "/v1/ledger/anchors"): P.LEDGER_ANCHOR,
        ("POST", "/v1/parties"): P.PARTIES_REGISTER,
        ("POST", "/v1/events"): P.EVENTS_CAPTURE,
        ("GET", "/v1/events"): P.EVENTS_READ,
        ("GET", "/v1/eventTypes/{event_type}/events"): P.EVENTS_READ,
        # A held capture (POST /v1/events answered 202): its sender's parties and staff.
        ("GET", "/v1/events/held/{held_id}"): P.EVENTS_READ,
        ("GET", "/v1/lots/{lot:path}/trace"): P.TRACE_READ,
        ("GET", "/v1/lots/{lot:path}/fsma"): P.FSMA_EXPORT,
        ("POST", "/v1/claims"): P.CLAIMS_FILE,
        ("GET", "/v1/claims"): P.CLAIMS_READ,
        ("GET", "/v1/claims/{claim_id}"): P.CLAIMS_READ,
        # Other parties' records with their proofs: for adjudicators and auditors to send.
        ("GET", "/v1/claims/{claim_id}/dossier"): P.LEDGER_READ,
        ("POST", "/v1/claims/{claim_id}/decision"): P.CLAIMS_DECIDE,
        # The second person of four eyes: an adjudicator too (never an admin), not the
        # proposer, with an approval limit covering the amount (cases.approval).
        ("POST", "/v1/claims/{claim_id}/approval"): P.CLAIMS_DECIDE,
        ("POST", "/v1/claims/{claim_id}/ticket"): P.TICKETS_MANAGE,
        ("GET", "/v1/review"): P.REVIEW_READ,
        ("POST", "/v1/stations/batches"): P.STATIONS_GRADE,
        ("GET", "/v1/stations/jobs/{batch_id:path}"): P.STATIONS_READ,
        ("GET", "/v1/review/stations"): P.REVIEW_READ,
        ("GET", "/v1/review/stations/{batch_id:path}/{position:int}"): P.REVIEW_READ,
        ("GET", "/v1/review/stations/{batch_id:path}/{position:int}/photos/{n}"): P.REVIEW_READ,
        ("POST", "/v1/review/stations/{batch_id:path}/{position:int}/grade"): P.STATIONS_REVIEW,
        ("POST", "/v1/keys"): P.KEYS_MANAGE,
        ("GET", "/v1/keys"): P.KEYS_MANAGE,
        ("DELETE", "/v1/keys/{key_id}"): P.KEYS_MANAGE,
        # Key requests (adjudicator, admin): a second admin answers (api/routes/keys.py).
        ("GET", "/v1/key-requests"): P.KEYS_MANAGE,
        ("GET", "/v1/key-requests/{request_id}"): P.KEYS_MANAGE,
        ("POST", "/v1/key-requests/{request_id}/approval"): P.KEYS_MANAGE,
        # The adjudicator workbench (api/web): HTML, not in the OpenAPI document.
        ("GET", "/review/login"): P.PUBLIC,
        ("POST", "/review/login"): P.PUBLIC,
        ("POST", "/review/logout"): P.WEB_SESSION,
        ("GET", "/review"): P.WEB_SESSION,
        ("GET", "/review/claims/{claim_id}"): P.WEB_SESSION,
        ("GET", "/review/claims/{claim_id}/photos/{position}"): P.WEB_SESSION,
        ("POST", "/review/claims/{claim_id}/decision"): P.WEB_SESSION,
        ("POST", "/review/claims/{claim_id}/approval"): P.WEB_SESSION,
        ("POST", "/review/claims/{claim_id}/ticket"): P.WEB_SESSION,
        ("GET", "/review/stations"): P.WEB_SESSION,
        ("GET", "/review/stations/{batch_id:path}/{position:int}/photos/{n}"): P.WEB_SESSION,
        ("POST", "/review/stations/{batch_id:path}/{position:int}/grade"): P.WEB_SESSION,
        # The operations dashboard and its figures as JSON (api/web/operations.py).
        ("GET", "/review/operations"): P.WEB_SESSION,
        ("GET", "/review/operations.json"): P.WEB_SESSION,
        # A pack's public page, its QR code (GS1 Digital Link paths; api/web/pack.py).
        ("GET", "/01/{link:path}"): P.PUBLIC_PAGE,
    }
)


def openapi_permissions() -> dict[tuple[str, str], Permission]:
    """``ROUTE_PERMISSIONS`` keyed by the OpenAPI document's paths (``{lot:path}`` → ``{lot}``)."""
    return {
        (method.lower(), re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)): permission
        for (method, path), permission in ROUTE_PERMISSIONS.items()
    }


def roles_with(permission: Permission) -> tuple[str, ...]:
    """The roles holding a permission, in ``ROLES`` order."""
    return tuple(r for r in ROLES if permission in ROLE_PERMISSIONS[r])


class AccessError(Exception):
    """A request refused for who is asking (or not asking)."""


class MissingCredentialsError(AccessError):
    """No ``Authorization: Bearer`` header, or one of another scheme."""

    def __init__(self, reason: str = "this route needs an API key: Authorization: Bearer <key>"):
        self.reason = reason
        super().__init__(reason)


class ForbiddenError(AccessError):
    """The key is valid, but its role (or binding) does not allow this."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class UndeclaredRouteError(AccessError):
    """A route with no entry in ``ROUTE_PERMISSIONS``: refused until one is declared."""

    def __init__(self, method: str, path: str) -> None:
        self.method, self.path = method, path
        self.reason = f"{method} {path} declares no permission"
        super().__init__(self.reason)


class RateLimitedError(AccessError):
    """Too many requests on one key."""

    def __init__(self, key_id: str, retry_after: int) -> None:
        self.key_id, self.retry_after = key_id, retry_after
        source = "from this address" if key_id.startswith(ADDRESS_PREFIX) else "on this key"
        self.reason = f"too many requests {source}; retry in {retry_after} s"
        super().__init__(self.reason)


ADDRESS_PREFIX = "ip:"
"""Rate buckets of public pages are the client address's, under this prefix (a key id has
none, so the two never share a bucket)."""


class RateLimiter:
    """A token bucket per key: ``per_minute`` sustained, bursts up to ``burst``.

    The buckets are this process's (``LocalBuckets``, the embedded mode: with several
    processes each allows the rate) unless shared ones are given (``SharedBuckets``: Redis,
    every process counting together; ``api.auth.rate_limit``).
    """

    def __init__(
        self,
        per_minute: int,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        buckets: Buckets | None = None,
    ) -> None:
        self.rate = per_minute / 60.0
        self.buckets: Buckets = buckets or LocalBuckets(per_minute, burst, clock)

    def take(self, key_id: str) -> None:
        """Spend one token or raise ``RateLimitedError`` with the seconds to wait."""
        if self.rate <= 0:
            return
        wait = self.buckets.spend(key_id)
        if wait > 0:
            raise RateLimitedError(key_id, max(1, math.ceil(wait)))

    def close(self) -> None:
        """Release the buckets' connections (shared buckets)."""
        self.buckets.close()


def _route_permission(request: Request) -> Permission:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    method = "GET" if request.method == "HEAD" else request.method
    permission = ROUTE_PERMISSIONS.get((method, path))
    if permission is None:
        raise UndeclaredRouteError(method, path)
    return permission


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise MissingCredentialsError()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingCredentialsError("the Authorization header must be 'Bearer <key>'")
    return token.strip()


ADMITTED = "freshproof.admitted"
"""The scope key under which the edge (``api.edge``) leaves the principal it admitted."""


def admit(request: Request, permission: Permission) -> Principal:
    """Key valid, role allowed, rate kept: the check of a permission that needs a key.

    The edge (``api.edge``) runs it from the headers alone, before the body is read, and
    leaves the principal in the scope under ``ADMITTED``; ``authorize`` takes it from there,
    so a request spends one token of its key's rate, not two.
    """
    services = request.app.state.services
    # A malformed, unknown, expired or revoked key raises KeyRejectedError: a 401.
    who: Principal = services.keys.authenticate(_bearer(request))
    if permission not in ROLE_PERMISSIONS[who.role]:
        raise ForbiddenError(
            f"{a_role(who.role)} key may not do this; it needs one of: "
            + ", ".join(roles_with(permission))
        )
    services.rate_limiter.take(who.key_id)
    return who


def authorize(request: Request) -> None:
    """The app-wide check: permission declared, key valid, role allowed, rate kept."""
    permission = _route_permission(request)
    request.state.principal = None
    if permission in (PUBLIC, Permission.WEB_SESSION, Permission.PUBLIC_PAGE):
        # A workbench page checks its session cookie itself (api.web.session).
        return
    who: Principal | None = request.scope.get(ADMITTED)
    if who is None or permission not in ROLE_PERMISSIONS[who.role]:
        who = admit(request, permission)
    request.state.principal = who


def principal(request: Request) -> Principal:
    """The caller's key, as ``authorize`` found it (routes that are not public)."""
    who: Principal | None = getattr(request.state, "principal", None)
    if who is None:  # a public route asked for a principal: a programming error
        raise UndeclaredRouteError(request.method, request.url.path)
    return who
