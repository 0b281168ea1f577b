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

The pieces: ``principal`` (roles, the principal), ``errors``, ``tables``, ``key_spec``
(what a key may be), ``key_records`` (a key as listed), ``key_requests`` (separation of
duties); this module is the store and the names callers import.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from api.auth.errors import (
    AuthError,
    InvalidKeySpecError,
    KeyRejectedError,
    KeyRequestClosedError,
    LastAdminError,
    RejectReason,
    SameAdminError,
    UnknownKeyError,
    UnknownKeyRequestError,
)
from api.auth.key_cache import CachedKey, KeyCache
from api.auth.key_records import KeyRecord, as_aware, entry_body, key_record_of, key_row
from api.auth.key_requests import (
    REQUEST_LIFETIME,
    SECOND_ADMIN_ROLES,
    KeyRequest,
    key_request_of,
    needs_second_admin,
    request_row,
)
from api.auth.key_spec import KeySpec, check_actor, validate_spec
from api.auth.principal import KEY_PREFIX, ROLES, Principal, a_role
from api.auth.tables import (
    api_key_requests,
    api_keys,
    create_key_tables,
    free_id,
    keys_metadata,
)
from ledger.clock import utc_now
from ledger.log import Ledger, LedgerWriter
from storage.files import write_whole

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

# fullmatch, not `$`: `$` would accept a token with a trailing newline.
_TOKEN = re.compile(r"fpk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")


class _Tx:
    """One write transaction: its connection, and the ledger writer when there is one."""

    def __init__(self, conn: sa.Connection, writer: LedgerWriter | None) -> None:
        self.conn = conn
        self._writer = writer

    def record(self, kind: str, body: dict[str, Any]) -> None:
        """Append a ledger entry in this transaction; nothing without a ledger."""
        if self._writer is not None:
            self._writer.append_many([(kind, body)])


