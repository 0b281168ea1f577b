"""Compensation: a configurable policy that pays automatically only when it is safe to.

Money is ``Decimal`` quantised to cents, never float. The payment ledger has the claim id as
its primary key, so a claim can never be paid twice, even by two processes at once: the
database, not a read-then-write check, is what refuses the second payment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import Column, Connection, DateTime, Numeric, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from claims.errors import (
    AlreadyPaidError,
    InvalidClaimError,
    InvalidPolicyError,
    NaiveDatetimeError,
    PaymentRefusedError,
)
from claims.responsibility import Verdict
from storage.schema import metadata

__all__ = [
    "AUTO",
    "DEFAULT_COMPENSATION_POLICY",
    "DUPLICATE_EVIDENCE",
    "CompensationPolicy",
    "Payment",
    "Proposal",
    "ProposalKind",
    "get_payment",
    "pay",
    "payments",
    "propose",
]

ProposalKind = Literal["refund", "voucher", "refund+voucher", "none"]
AUTO = "auto"
"""The ``decided_by`` of payments the policy made without a person."""
DUPLICATE_EVIDENCE = "DUPLICATE_EVIDENCE"
UNCERTAIN_EVIDENCE = "UNCERTAIN_EVIDENCE"
"""The hold code when a claim photo nearly duplicates evidence filed with another claim."""

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

payments = Table(
    "claims_payments",
    metadata,
    Column("claim_id", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("amount", Numeric(12, 2), nullable=False),
    # The voucher part of ``amount``: vouchers are not cash and are booked apart.
    Column("voucher", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("decided_by", String(100), nullable=False),
    Column("paid_at", DateTime(timezone=True), nullable=False),
)
"""One row per paid claim; the primary key is the never-twice guarantee."""


def _cents(value: object, key: str) -> Decimal:
    """An exact cent amount from a Decimal, int or string; floats and sub-cents are refused."""
    if isinstance(value, float | bool):
        raise InvalidPolicyError(key, "give money as a string such as '50.00', not a float")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidPolicyError(key, f"{value!r} is not an amount") from exc
    if not amount.is_finite() or amount < 0:
        raise InvalidPolicyError(key, "must be a non-negative amount")
    if amount != amount.quantize(CENT):
        raise InvalidPolicyError(key, f"{amount} has more than 2 decimal places")
    return amount.quantize(CENT)


_AMOUNTS = ("auto_pay_limit", "food_safety_extra", "voucher_instead_below", "adjudicator_limit")


@dataclass(frozen=True)
class CompensationPolicy:
    """What a claim pays, and when it may be paid without a person."""

    auto_pay_min_confidence: float = 0.8
    auto_pay_limit: Decimal = Decimal("50.00")
    # Added as a voucher when the defect is a food-safety risk (an apology, not a refund).
    food_safety_extra: Decimal = Decimal("5.00")
    # Lines below this value get a voucher instead of a refund (0: always refund).
    voucher_instead_below: Decimal = Decimal("0.00")
    food_safety_defects: frozenset[str] = frozenset({"mold", "swelling"})
    # The most an adjudicator approves alone; above it the decision is refused (an admin's).
    adjudicator_limit: Decimal = Decimal("500.00")

    def __post_init__(self) -> None:
        confidence = self.auto_pay_min_confidence
        if isinstance(confidence, bool) or not 0.0 <= confidence <= 1.0:
            raise InvalidPolicyError("auto_pay_min_confidence", "must be between 0 and 1")
        for key in _AMOUNTS:
            object.__setattr__(self, key, _cents(getattr(self, key), key))

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> CompensationPolicy:
        """Build from configuration (amounts as strings); omitted keys keep the defaults."""
        known = {
            "auto_pay_min_confidence",
            "auto_pay_limit",
            "food_safety_extra",
            "voucher_instead_below",
            "food_safety_defects",
            "adjudicator_limit",
        }
        unknown = set(config) - known
        if unknown:
            raise InvalidPolicyError(", ".join(sorted(unknown)), "unknown setting")
        kwargs: dict[str, Any] = {}
        if "auto_pay_min_confidence" in config:
            value = config["auto_pay_min_confidence"]
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise InvalidPolicyError("auto_pay_min_confidence", "must be a number")
            try:
                kwargs["auto_pay_min_confidence"] = float(value)
            except ValueError as exc:
                raise InvalidPolicyError("auto_pay_min_confidence", "must be a number") from exc
        for key in _AMOUNTS:
            if key in config:
                kwargs[key] = _cents(config[key], key)
        if "food_safety_defects" in config:
            value = config["food_safety_defects"]
            if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
                raise InvalidPolicyError("food_safety_defects", "must be a list of names")
            kwargs["food_safety_defects"] = frozenset(str(v) for v in value)
        return cls(**kwargs)


DEFAULT_COMPENSATION_POLICY = CompensationPolicy()
"""The GUIDE §4 starting values."""


@dataclass(frozen=True)
class Proposal:
    """What the customer should get, and whether it may be paid without a person.

    ``amount`` is the total (``refund + voucher``) and is what the auto-pay limit applies to.
    """

    kind: ProposalKind
    amount: Decimal
    currency: str
    auto_pay: bool
    reason: str
    refund: Decimal = ZERO
    voucher: Decimal = ZERO

    @classmethod
    def offered(cls, stored: Mapping[str, Any]) -> Proposal:
        """A proposal as stored in JSON (the machine's, a proposal's offer), now paid by a
        person's decision: never ``auto_pay``."""
        return cls(
            stored["kind"],
            Decimal(stored["amount"]),
            stored["currency"],
            False,
            stored["reason"],
            refund=Decimal(stored["refund"]),
            voucher=Decimal(stored["voucher"]),
        )


