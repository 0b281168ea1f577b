"""API keys: issue, list, revoke and authenticate the credential every API caller presents.

A token is ``fpk_<key id>_<secret>``. The 8-hex key id is public: it names the key in
logs, listings, audit and ledger entries. The secret is 32 random bytes, base64url
(43 characters). Only the SHA-256 of the whole token is stored. Slow password hashes
(bcrypt, scrypt, argon2) exist to make guessing low-entropy passwords expensive; a
256-bit random secret cannot be guessed, so one SHA-256 is as strong and keeps the check
on every request in microseconds.

Each key has one role and, for some roles, bindings that narrow what it speaks for: a
``customer_app`` key one customer, a ``supply_chain`` key its parties (PGLN URNs), a
``station`` key one station and its read point (an SGLN URN). An ``adjudicator`` key may
carry an approval limit: the most it approves as the second person when another adjudicator
proposes compensation above the policy's adjudicator limit (four eyes, GUIDE §4 rule 7).

With a ledger, issuing and revoking append ``key.created`` / ``key.revoked`` entries
naming who did it, in the same transaction as the table row (``Ledger.writer``), so the
table and the log never disagree. The token and its hash never leave this module.

Separation of duties (``SECOND_ADMIN_ROLES``): a key that may decide or approve claims (an
adjudicator's, or any with an approval limit) or manage keys (an admin's) is never issued
on one admin's word through the API. The first admin's ``request`` stores a pending
``KeyRequest`` (``key.requested``); a *different* admin answers it (``answer_request``:
``key.request.approved`` then ``key.created`` in one transaction, or
``key.request.rejected``). The token is made at approval and shown once, to the approving
admin, who hands it to its holder: no secret is ever stored to be fetched later. A
request not answered within ``REQUEST_LIFETIME`` expires. The last active admin key is
never revoked (``LastAdminError``): an installation always keeps someone who manages keys.

``create`` issues at once; it is the server shell's path (``freshproof keys create``),
the root of trust that makes the first admin: whoever runs it already holds the database.

Errors::

    AuthError
    ├── InvalidKeySpecError      a requested key's role, bindings, name or lifetime is refused
    ├── UnknownKeyError          no key has that id
    ├── KeyRejectedError         a presented token is malformed, unknown, expired or revoked
    ├── UnknownKeyRequestError   no key request has that id
    ├── KeyRequestClosedError    the request was answered already, or expired
    ├── SameAdminError           the admin who requested a key tried to approve it
    └── LastAdminError           revoking the key would leave no active admin
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Column, DateTime, Integer, Numeric, String, Table, Text

from ledger.log import Ledger, LedgerWriter
from storage.schema import metadata
from supplychain.identifiers.tds import EPCError, check_party_id, check_sgln

__all__ = [
    "KEY_PREFIX",
    "REQUEST_LIFETIME",
    "ROLES",
    "SECOND_ADMIN_ROLES",
    "AuthError",
    "InvalidKeySpecError",
    "KeyRecord",
    "KeyRejectedError",
    "KeyRequest",
    "KeyRequestClosedError",
    "KeyStore",
    "LastAdminError",
    "Principal",
    "RejectReason",
    "SameAdminError",
    "UnknownKeyError",
    "UnknownKeyRequestError",
    "a_role",
    "api_key_requests",
    "api_keys",
    "create_key_tables",
    "keys_metadata",
    "needs_second_admin",
]

ROLES = (
    "customer_app",
    "supply_chain",
    "station",
    "adjudicator",
    "ml_engineer",
    "auditor",
    "admin",
)
"""Every role a key can hold."""


SECOND_ADMIN_ROLES = frozenset({"adjudicator", "admin"})
"""Roles whose keys the API issues only when a second admin approves: deciding or approving
claims (adjudicator) and managing keys (admin) are kept apart from one admin's word."""

REQUEST_LIFETIME = timedelta(days=7)
"""How long a key request waits for a second admin before it expires."""


