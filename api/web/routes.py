"""The workbench's pages: login, the review queue, a claim with its proofs, decisions.

Thin handlers over the same domain calls the API makes (``cases.adjudication.decide``,
``move_ticket``, ``claims.views.get_claim``): a decision from the workbench and one from
the API are the same ledger entry. Every page but the login needs a session
(``api.web.session.current_session``); every form posts its session's CSRF token. Refusals
are the API's problems, shown as sentences on the page they came from.
"""

from __future__ import annotations

import hmac
import io
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from PIL import Image
from pydantic import ValidationError

from api.auth.keys import KeyRejectedError
from api.routes.review import TicketMove
from api.services import Services
from api.web.forms import CORNERS, decision_from_form
from api.web.session import (
    COOKIE,
    LOGIN_REASONS,
    WORKBENCH_ROLES,
    SessionStore,
    WebUser,
    current_session,
    form_session,
)
from api.web.views import (
    FILTER_NAMES,
    MOVES,
    Refusal,
    claim_view,
    fact_text,
    queue_rows,
    refusal,
)
from cases.adjudication import decide
from cases.approval import answer_proposal
from cases.moves import move_ticket
from cases.queue import QUEUE_FILTERS, review_queue
from claims.errors import ClaimsError, InvalidDecisionError, UnknownClaimError
from claims.views import get_claim
from storage.errors import EvidenceNotFoundError

__all__ = ["LOGIN_COOKIE", "page", "router", "templates"]

router = APIRouter(prefix="/review", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
User = Annotated[WebUser, Depends(current_session)]
FormUser = Annotated[WebUser, Depends(form_session)]

LOGIN_COOKIE = "fp_login"
"""Double-submit token of the login form: no session exists yet to carry a CSRF token."""

# Scripts, styles and images from this origin only; the proof script fetches the key here.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# What browsers show as is; any other stored format (HEIC, TIFF) is re-encoded as JPEG.
_BROWSER_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_DONE = {
    "decided": "Decision recorded; the ticket is resolved.",
    "proposed": "Proposal recorded: it is over the adjudicator's limit, so it waits for a "
    "second adjudicator's approval.",
    "approved": "Proposal approved and paid; the ticket is resolved.",
    "rejected": "Proposal rejected; the claim is back in review.",
    **{a: f"Ticket moved: {label.lower()}." for a, label in MOVES.items()},
}


def _when(value: str | datetime | None) -> str:
    if value is None:
        return "—"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%d %b %Y %H:%M UTC")


templates.env.filters["when"] = _when
templates.env.filters["iso"] = lambda at: at.isoformat() if isinstance(at, datetime) else at
templates.env.filters["fact"] = fact_text


def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """Render a workbench template with the headers every page carries."""
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=_HEADERS
    )


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.web_sessions
    return store


def _safe_next(target: str | None) -> str:
    # Only a path of the workbench: never another site ("//evil", "/\\evil").
    if target and target.startswith("/review") and "//" not in target and "\\" not in target:
        return target
    return "/review"


def _set_cookie(request: Request, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/review",
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.web_secure_cookies,
    )


def _login_form(
    request: Request, *, error: str | None = None, status_code: int = 200, next_: str = "/review"
) -> Response:
    token = secrets.token_urlsafe(32)
    notice = LOGIN_REASONS.get(request.query_params.get("reason", ""))
    response = page(
        request,
        "login.html",
        {"login_csrf": token, "error": error, "notice": notice, "next": _safe_next(next_)},
        status_code,
    )
    _set_cookie(request, response, LOGIN_COOKIE, token, 3600)
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/review") -> Response:
    """The login form: paste an adjudicator's (or an auditor's) API key."""
    return _login_form(request, next_=next)


@router.post("/login")
def login(
    request: Request,
    api_key: Annotated[str, Form()] = "",
    login_csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/review",
) -> Response:
    """Check the key, open a session and set its cookie; the form again if refused."""
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), login_csrf.encode()):
        return _login_form(
            request,
            error="The login form expired or came from elsewhere; try again.",
            status_code=403,
        )
    services = _services(request)
    try:
        who = services.keys.authenticate(api_key.strip())
    except KeyRejectedError as exc:
        text = {"malformed": "That is not a freshproof API key (fpk_…)."}.get(
            exc.reason, f"That API key is not accepted ({exc.reason})."
        )
        return _login_form(request, error=text, status_code=401, next_=next)
    if who.role not in WORKBENCH_ROLES:
        return _login_form(
            request,
            error=f"A {who.role} key cannot use the workbench; adjudicators and auditors can.",
            status_code=403,
            next_=next,
        )
    services.rate_limiter.take(who.key_id)
    token, session = _store(request).create(who)
    response = RedirectResponse(_safe_next(next), status_code=303)
    age = int((session.expires_at - session.created_at).total_seconds())
    _set_cookie(request, response, COOKIE, token, age)
    response.delete_cookie(LOGIN_COOKIE, path="/review")
    return response


@router.post("/logout")
def logout(request: Request, user: FormUser) -> Response:
    """End the session and forget its cookie."""
    _store(request).end(user.session)
    response = RedirectResponse("/review/login?reason=logout", status_code=303)
    response.delete_cookie(COOKIE, path="/review")
    return response


@router.get("")
def queue(request: Request, user: User, view: str | None = None) -> Response:
    """Open claims, the soonest resolution deadline first, in one of the queue's views."""
    chosen = view if view in QUEUE_FILTERS else None
    now = datetime.now(UTC)
    items = review_queue(_services(request).engine, view=chosen, now=now, limit=200)
    return page(
        request,
        "queue.html",
        {"user": user, "rows": queue_rows(items), "view": chosen, "filters": FILTER_NAMES},
    )


