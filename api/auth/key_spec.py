"""What a key may be: its role's bindings checked, its name, lifetime and approval limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from api.auth.errors import InvalidKeySpecError
from api.auth.principal import ROLES, a_role
from api.auth.tables import _ID_MAX, _NAME_MAX, _STATION_MAX
from supplychain.identifiers.tds import EPCError, check_party_id, check_sgln

__all__: list[str] = []

_PARTIES_MAX = 100
# Longer is "never" in effect (leave expires_in unset), and bounds keep the arithmetic sane.
_LONGEST_LIFE = timedelta(days=3650)


# Which bindings each role requires; every other binding is refused for it.
_BINDINGS: dict[str, frozenset[str]] = {
    "customer_app": frozenset({"customer_id"}),
    "supply_chain": frozenset({"parties"}),
    "station": frozenset({"station_id", "read_point"}),
}


@dataclass(frozen=True)
class KeySpec:
    """A validated request for a key."""

    role: str
    name: str
    customer_id: str | None
    parties: tuple[str, ...]
    station_id: str | None
    read_point: str | None
    expires_in: timedelta | None
    approval_limit: Decimal | None = None


def validate_spec(
    *,
    role: str,
    name: str,
    customer_id: str | None,
    parties: Sequence[str],
    station_id: str | None,
    read_point: str | None,
    expires_in: timedelta | None,
    approval_limit: Decimal | str | None = None,
) -> KeySpec:
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
    return KeySpec(
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


def check_actor(field: str, actor: str) -> None:
    if not isinstance(actor, str) or not 1 <= len(actor) <= _ID_MAX or not actor.isprintable():
        raise InvalidKeySpecError(field, f"must be 1 to {_ID_MAX} printable characters")