def needs_second_admin(role: str, approval_limit: object = None) -> bool:
    """Whether issuing this key through the API needs a second admin's approval."""
    return role in SECOND_ADMIN_ROLES or approval_limit is not None


def a_role(role: str) -> str:
    """The role with its article, as people read it: "an admin", "a station"."""
    # "ml" is said "em-el": a vowel sound.
    return f"{'an' if role[:1] in 'aeiou' or role.startswith('ml') else 'a'} {role}"


KEY_PREFIX = "fpk_"
"""What every token starts with, so a leaked one is recognisable (secret scanners)."""

# fullmatch, not `$`: `$` would accept a token with a trailing newline.
_TOKEN = re.compile(r"fpk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")
_NAME_MAX = 100
_ID_MAX = 200
_STATION_MAX = 100
_PARTIES_MAX = 100
# Longer is "never" in effect (leave expires_in unset), and bounds keep the arithmetic sane.
_LONGEST_LIFE = timedelta(days=3650)

# Which bindings each role requires; every other binding is refused for it.
_BINDINGS: dict[str, frozenset[str]] = {
    "customer_app": frozenset({"customer_id"}),
    "supply_chain": frozenset({"parties"}),
    "station": frozenset({"station_id", "read_point"}),
}

keys_metadata = metadata
"""The MetaData the key table is defined on: the shared one (``storage.schema``)."""