@dataclass(frozen=True)
class Payment:
    """A payment recorded in the ledger table."""

    claim_id: str
    kind: str
    amount: Decimal
    voucher: Decimal
    currency: str
    decided_by: str
    paid_at: datetime


def _line_value(value: object) -> Decimal:
    if not isinstance(value, Decimal):
        # A float here would already have lost cents; refuse rather than round.
        raise InvalidClaimError("line_value", f"must be a Decimal, not {type(value).__name__}")
    if not value.is_finite() or value < 0:
        raise InvalidClaimError("line_value", "must be a non-negative amount")
    if value != value.quantize(CENT):
        raise InvalidClaimError("line_value", f"{value} has more than 2 decimal places")
    return value.quantize(CENT)


def _currency(value: str) -> str:
    if len(value) != 3 or not value.isascii() or not value.isalpha() or not value.isupper():
        raise InvalidClaimError("currency", f"{value!r} is not an ISO 4217 code such as EUR")
    return value


def propose(
    *,
    verdict: Verdict,
    defects: frozenset[str],
    line_value: Decimal,
    currency: str,
    policy: CompensationPolicy = DEFAULT_COMPENSATION_POLICY,
    duplicate_evidence: bool = False,
    uncertain_evidence: bool = False,
) -> Proposal:
    """Refund the line (plus a food-safety voucher) unless the verdict names the customer.

    ``duplicate_evidence``: a photo nearly duplicates another claim's; the amount stands (the
    defect may be real) but only a person may pay it. ``uncertain_evidence``: every finding
    is within the model's abstention margin; likewise only a person pays.
    """
    line = _line_value(line_value)
    currency = _currency(currency)
    if verdict.responsible_party == "customer":
        return Proposal(
            "none",
            ZERO,
            currency,
            False,
            "the verdict holds the customer responsible: no compensation (a person may override)",
        )
    extra = policy.food_safety_extra if defects & policy.food_safety_defects else ZERO
    if line < policy.voucher_instead_below:
        refund, voucher = ZERO, line + extra
    else:
        refund, voucher = line, extra
    amount = refund + voucher
    if amount == ZERO:
        return Proposal("none", ZERO, currency, False, "nothing to compensate: the amount is 0")
    kind: ProposalKind = (
        "refund+voucher" if refund and voucher else "voucher" if voucher else "refund"
    )
    # Every reason auto-pay is withheld, so the adjudicator sees all of them at once.
    holds = []
    if verdict.needs_review:
        holds.append("responsibility is undetermined: an adjudicator decides")
    holds.extend(verdict.holds)
    if duplicate_evidence:
        holds.append(f"{DUPLICATE_EVIDENCE}: a photo nearly duplicates another claim's evidence")
    if uncertain_evidence:
        holds.append(f"{UNCERTAIN_EVIDENCE}: every finding is within the model's margin of doubt")
    if verdict.confidence < policy.auto_pay_min_confidence:
        holds.append(
            f"verdict confidence {verdict.confidence:.2f} is below "
            f"{policy.auto_pay_min_confidence:.2f}"
        )
    if amount > policy.auto_pay_limit:
        holds.append(f"{amount} {currency} is over the automatic limit of {policy.auto_pay_limit}")
    if holds:
        reason = "; ".join(holds) + ": a person approves"
    else:
        reason = f"{verdict.responsible_party} responsible, confident verdict, under the limit"
    return Proposal(kind, amount, currency, not holds, reason, refund=refund, voucher=voucher)


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise NaiveDatetimeError(name)
    return value.astimezone(UTC)


