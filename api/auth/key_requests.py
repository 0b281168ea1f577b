"""Separation of duties: a key request waiting for a second admin, and which keys need one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from api.auth.errors import UnknownKeyRequestError
from api.auth.key_records import as_aware, iso_time
from api.auth.key_spec import KeySpec
from api.auth.tables import api_key_requests

__all__ = [
    "REQUEST_LIFETIME",
    "SECOND_ADMIN_ROLES",
    "KeyRequest",
    "RequestState",
    "needs_second_admin",
]

SECOND_ADMIN_ROLES = frozenset({"adjudicator", "admin"})
"""Roles whose keys the API issues only when a second admin approves: deciding or approving
claims (adjudicator) and managing keys (admin) are kept apart from one admin's word."""

REQUEST_LIFETIME = timedelta(days=7)
"""How long a key request waits for a second admin before it expires."""


def needs_second_admin(role: str, approval_limit: object = None) -> bool:
    """Whether issuing this key through the API needs a second admin's approval."""
    return role in SECOND_ADMIN_ROLES or approval_limit is not None


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
            "requested_at": iso_time(self.requested_at),
            "requested_by": self.requested_by,
            "expires_at": iso_time(self.requested_at + REQUEST_LIFETIME),
            "answered_at": iso_time(self.answered_at),
            "answered_by": self.answered_by,
            "note": self.note,
            "key_id": self.key_id,
        }

    def spec(self) -> KeySpec:
        """What to issue on approval."""
        return KeySpec(
            self.role,
            self.name,
            self.customer_id,
            self.parties,
            self.station_id,
            self.read_point,
            self.expires_in,
        )


def request_row(conn: sa.Connection, request_id: str) -> KeyRequest:
    row = conn.execute(
        sa.select(api_key_requests).where(api_key_requests.c.request_id == request_id)
    ).first()
    if row is None:
        raise UnknownKeyRequestError(request_id)
    return key_request_of(row)


def key_request_of(row: sa.Row[Any]) -> KeyRequest:
    return KeyRequest(
        request_id=row.request_id,
        role=row.role,
        name=row.name,
        customer_id=row.customer_id,
        parties=tuple(json.loads(row.parties)),
        station_id=row.station_id,
        read_point=row.read_point,
        expires_in=None if row.expires_in_s is None else timedelta(seconds=row.expires_in_s),
        requested_at=as_aware(row.requested_at),
        requested_by=row.requested_by,
        answer=row.answer,
        answered_at=as_aware(row.answered_at) if row.answered_at else None,
        answered_by=row.answered_by,
        note=row.note,
        key_id=row.key_id,
    )