api_keys = Table(
    "api_keys",
    keys_metadata,
    Column("key_id", String(8), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("role", String(20), nullable=False),
    Column("name", String(_NAME_MAX), nullable=False),
    Column("customer_id", String(_ID_MAX)),
    Column("parties", Text, nullable=False),  # JSON array of party ids
    Column("station_id", String(_STATION_MAX)),
    Column("read_point", String(_ID_MAX)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(_ID_MAX), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", String(_ID_MAX)),
    # adjudicator: the most it approves as the second person (null: nothing above the limit).
    Column("approval_limit", Numeric(12, 2)),
)
"""One row per key: its public id, the SHA-256 of its token, role, bindings and history."""

api_key_requests = Table(
    "api_key_requests",
    keys_metadata,
    Column("request_id", String(8), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("name", String(_NAME_MAX), nullable=False),
    Column("customer_id", String(_ID_MAX)),
    Column("parties", Text, nullable=False),  # JSON array of party ids
    Column("station_id", String(_STATION_MAX)),
    Column("read_point", String(_ID_MAX)),
    Column("expires_in_s", Integer),  # the key's lifetime once issued; null: never expires
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("requested_by", String(_ID_MAX), nullable=False),
    Column("answer", String(10)),  # approve | reject; null while pending
    Column("answered_at", DateTime(timezone=True)),
    Column("answered_by", String(_ID_MAX)),
    Column("note", Text),
    Column("key_id", String(8)),  # the key issued on approval
)
"""One row per key request waiting for (or answered by) a second admin; never a secret."""


def create_key_tables(engine: sa.Engine) -> None:
    """Create the key tables if missing (tests; the service migrates: ``api.database``)."""
    keys_metadata.create_all(engine, tables=[api_keys, api_key_requests])


class AuthError(Exception):
    """Root of every error the auth package raises."""


class InvalidKeySpecError(AuthError):
    """A requested key is not acceptable: ``field`` says which part, ``reason`` why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"key {field}: {reason}")


class UnknownKeyError(AuthError):
    """No key has the id ``key_id``."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"no API key with id {key_id!r}")


class UnknownKeyRequestError(AuthError):
    """No key request has the id ``request_id``."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(f"no key request with id {request_id!r}")


class KeyRequestClosedError(AuthError):
    """The key request ``request_id`` is no longer pending: ``state`` says what it is."""

    def __init__(self, request_id: str, state: str) -> None:
        self.request_id, self.state = request_id, state
        self.reason = f"key request {request_id} is {state}; only a pending request is answered"
        super().__init__(self.reason)


class SameAdminError(AuthError):
    """The admin who requested a key tried to approve it (separation of duties)."""

    def __init__(self, request_id: str, actor: str) -> None:
        self.request_id, self.actor = request_id, actor
        self.reason = (
            f"separation of duties: key request {request_id} was made by {actor}; a key that "
            "may decide or approve claims, or manage keys, is issued only when a different "
            "admin approves it"
        )
        super().__init__(self.reason)


class LastAdminError(AuthError):
    """Revoking ``key_id`` would leave no active admin key."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        self.reason = (
            f"{KEY_PREFIX}{key_id} is the last active admin key: an installation always keeps "
            "one admin; issue another admin key first, then revoke this one"
        )
        super().__init__(self.reason)


RejectReason = Literal["malformed", "unknown", "expired", "revoked"]
"""Why a presented token was refused."""


class KeyRejectedError(AuthError):
    """A presented token does not authenticate; ``key_id`` is set once one was parsed."""

    def __init__(self, reason: RejectReason, key_id: str | None = None) -> None:
        self.reason = reason
        self.key_id = key_id
        named = f" {KEY_PREFIX}{key_id}" if key_id else ""
        super().__init__(f"API key{named} rejected: {reason}")


@dataclass(frozen=True)
class Principal:
    """Who an authenticated request acts as: the key's role and what it is bound to."""

    key_id: str
    role: str
    name: str
    customer_id: str | None = None
    parties: tuple[str, ...] = ()
    station_id: str | None = None
    read_point: str | None = None
    expires_at: datetime | None = None
    approval_limit: Decimal | None = None

    @property
    def actor(self) -> str:
        """How ledger entries and audit name this caller, e.g. ``key:fpk_3f9a2c1d (admin)``."""
        return f"key:{KEY_PREFIX}{self.key_id} ({self.role})"


KeyState = Literal["active", "expired", "revoked"]


@dataclass(frozen=True)
class KeyRecord:
    """A key as listed: everything but its secret and the secret's hash."""

    key_id: str
    role: str
    name: str
    customer_id: str | None
    parties: tuple[str, ...]
    station_id: str | None
    read_point: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    approval_limit: Decimal | None = None

    def state(self, now: datetime) -> KeyState:
        """``revoked``, ``expired`` (at or past ``expires_at``), or ``active``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def bindings(self) -> dict[str, Any]:
        """The bindings this key has, JSON-ready; empty for roles that take none."""
        found: dict[str, Any] = {
            "customer_id": self.customer_id,
            "parties": list(self.parties),
            "station_id": self.station_id,
            "read_point": self.read_point,
        }
        return {k: v for k, v in found.items() if v}

    def as_dict(self) -> dict[str, Any]:
        """JSON form (times as ISO 8601 UTC)."""
        return {
            "key_id": self.key_id,
            "role": self.role,
            "name": self.name,
            "bindings": self.bindings(),
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
            "revoked_by": self.revoked_by,
            "approval_limit": _money(self.approval_limit),
        }

    def principal(self) -> Principal:
        """The principal a request authenticated by this key acts as."""
        return Principal(
            key_id=self.key_id,
            role=self.role,
            name=self.name,
            customer_id=self.customer_id,
            parties=self.parties,
            station_id=self.station_id,
            read_point=self.read_point,
            expires_at=self.expires_at,
            approval_limit=self.approval_limit,
        )


RequestState = Literal["pending", "approved", "rejected", "expired"]


@dataclass(frozen=True)
class KeyRequest:
    """A key waiting for (or answered by) a second admin; it never holds a secret."""

    request_id: str
    role: str
    name: str
    customer_id: str | None
    parties: tuple[str, ...]
    station_id: str | None
    read_point: str | None
    expires_in: timedelta | None
    requested_at: datetime
    requested_by: str
    answer: str | None = None
    answered_at: datetime | None = None
    answered_by: str | None = None
    note: str | None = None
    key_id: str | None = None

    def state(self, now: datetime) -> RequestState:
        """``approved``/``rejected`` once answered; ``expired`` past ``REQUEST_LIFETIME``."""
        if self.answer == "approve":
            return "approved"
        if self.answer == "reject":
            return "rejected"
        return "expired" if now >= self.requested_at + REQUEST_LIFETIME else "pending"

    def bindings(self) -> dict[str, Any]:
        """The bindings the key will have, JSON-ready."""
        found = {
            "customer_id": self.customer_id,
            "parties": list(self.parties),
            "station_id": self.station_id,
            "read_point": self.read_point,
        }
        return {k: v for k, v in found.items() if v}

    def as_dict(self, now: datetime) -> dict[str, Any]:
        """JSON form, with its state at ``now``."""
        return {
            "request_id": self.request_id,
            "state": self.state(now),
            "role": self.role,
            "name": self.name,
            "bindings": self.bindings(),
            "expires_in_days": (
                None if self.expires_in is None else self.expires_in / timedelta(days=1)
            ),
            "requested_at": _iso(self.requested_at),
            "requested_by": self.requested_by,
            "expires_at": _iso(self.requested_at + REQUEST_LIFETIME),
            "answered_at": _iso(self.answered_at),
            "answered_by": self.answered_by,
            "note": self.note,
            "key_id": self.key_id,
        }

    def spec(self) -> _Spec:
        """What to issue on approval."""
        return _Spec(
            self.role,
            self.name,
            self.customer_id,
            self.parties,
            self.station_id,
            self.read_point,
            self.expires_in,
        )


@dataclass(frozen=True)
class _Spec:
    """A validated request for a key."""

    role: str
    name: str
    customer_id: str | None
    parties: tuple[str, ...]
    station_id: str | None
    read_point: str | None
    expires_in: timedelta | None
    approval_limit: Decimal | None = None


class _Tx:
    """One write transaction: its connection, and the ledger writer when there is one."""

    def __init__(self, conn: sa.Connection, writer: LedgerWriter | None) -> None:
        self.conn = conn
        self._writer = writer

    def record(self, kind: str, body: dict[str, Any]) -> None:
        """Append a ledger entry in this transaction; nothing without a ledger."""
        if self._writer is not None:
            self._writer.append_many([(kind, body)])


def _utc_now() -> datetime:
    return datetime.now(UTC)


class KeyStore:
    """The API key table: issue, list, revoke, authenticate, and the first admin key."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        ledger: Ledger | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        # The row and its entry commit in one transaction only on one connection.
        if ledger is not None and ledger.engine is not engine:
            raise ValueError("the ledger must write through the same engine as the key store")
        self._engine = engine
        self._ledger = ledger
        self._clock = clock

    def create(
        self,
        *,
        role: str,
        name: str,
        created_by: str,
        customer_id: str | None = None,
        parties: Sequence[str] = (),
        station_id: str | None = None,
        read_point: str | None = None,
        expires_in: timedelta | None = None,
        approval_limit: Decimal | str | None = None,
    ) -> tuple[str, KeyRecord]:
        """Issue a key; returns its token (shown this once, never stored) and its record.

        ``approval_limit`` (adjudicator keys only): the most the key approves as the second
        person of four eyes. The API never sets it; ``freshproof keys create`` does.
        """
        spec = _validate(
            role=role,
            name=name,
            customer_id=customer_id,
            parties=parties,
            station_id=station_id,
            read_point=read_point,
            expires_in=expires_in,
            approval_limit=approval_limit,
        )
        _check_actor("created_by", created_by)
        with self._transaction() as tx:
            return self._insert(tx, spec, created_by=created_by)

    def revoke(self, key_id: str, *, by: str, keep_last_admin: bool = False) -> KeyRecord:
        """Revoke a key (``3f9a2c1d`` or ``fpk_3f9a2c1d``); revoking again keeps the first time.

        Raises UnknownKeyError when no key has the id, and with ``keep_last_admin`` (the
        API's revocations) LastAdminError when it is the last active admin key. The shell
        may revoke that one too (a leaked sole admin key), and make a new one.
        """
        _check_actor("by", by)
        key_id = key_id.removeprefix(KEY_PREFIX)
        c = api_keys.c
        with self._transaction() as tx:
            record = _get(tx.conn, key_id)
            if record.revoked_at is not None:
                return record
            now = _aware(self._clock())
            # Checked inside the write transaction (the ledger's lock serialises writers):
            # two admins revoking each other at once leave one standing.
            admin = record.role == "admin" and record.state(now) == "active"
            if keep_last_admin and admin and not self._has_active_admin(tx.conn, besides=key_id):
                raise LastAdminError(key_id)
            done = tx.conn.execute(
                sa.update(api_keys)
                .where(c.key_id == key_id, c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by=by)
            )
            if done.rowcount != 1:  # revoked meanwhile by another writer: theirs stands
                return _get(tx.conn, key_id)
            revoked = replace(record, revoked_at=now, revoked_by=by)
            tx.record("key.revoked", _entry_body(revoked, actor=by))
            return revoked

    def request(
        self,
        *,
        role: str,
        name: str,
        requested_by: str,
        customer_id: str | None = None,
        parties: Sequence[str] = (),
        station_id: str | None = None,
        read_point: str | None = None,
        expires_in: timedelta | None = None,
    ) -> KeyRequest:
        """Ask for a key that needs a second admin; nothing is issued until one approves.

        The spec is validated now, as ``create`` would, so a request that could never be
        issued is refused at once. Appends ``key.requested``.
        """
        spec = _validate(
            role=role,
            name=name,
            customer_id=customer_id,
            parties=parties,
            station_id=station_id,
            read_point=read_point,
            expires_in=expires_in,
        )
        _check_actor("requested_by", requested_by)
        with self._transaction() as tx:
            request_id = _free_id(tx.conn, api_key_requests.c.request_id)
            pending = KeyRequest(
                request_id=request_id,
                role=spec.role,
                name=spec.name,
                customer_id=spec.customer_id,
                parties=spec.parties,
                station_id=spec.station_id,
                read_point=spec.read_point,
                expires_in=spec.expires_in,
                requested_at=_aware(self._clock()),
                requested_by=requested_by,
            )
            tx.conn.execute(
                sa.insert(api_key_requests).values(
                    request_id=request_id,
                    role=spec.role,
                    name=spec.name,
                    customer_id=spec.customer_id,
                    parties=json.dumps(list(spec.parties)),
                    station_id=spec.station_id,
                    read_point=spec.read_point,
                    expires_in_s=(
                        None if spec.expires_in is None else int(spec.expires_in.total_seconds())
                    ),
                    requested_at=pending.requested_at,
                    requested_by=requested_by,
                )
            )
            tx.record(
                "key.requested",
                {
                    "actor": requested_by,
                    "request_id": request_id,
                    "role": spec.role,
                    "name": spec.name,
                    "bindings": pending.bindings(),
                    "expires_in_s": (
                        None if spec.expires_in is None else int(spec.expires_in.total_seconds())
                    ),
                },
            )
            return pending

    def answer_request(
        self,
        request_id: str,
        *,
        answer: Literal["approve", "reject"],
        by: str,
        note: str = "",
    ) -> tuple[str | None, KeyRequest, KeyRecord | None]:
        """A second admin's answer: approving issues the key and returns its token, once.

        Raises SameAdminError when ``by`` made the request, KeyRequestClosedError when it
        is no longer pending, UnknownKeyRequestError when there is none. Approving appends
        ``key.request.approved`` and ``key.created``; rejecting ``key.request.rejected``.
        """
        _check_actor("by", by)
        if answer not in ("approve", "reject"):
            raise InvalidKeySpecError("answer", "must be approve or reject")
        c = api_key_requests.c
        with self._transaction() as tx:
            pending = _get_request(tx.conn, request_id)
            now = _aware(self._clock())
            state = pending.state(now)
            if state != "pending":
                raise KeyRequestClosedError(request_id, state)
            if by == pending.requested_by:
                raise SameAdminError(request_id, by)
            token: str | None = None
            record: KeyRecord | None = None
            key_id = _free_id(tx.conn, api_keys.c.key_id) if answer == "approve" else None
            done = tx.conn.execute(
                sa.update(api_key_requests)
                .where(c.request_id == request_id, c.answer.is_(None))
                .values(
                    answer=answer,
                    answered_at=now,
                    answered_by=by,
                    note=note or None,
                    key_id=key_id,
                )
            )
            if done.rowcount != 1:  # answered meanwhile by another writer: theirs stands
                raise KeyRequestClosedError(
                    request_id, _get_request(tx.conn, request_id).state(now)
                )
            tx.record(
                f"key.request.{'approved' if answer == 'approve' else 'rejected'}",
                {
                    "actor": by,
                    "request_id": request_id,
                    "requested_by": pending.requested_by,
                    "note": note,
                },
            )
            if answer == "approve":
                token, record = self._insert(
                    tx,
                    pending.spec(),
                    created_by=by,
                    key_id=key_id,
                    entry={"request_id": request_id, "requested_by": pending.requested_by},
                )
            answered = replace(
                pending,
                answer=answer,
                answered_at=now,
                answered_by=by,
                note=note or None,
                key_id=record.key_id if record else None,
            )
            return token, answered, record

    def get_request(self, request_id: str) -> KeyRequest:
        """The key request with this id; UnknownKeyRequestError if none."""
        with self._engine.connect() as conn:
            return _get_request(conn, request_id)

    def requests(self) -> builtins.list[KeyRequest]:
        """Every key request, newest first."""
        c = api_key_requests.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(api_key_requests).order_by(c.requested_at.desc(), c.request_id)
            )
            return [_request(row) for row in rows]

    def now(self) -> datetime:
        """The store's clock (UTC): what states are judged against."""
        return _aware(self._clock())

    def authenticate(self, token: str) -> Principal:
        """The principal a presented token acts as; KeyRejectedError says why not.

        The key id parsed from the token finds the row, then the hashes are compared in
        constant time, so knowing a (public) key id is no help without the secret.
        """
        match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        if match is None:  # never reaches the database
            raise KeyRejectedError("malformed")
        key_id = match.group(1)
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None or not hmac.compare_digest(row.token_hash.encode(), _hash(token).encode()):
            raise KeyRejectedError("unknown", key_id)
        record = _record(row)
        state = record.state(_aware(self._clock()))
        if state != "active":
            raise KeyRejectedError(state, key_id)
        return record.principal()

    def bootstrap_admin(self, data_dir: Path) -> Path | None:
        """With no active admin key, issue one and write its token to ``data_dir/admin.key``.

        The file gets mode 0600 and is written before the key commits, so a key is never
        issued whose token nobody has. Returns the file's path, or None when an active
        admin key already exists (then nothing is written).
        """
        spec = _Spec("admin", "first admin", None, (), None, None, None)
        path = data_dir / "admin.key"
        with self._transaction() as tx:
            # Checked inside the write transaction: two starting processes make one admin.
            if self._has_active_admin(tx.conn):
                return None
            token, _ = self._insert(tx, spec, created_by="bootstrap")
            _write_private(path, token)
        return path

    def get(self, key_id: str) -> KeyRecord:
        """The key with this id (``3f9a2c1d`` or ``fpk_3f9a2c1d``); UnknownKeyError if none."""
        with self._engine.connect() as conn:
            return _get(conn, key_id.removeprefix(KEY_PREFIX))

    def list(self) -> builtins.list[KeyRecord]:
        """Every key, newest first; no secrets."""
        c = api_keys.c
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(c.created_at.desc(), c.key_id))
            return [_record(row) for row in rows]

    @contextmanager
    def _transaction(self) -> Iterator[_Tx]:
        if self._ledger is None:
            with self._engine.begin() as conn:
                yield _Tx(conn, None)
        else:
            with self._ledger.writer() as w:
                yield _Tx(w.conn, w)

    def _insert(
        self,
        tx: _Tx,
        spec: _Spec,
        *,
        created_by: str,
        key_id: str | None = None,
        entry: dict[str, Any] | None = None,
    ) -> tuple[str, KeyRecord]:
        now = _aware(self._clock())
        key_id = key_id or _free_id(tx.conn, api_keys.c.key_id)
        secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        token = f"{KEY_PREFIX}{key_id}_{secret}"
        record = KeyRecord(
            key_id=key_id,
            role=spec.role,
            name=spec.name,
            customer_id=spec.customer_id,
            parties=spec.parties,
            station_id=spec.station_id,
            read_point=spec.read_point,
            created_at=now,
            created_by=created_by,
            expires_at=now + spec.expires_in if spec.expires_in else None,
            revoked_at=None,
            revoked_by=None,
            approval_limit=spec.approval_limit,
        )
        values = {k: v for k, v in vars(record).items() if k != "parties"}
        tx.conn.execute(
            sa.insert(api_keys).values(
                **values, parties=json.dumps(list(spec.parties)), token_hash=_hash(token)
            )
        )
        tx.record("key.created", _entry_body(record, actor=created_by) | (entry or {}))
        return token, record

    def _has_active_admin(self, conn: sa.Connection, *, besides: str | None = None) -> bool:
        c = api_keys.c
        query = sa.select(api_keys).where(c.role == "admin", c.revoked_at.is_(None))
        if besides is not None:
            query = query.where(c.key_id != besides)
        now = _aware(self._clock())
        return any(_record(row).state(now) == "active" for row in conn.execute(query))


