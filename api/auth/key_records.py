"""A key as listed (``KeyRecord``), read from its row, and what the ledger keeps of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa

from api.auth.errors import UnknownKeyError
from api.auth.principal import Principal
from api.auth.tables import api_keys

__all__ = ["KeyRecord", "KeyState"]

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
            "created_at": iso_time(self.created_at),
            "created_by": self.created_by,
            "expires_at": iso_time(self.expires_at),
            "revoked_at": iso_time(self.revoked_at),
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


def key_row(conn: sa.Connection, key_id: str) -> KeyRecord:
    row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
    if row is None:
        raise UnknownKeyError(key_id)
    return key_record_of(row)


def key_record_of(row: sa.Row[Any]) -> KeyRecord:
    return KeyRecord(
        key_id=row.key_id,
        role=row.role,
        name=row.name,
        customer_id=row.customer_id,
        parties=tuple(json.loads(row.parties)),
        station_id=row.station_id,
        read_point=row.read_point,
        created_at=as_aware(row.created_at),
        created_by=row.created_by,
        expires_at=as_aware(row.expires_at) if row.expires_at else None,
        revoked_at=as_aware(row.revoked_at) if row.revoked_at else None,
        revoked_by=row.revoked_by,
        approval_limit=(
            Decimal(row.approval_limit).quantize(Decimal("0.01"))
            if row.approval_limit is not None
            else None
        ),
    )


def entry_body(record: KeyRecord, *, actor: str) -> dict[str, Any]:
    """What the ledger keeps of a key event: who, which key, its role and bindings."""
    return {
        "actor": actor,
        "key_id": record.key_id,
        "role": record.role,
        "name": record.name,
        "bindings": record.bindings(),
        "expires_at": iso_time(record.expires_at),
    } | ({} if record.approval_limit is None else {"approval_limit": str(record.approval_limit)})


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def as_aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time stored here is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso_time(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None
