"""Workbench sessions: a cookie for people, standing on the API key they logged in with.

An adjudicator (or a read-only auditor) pastes their API key once; the server keeps a
session row and the browser a random 32-byte id in the ``fp_session`` cookie (HttpOnly,
SameSite=Strict, Path=/review, and Secure unless ``web_secure_cookies`` is turned off for
plain-http development on 127.0.0.1, as ``make run`` does). Only the id's
SHA-256 is stored, as with API keys: a copy of the table opens no session. Each session
carries a CSRF token that every form posts back.

The key is checked again on every request (``KeyStore.get``): revoking or expiring the key
ends its sessions at once, not eight hours later. The key's rate limit applies too.

Errors::

    WebSessionError
    ├── LoginRequiredError   no session, an expired one, or its key no longer active
    └── CsrfError            a form without the session's CSRF token
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Form, Request
from sqlalchemy import Column, DateTime, String, Table

from api.auth.access import ROLE_PERMISSIONS, Permission
from api.auth.keys import Principal, UnknownKeyError
from ledger.clock import utc_now
from storage.schema import metadata

__all__ = [
    "COOKIE",
    "LOGIN_REASONS",
    "SESSION_LIFETIME",
    "WORKBENCH_ROLES",
    "CsrfError",
    "LoginRequiredError",
    "SessionStore",
    "WebSession",
    "WebSessionError",
    "WebUser",
    "create_web_session_tables",
    "current_session",
    "form_session",
    "web_sessions",
    "web_sessions_metadata",
]

COOKIE = "fp_session"
"""The session cookie's name."""

SESSION_LIFETIME = timedelta(hours=8)
"""A working day; then the adjudicator pastes the key again."""

WORKBENCH_ROLES = ("adjudicator", "auditor")
"""Roles that may log in: adjudicators decide, auditors only read."""

web_sessions_metadata = metadata
"""The MetaData the session table is defined on: the shared one (``storage.schema``)."""

web_sessions = Table(
    "web_sessions",
    web_sessions_metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("key_id", String(8), nullable=False, index=True),
    Column("role", String(20), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
"""One row per open session: the SHA-256 of its cookie, the key behind it, its CSRF token."""


def create_web_session_tables(engine: sa.Engine) -> None:
    """Create the session table if missing (tests; the service migrates: ``api.database``)."""
    web_sessions_metadata.create_all(engine, tables=[web_sessions])


class WebSessionError(Exception):
    """Root of the workbench session errors."""


LOGIN_REASONS = {
    "ended": "Your session has ended; log in again.",
    "revoked": "The API key of your session was revoked; log in with another.",
    "expired": "The API key of your session has expired; log in with another.",
    "logout": "You have logged out.",
}
"""Why the login page is shown, by the code in its ``reason`` query parameter.

A code, not the text: the login page must not print whatever a link puts in its URL.
"""


class LoginRequiredError(WebSessionError):
    """The request carries no usable session; ``code`` (a ``LOGIN_REASONS`` key) says why."""

    def __init__(self, code: str = "") -> None:
        self.code = code
        super().__init__(LOGIN_REASONS.get(code, "login required"))


class CsrfError(WebSessionError):
    """A form posted without this session's CSRF token: forged, or from a stale page."""

    def __init__(self) -> None:
        self.reason = "the form's security token does not match this session; reload the page"
        super().__init__(self.reason)


@dataclass(frozen=True)
class WebSession:
    """A stored session (never its id: only the id's hash is kept)."""

    id_hash: str
    key_id: str
    role: str
    csrf: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class WebUser:
    """Who a workbench request acts as: the session and the key it stands on."""

    session: WebSession
    principal: Principal

    @property
    def csrf(self) -> str:
        """The token every form of this session posts back."""
        return self.session.csrf

    @property
    def can_decide(self) -> bool:
        """May decide claims (an adjudicator; an auditor reads only)."""
        return Permission.CLAIMS_DECIDE in ROLE_PERMISSIONS[self.principal.role]

    @property
    def can_move_tickets(self) -> bool:
        """May acknowledge, wait on the customer, resume and reopen tickets."""
        return Permission.TICKETS_MANAGE in ROLE_PERMISSIONS[self.principal.role]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time written here was UTC.
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class SessionStore:
    """The session table: open, find and end sessions."""

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def create(self, principal: Principal) -> tuple[str, WebSession]:
        """Open a session for a key; returns the cookie value (shown once) and the session.

        Expired sessions are swept on the way, so the table holds only live ones.
        """
        token = secrets.token_urlsafe(32)
        now = self._clock()
        expires = now + SESSION_LIFETIME
        if principal.expires_at is not None:
            expires = min(expires, _aware(principal.expires_at))
        session = WebSession(
            _hash(token), principal.key_id, principal.role, secrets.token_urlsafe(32), now, expires
        )
        with self._engine.begin() as conn:
            conn.execute(sa.delete(web_sessions).where(web_sessions.c.expires_at <= now))
            conn.execute(sa.insert(web_sessions).values(**vars(session)))
        return token, session

    def find(self, token: str) -> WebSession | None:
        """The live session a cookie names, or None (unknown or expired)."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(web_sessions).where(web_sessions.c.id_hash == _hash(token))
            ).first()
        if row is None:
            return None
        session = WebSession(
            row.id_hash,
            row.key_id,
            row.role,
            row.csrf,
            _aware(row.created_at),
            _aware(row.expires_at),
        )
        if session.expires_at <= self._clock():
            self.end(session)
            return None
        return session

    def end(self, session: WebSession) -> None:
        """End one session (logout, or its key stopped working)."""
        with self._engine.begin() as conn:
            conn.execute(sa.delete(web_sessions).where(web_sessions.c.id_hash == session.id_hash))


def current_session(request: Request) -> WebUser:
    """The dependency every workbench page takes: a live session on an active key.

    ``LoginRequiredError`` (a redirect to the login page) otherwise; the key's rate limit
    is spent like an API call's.
    """
    store: SessionStore = request.app.state.web_sessions
    services = request.app.state.services
    token = request.cookies.get(COOKIE)
    if not token:
        raise LoginRequiredError()
    session = store.find(token)
    if session is None:
        raise LoginRequiredError("ended")
    try:
        record = services.keys.get(session.key_id)
    except UnknownKeyError:
        record = None
    state = record.state(datetime.now(UTC)) if record is not None else "revoked"
    if record is None or state != "active" or record.role != session.role:
        store.end(session)
        raise LoginRequiredError("expired" if state == "expired" else "revoked")
    services.rate_limiter.take(record.key_id)
    return WebUser(session, record.principal())


def form_session(
    user: Annotated[WebUser, Depends(current_session)],
    csrf: Annotated[str, Form()] = "",
) -> WebUser:
    """``current_session`` for a form post: its hidden ``csrf`` field must be the session's."""
    if not hmac.compare_digest(csrf.encode(), user.csrf.encode()):
        raise CsrfError()
    return user