def _validate(
    *,
    role: str,
    name: str,
    customer_id: str | None,
    parties: Sequence[str],
    station_id: str | None,
    read_point: str | None,
    expires_in: timedelta | None,
    approval_limit: Decimal | str | None = None,
) -> _Spec:
    """Check a key request against its role; InvalidKeySpecError names the first fault."""
    if role not in ROLES:
        raise InvalidKeySpecError("role", f"must be one of {', '.join(ROLES)}")
    if isinstance(parties, str):
        raise InvalidKeySpecError("parties", "must be a list of party ids, not one string")
    given: dict[str, object] = {
        "customer_id": customer_id,
        "parties": parties,
        "station_id": station_id,
        "read_point": read_point,
    }
    needed = _BINDINGS.get(role, frozenset())
    for field, value in given.items():
        if value and field not in needed:
            raise InvalidKeySpecError(field, f"{a_role(role)} key takes no {field}")
        if not value and field in needed:
            raise InvalidKeySpecError(field, f"{a_role(role)} key needs a {field}")
    if customer_id is not None:
        _check_id("customer_id", customer_id, _ID_MAX)
    if station_id is not None:
        _check_id("station_id", station_id, _STATION_MAX)
    if read_point is not None:
        try:
            check_sgln(read_point)
        except EPCError as exc:
            raise InvalidKeySpecError("read_point", exc.reason) from None
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= _NAME_MAX or not name.isprintable():
        raise InvalidKeySpecError("name", f"must be 1 to {_NAME_MAX} printable characters")
    if expires_in is not None and not timedelta(0) < expires_in <= _LONGEST_LIFE:
        raise InvalidKeySpecError(
            "expires_in", f"must be positive, at most {_LONGEST_LIFE.days} days"
        )
    return _Spec(
        role,
        name,
        customer_id,
        _check_parties(parties),
        station_id,
        read_point,
        expires_in,
        _check_limit(role, approval_limit),
    )