def _claim_page(
    request: Request,
    user: WebUser,
    claim_id: str,
    *,
    problem: Refusal | None = None,
    form: dict[str, Any] | None = None,
    notice: str | None = None,
) -> Response:
    services = _services(request)
    try:
        claim = get_claim(services.engine, claim_id, now=datetime.now(UTC))
    except UnknownClaimError:
        return page(
            request,
            "error.html",
            {"user": user, "title": "No such claim", "detail": "No claim has this id."},
            404,
        )
    context = {
        "user": user,
        "v": claim_view(services, claim),
        "problem": problem,
        "form": form or {},
        "notice": notice,
        "corners": CORNERS,
    }
    return page(request, "claim.html", context, problem.status if problem else 200)


@router.get("/claims/{claim_id}")
def claim_page(request: Request, user: User, claim_id: str, done: str | None = None) -> Response:
    """One claim: photos with boxes, custody and temperatures, reasons with verified proofs."""
    return _claim_page(request, user, claim_id, notice=_DONE.get(done or ""))


@router.get("/claims/{claim_id}/photos/{position}")
def photo(request: Request, user: User, claim_id: str, position: int) -> Response:
    """A claim photo's served copy (GPS and device serials removed), never the original."""
    services = _services(request)
    try:
        claim = get_claim(services.engine, claim_id)
        sha256 = claim["photos"][position]["sha256"]
        data = services.evidence.get_served(sha256)
    except (UnknownClaimError, IndexError, EvidenceNotFoundError):
        return Response("no such photo", status_code=404, media_type="text/plain")
    with Image.open(io.BytesIO(data)) as img:
        media = _BROWSER_FORMATS.get(img.format or "")
        if media is None:
            out = io.BytesIO()
            img.convert("RGB").save(out, format="JPEG", quality=90)
            data, media = out.getvalue(), "image/jpeg"
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=media, headers=headers)


def _forbidden(request: Request, user: WebUser, what: str) -> Response:
    detail = f"A {user.principal.role} key may not {what}."
    return page(
        request, "error.html", {"user": user, "title": "Not allowed", "detail": detail}, 403
    )


async def _posted(request: Request) -> dict[str, str]:
    """The posted form's text fields (the decision form's names vary with the findings)."""
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


Posted = Annotated[dict[str, str], Depends(_posted)]


@router.post("/claims/{claim_id}/decision")
def decision(request: Request, user: FormUser, claim_id: str, form: Posted) -> Response:
    """Decide the claim (``cases.adjudication.decide``), which resolves its ticket."""
    if not user.can_decide:
        return _forbidden(request, user, "decide claims")
    services = _services(request)
    try:
        claim = get_claim(services.engine, claim_id)
        result = decide(
            ledger=services.ledger,
            claim_id=claim_id,
            decision=decision_from_form(form, claim["photos"]),
            actor=user.principal.actor,
            now=datetime.now(UTC),
            policy=services.claims_config.compensation,
            webhooks=services.claims_config.webhooks,
        )
    except (ClaimsError, ValidationError) as exc:
        if (problem := refusal(exc)) is None:
            raise
        return _claim_page(request, user, claim_id, problem=problem, form=form)
    services.after_write()
    done = "proposed" if "proposal" in result else "decided"
    return RedirectResponse(f"/review/claims/{quote(claim_id)}?done={done}", status_code=303)


@router.post("/claims/{claim_id}/approval")
def approval(request: Request, user: FormUser, claim_id: str, form: Posted) -> Response:
    """Approve or reject the proposal waiting on the claim (``answer_proposal``)."""
    if not user.can_decide:
        return _forbidden(request, user, "approve claims")
    services = _services(request)
    answer = form.get("answer", "")
    try:
        answer_proposal(
            ledger=services.ledger,
            claim_id=claim_id,
            answer=answer,
            note=form.get("note", "").strip()[:4000],
            actor=user.principal.actor,
            approval_limit=user.principal.approval_limit,
            now=datetime.now(UTC),
            policy=services.claims_config.compensation,
            webhooks=services.claims_config.webhooks,
        )
    except ClaimsError as exc:
        if (problem := refusal(exc)) is None:
            raise
        return _claim_page(request, user, claim_id, problem=problem)
    services.after_write()
    done = "approved" if answer == "approve" else "rejected"
    return RedirectResponse(f"/review/claims/{quote(claim_id)}?done={done}", status_code=303)


@router.post("/claims/{claim_id}/ticket")
def ticket(request: Request, user: FormUser, claim_id: str, form: Posted) -> Response:
    """Acknowledge, wait on the customer, resume or reopen the claim's ticket.

    The fields are checked by the API's own ``TicketMove``; resolving is left to a decision.
    """
    if not user.can_move_tickets:
        return _forbidden(request, user, "move tickets")
    services = _services(request)
    try:
        move = TicketMove.model_validate(
            {"action": form.get("action", ""), "note": form.get("note", "").strip()}
        )
        if move.action not in MOVES:
            raise InvalidDecisionError("action", "a ticket is resolved by deciding the claim")
        move_ticket(
            ledger=services.ledger,
            claim_id=claim_id,
            action=move.action,
            actor=user.principal.actor,
            note=move.note,
            now=datetime.now(UTC),
            webhooks=services.claims_config.webhooks,
        )
    except (ClaimsError, ValidationError) as exc:
        if (problem := refusal(exc)) is None:
            raise
        return _claim_page(request, user, claim_id, problem=problem)
    services.after_write()
    return RedirectResponse(f"/review/claims/{quote(claim_id)}?done={move.action}", status_code=303)