class KeyStore:
    """The API key table: issue, list, revoke, authenticate, and the first admin key."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        ledger: Ledger | None = None,
        clock: Callable[[], datetime] = utc_now,
        cache_seconds: float = 0.0,
        cache_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``cache_seconds``: how long ``authenticate`` reuses a key row it read (at most
        1 s; ``api.auth.key_cache``). The server's store caches; the shell's does not."""
        # The row and its entry commit in one transaction only on one connection.
        if ledger is not None and ledger.engine is not engine:
            raise ValueError("the ledger must write through the same engine as the key store")
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        self._cache = KeyCache(cache_seconds, cache_clock)

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
        spec = validate_spec(
            role=role,
            name=name,
            customer_id=customer_id,
            parties=parties,
            station_id=station_id,
            read_point=read_point,
            expires_in=expires_in,
            approval_limit=approval_limit,
        )
        check_actor("created_by", created_by)
        with self._transaction() as tx:
            return self._insert(tx, spec, created_by=created_by)

    def revoke(self, key_id: str, *, by: str, keep_last_admin: bool = False) -> KeyRecord:
        """Revoke a key (``3f9a2c1d`` or ``fpk_3f9a2c1d``); revoking again keeps the first time.

        Raises UnknownKeyError when no key has the id, and with ``keep_last_admin`` (the
        API's revocations) LastAdminError when it is the last active admin key. The shell
        may revoke that one too (a leaked sole admin key), and make a new one.
        """
        check_actor("by", by)
        key_id = key_id.removeprefix(KEY_PREFIX)
        try:
            return self._revoke(key_id, by=by, keep_last_admin=keep_last_admin)
        finally:
            # This process refuses the key at once; the others within their cache's time.
            self._cache.forget(key_id)

    def _revoke(self, key_id: str, *, by: str, keep_last_admin: bool) -> KeyRecord:
        c = api_keys.c
        with self._transaction() as tx:
            record = key_row(tx.conn, key_id)
            if record.revoked_at is not None:
                return record
            now = as_aware(self._clock())
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
                return key_row(tx.conn, key_id)
            revoked = replace(record, revoked_at=now, revoked_by=by)
            tx.record("key.revoked", entry_body(revoked, actor=by))
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
        spec = validate_spec(
            role=role,
            name=name,
            customer_id=customer_id,
            parties=parties,
            station_id=station_id,
            read_point=read_point,
            expires_in=expires_in,
        )
        check_actor("requested_by", requested_by)
        with self._transaction() as tx:
            request_id = free_id(tx.conn, api_key_requests.c.request_id)
            pending = KeyRequest(
                request_id=request_id,
                role=spec.role,
                name=spec.name,
                customer_id=spec.customer_id,
                parties=spec.parties,
                station_id=spec.station_id,
                read_point=spec.read_point,
                expires_in=spec.expires_in,
                requested_at=as_aware(self._clock()),
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
        check_actor("by", by)
        if answer not in ("approve", "reject"):
            raise InvalidKeySpecError("answer", "must be approve or reject")
        c = api_key_requests.c
        with self._transaction() as tx:
            pending = request_row(tx.conn, request_id)
            now = as_aware(self._clock())
            state = pending.state(now)
            if state != "pending":
                raise KeyRequestClosedError(request_id, state)
            if by == pending.requested_by:
                raise SameAdminError(request_id, by)
            token: str | None = None
            record: KeyRecord | None = None
            key_id = free_id(tx.conn, api_keys.c.key_id) if answer == "approve" else None
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
                raise KeyRequestClosedError(request_id, request_row(tx.conn, request_id).state(now))
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
            return request_row(conn, request_id)

    def requests(self) -> builtins.list[KeyRequest]:
        """Every key request, newest first."""
        c = api_key_requests.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(api_key_requests).order_by(c.requested_at.desc(), c.request_id)
            )
            return [key_request_of(row) for row in rows]

    def now(self) -> datetime:
        """The store's clock (UTC): what states are judged against."""
        return as_aware(self._clock())

    def authenticate(self, token: str) -> Principal:
        """The principal a presented token acts as; KeyRejectedError says why not.

        The key id parsed from the token finds the row, then the hashes are compared in
        constant time, so knowing a (public) key id is no help without the secret. The row
        comes from the cache when it was read less than ``cache_seconds`` ago; its state
        (expiry, revocation as read) is judged now, on every call.
        """
        match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        if match is None:  # never reaches the database
            raise KeyRejectedError("malformed")
        key_id = match.group(1)
        row = self._cache.get(key_id) or self._read(key_id)
        if row is None or not hmac.compare_digest(row.token_hash.encode(), _hash(token).encode()):
            raise KeyRejectedError("unknown", key_id)
        state = row.record.state(as_aware(self._clock()))
        if state != "active":
            raise KeyRejectedError(state, key_id)
        return row.record.principal()

    def _read(self, key_id: str) -> CachedKey | None:
        """The key's row from the table (and into the cache), or None when there is none."""
        read_at = self._cache.now()
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            return None
        cached = CachedKey(row.token_hash, key_record_of(row), read_at)
        self._cache.put(key_id, cached)
        return cached

    def bootstrap_admin(self, data_dir: Path) -> Path | None:
        """With no active admin key, issue one and write its token to ``data_dir/admin.key``.

        The file gets mode 0600 and is written before the key commits, so a key is never
        issued whose token nobody has. Returns the file's path, or None when an active
        admin key already exists (then nothing is written).
        """
        spec = KeySpec("admin", "first admin", None, (), None, None, None)
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
            return key_row(conn, key_id.removeprefix(KEY_PREFIX))

    def list(self) -> builtins.list[KeyRecord]:
        """Every key, newest first; no secrets."""
        c = api_keys.c
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(c.created_at.desc(), c.key_id))
            return [key_record_of(row) for row in rows]

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
        spec: KeySpec,
        *,
        created_by: str,
        key_id: str | None = None,
        entry: dict[str, Any] | None = None,
    ) -> tuple[str, KeyRecord]:
        now = as_aware(self._clock())
        key_id = key_id or free_id(tx.conn, api_keys.c.key_id)
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
        tx.record("key.created", entry_body(record, actor=created_by) | (entry or {}))
        return token, record

    def _has_active_admin(self, conn: sa.Connection, *, besides: str | None = None) -> bool:
        c = api_keys.c
        query = sa.select(api_keys).where(c.role == "admin", c.revoked_at.is_(None))
        if besides is not None:
            query = query.where(c.key_id != besides)
        now = as_aware(self._clock())
        return any(key_record_of(row).state(now) == "active" for row in conn.execute(query))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, replacing any file there
    (never a symlink's target, never a moment readable by others or half-written)."""
    write_whole(path, text + "\n", mode=0o600)