_LIMIT_MAX = Decimal("99999999.99")


def _check_limit(role: str, value: Decimal | str | None) -> Decimal | None:
    """An approval limit: adjudicator keys only, an exact amount in cents."""
    if value is None:
        return None
    if role != "adjudicator":
        raise InvalidKeySpecError("approval_limit", f"{a_role(role)} key takes no approval_limit")
    refused = InvalidKeySpecError(
        "approval_limit", "must be an amount such as 5000.00 (at most 2 decimal places)"
    )
    if isinstance(value, float | bool):  # a float has already lost its cents
        raise refused
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise refused from None
    cents = Decimal("0.01")
    if not amount.is_finite() or not 0 <= amount <= _LIMIT_MAX or amount != amount.quantize(cents):
        raise refused
    return amount.quantize(cents)


def _check_parties(parties: Sequence[str]) -> tuple[str, ...]:
    unique = tuple(dict.fromkeys(parties))  # first occurrence order
    if len(unique) > _PARTIES_MAX:
        raise InvalidKeySpecError("parties", f"at most {_PARTIES_MAX} parties per key")
    for party in unique:
        try:
            check_party_id(party)
        except EPCError as exc:
            raise InvalidKeySpecError("parties", f"{party!r}: {exc.reason}") from None
    return unique