def _ensure_sqlite_transaction(conn: Connection) -> None:
    # pysqlite only opens a transaction before DML; a SAVEPOINT issued first becomes the
    # outermost transaction, and releasing it would commit the payment before the caller
    # commits (or rolls back). Open the real transaction first.
    if conn.dialect.name != "sqlite":
        return
    dbapi = conn.connection.dbapi_connection
    if dbapi is not None and getattr(dbapi, "in_transaction", True) is False:
        conn.exec_driver_sql("BEGIN")


def pay(
    *, conn: Connection, claim_id: str, proposal: Proposal, decided_by: str, now: datetime
) -> Payment:
    """Record the payment in the caller's transaction; ``AlreadyPaidError`` if one exists.

    ``decided_by`` is ``"auto"`` (only for a proposal the policy marked ``auto_pay``) or the
    adjudicator's id. On refusal the caller's transaction stays usable.
    """
    if not decided_by:
        raise PaymentRefusedError(claim_id, "decided_by must name the adjudicator or 'auto'")
    if proposal.kind == "none" or proposal.amount <= ZERO:
        raise PaymentRefusedError(claim_id, "the proposal pays nothing")
    if decided_by == AUTO and not proposal.auto_pay:
        raise PaymentRefusedError(claim_id, f"not payable automatically: {proposal.reason}")
    payment = Payment(
        claim_id=claim_id,
        kind=proposal.kind,
        amount=proposal.amount.quantize(CENT),
        voucher=proposal.voucher.quantize(CENT),
        currency=proposal.currency,
        decided_by=decided_by,
        paid_at=_utc(now, "now"),
    )
    _ensure_sqlite_transaction(conn)
    try:
        # A savepoint: the unique violation rolls back only this insert, not the caller's work
        # (PostgreSQL would otherwise abort the whole transaction).
        with conn.begin_nested():
            conn.execute(
                insert(payments).values(
                    claim_id=payment.claim_id,
                    kind=payment.kind,
                    amount=payment.amount,
                    voucher=payment.voucher,
                    currency=payment.currency,
                    decided_by=payment.decided_by,
                    paid_at=payment.paid_at,
                )
            )
    except IntegrityError as exc:
        raise AlreadyPaidError(claim_id) from exc
    return payment


def get_payment(*, conn: Connection, claim_id: str) -> Payment | None:
    """The claim's payment, or None if it has not been paid."""
    row = conn.execute(select(payments).where(payments.c.claim_id == claim_id)).first()
    if row is None:
        return None
    paid_at = row.paid_at if row.paid_at.tzinfo else row.paid_at.replace(tzinfo=UTC)
    return Payment(
        claim_id=row.claim_id,
        kind=row.kind,
        amount=Decimal(row.amount).quantize(CENT),
        voucher=Decimal(row.voucher).quantize(CENT),
        currency=row.currency,
        decided_by=row.decided_by,
        paid_at=paid_at,
    )