def _check_id(field: str, value: str, longest: int) -> None:
    # Printable with no spaces: ids are matched exactly, so invisible differences mislead.
    if not 1 <= len(value) <= longest or not value.isprintable() or any(c.isspace() for c in value):
        raise InvalidKeySpecError(
            field, f"must be 1 to {longest} printable characters without spaces"
        )


def _check_actor(field: str, actor: str) -> None:
    if not isinstance(actor, str) or not 1 <= len(actor) <= _ID_MAX or not actor.isprintable():
        raise InvalidKeySpecError(field, f"must be 1 to {_ID_MAX} printable characters")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _free_id(conn: sa.Connection, column: sa.Column[str]) -> str:
    # 32 bits: a clash is rare but possible in a big table; pick again rather than fail.
    while True:
        new_id = secrets.token_hex(4)
        if conn.execute(sa.select(column).where(column == new_id)).first() is None:
            return new_id


def _get_request(conn: sa.Connection, request_id: str) -> KeyRequest:
    row = conn.execute(
        sa.select(api_key_requests).where(api_key_requests.c.request_id == request_id)
    ).first()
    if row is None:
        raise UnknownKeyRequestError(request_id)
    return _request(row)


def _request(row: sa.Row[Any]) -> KeyRequest:
    return KeyRequest(
        request_id=row.request_id,
        role=row.role,
        name=row.name,
        customer_id=row.customer_id,
        parties=tuple(json.loads(row.parties)),
        station_id=row.station_id,
        read_point=row.read_point,
        expires_in=None if row.expires_in_s is None else timedelta(seconds=row.expires_in_s),
        requested_at=_aware(row.requested_at),
        requested_by=row.requested_by,
        answer=row.answer,
        answered_at=_aware(row.answered_at) if row.answered_at else None,
        answered_by=row.answered_by,
        note=row.note,
        key_id=row.key_id,
    )


def _get(conn: sa.Connection, key_id: str) -> KeyRecord:
    row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
    if row is None:
        raise UnknownKeyError(key_id)
    return _record(row)


def _record(row: sa.Row[Any]) -> KeyRecord:
    return KeyRecord(
        key_id=row.key_id,
        role=row.role,
        name=row.name,
        customer_id=row.customer_id,
        parties=tuple(json.loads(row.parties)),
        station_id=row.station_id,
        read_point=row.read_point,
        created_at=_aware(row.created_at),
        created_by=row.created_by,
        expires_at=_aware(row.expires_at) if row.expires_at else None,
        revoked_at=_aware(row.revoked_at) if row.revoked_at else None,
        revoked_by=row.revoked_by,
        approval_limit=(
            Decimal(row.approval_limit).quantize(Decimal("0.01"))
            if row.approval_limit is not None
            else None
        ),
    )


def _entry_body(record: KeyRecord, *, actor: str) -> dict[str, Any]:
    """What the ledger keeps of a key event: who, which key, its role and bindings."""
    return {
        "actor": actor,
        "key_id": record.key_id,
        "role": record.role,
        "name": record.name,
        "bindings": record.bindings(),
        "expires_at": _iso(record.expires_at),
    } | ({} if record.approval_limit is None else {"approval_limit": str(record.approval_limit)})


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time stored here is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, replacing any file there.

    A fresh temporary file is created 0600 with O_EXCL and renamed over the target, so the
    token is never in a file anyone else can read, nor in a symlink's target.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)  # whatever the umask
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
