"""Compensation proposals, auto-pay limits, exact money, and the never-twice payment ledger."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from claims.compensation import (
    CompensationPolicy,
    Proposal,
    get_payment,
    pay,
    payments,
    propose,
)
from claims.errors import (
    AlreadyPaidError,
    ClaimsError,
    InvalidClaimError,
    InvalidPolicyError,
    PaymentRefusedError,
)
from claims.responsibility import Reason, Verdict

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
POLICY = CompensationPolicy()


def verdict(party: str = "carrier", confidence: float = 0.9) -> Verdict:
    party_id = None if party == "undetermined" else f"urn:{party}"
    return Verdict(party, party_id, confidence, (Reason("X", "x"),))


def offer(
    party: str = "carrier",
    *,
    confidence: float = 0.9,
    defects: frozenset[str] = frozenset({"spoilage"}),
    line: str = "12.50",
    policy: CompensationPolicy = POLICY,
) -> Proposal:
    return propose(
        verdict=verdict(party, confidence),
        defects=defects,
        line_value=Decimal(line),
        currency="EUR",
        policy=policy,
    )


@pytest.mark.parametrize("party", ["carrier", "warehouse", "supplier"])
def test_anyone_but_the_customer_refunds_the_line(party: str) -> None:
    p = offer(party)
    assert (p.kind, p.amount, p.refund, p.voucher, p.currency, p.auto_pay) == (
        "refund",
        Decimal("12.50"),
        Decimal("12.50"),
        Decimal("0.00"),
        "EUR",
        True,
    )


def test_customer_responsible_gets_nothing() -> None:
    p = offer("customer", defects=frozenset({"mold"}))
    assert (p.kind, p.amount, p.auto_pay) == ("none", Decimal("0.00"), False)
    assert "customer" in p.reason


def test_undetermined_is_proposed_but_waits_for_a_person() -> None:
    p = offer("undetermined", confidence=0.99)
    assert (p.kind, p.amount, p.auto_pay) == ("refund", Decimal("12.50"), False)
    assert "undetermined" in p.reason


def test_food_safety_adds_a_voucher() -> None:
    p = offer(defects=frozenset({"mold", "spoilage"}))
    assert (p.kind, p.refund, p.voucher, p.amount) == (
        "refund+voucher",
        Decimal("12.50"),
        Decimal("5.00"),
        Decimal("17.50"),
    )
    assert p.auto_pay


def test_cheap_lines_get_a_voucher_instead() -> None:
    policy = CompensationPolicy(voucher_instead_below=Decimal("2.00"))
    p = offer(line="1.99", policy=policy)
    assert (p.kind, p.refund, p.voucher, p.amount) == (
        "voucher",
        Decimal("0.00"),
        Decimal("1.99"),
        Decimal("1.99"),
    )
    assert offer(line="2.00", policy=policy).kind == "refund"


@pytest.mark.parametrize(
    ("confidence", "line", "defects", "auto", "why"),
    [
        (0.8, "50.00", {"spoilage"}, True, ""),  # both limits are inclusive
        (0.79, "10.00", {"spoilage"}, False, "confidence 0.79 is below 0.80"),
        (0.9, "50.01", {"spoilage"}, False, "50.01 EUR is over the automatic limit of 50.00"),
        # The limit applies to the total, voucher included.
        (0.9, "46.00", {"mold"}, False, "51.00 EUR is over the automatic limit"),
        (0.5, "80.00", {"spoilage"}, False, "below 0.80; 80.00 EUR is over"),
    ],
)
def test_auto_pay_only_when_confident_and_under_the_limit(
    confidence: float, line: str, defects: set[str], auto: bool, why: str
) -> None:
    p = offer(confidence=confidence, line=line, defects=frozenset(defects))
    assert p.auto_pay is auto
    assert why in p.reason


def test_money_is_exact_decimal() -> None:
    # 0.1 + 0.2 in float is 0.30000000000000004; in cents it is 0.30.
    p = offer(
        line="0.1",
        defects=frozenset({"mold"}),
        policy=CompensationPolicy(food_safety_extra=Decimal("0.2")),
    )
    assert p.amount == Decimal("0.30") and str(p.amount) == "0.30"
    assert all(v.as_tuple().exponent == -2 for v in (p.amount, p.refund, p.voucher))
    with pytest.raises(InvalidClaimError) as err:
        propose(
            verdict=verdict(),
            defects=frozenset(),
            line_value=12.5,  # type: ignore[arg-type]
            currency="EUR",
        )
    assert err.value.field == "line_value"
    for bad in ("12.345", "-1.00", "NaN"):
        with pytest.raises(InvalidClaimError):
            offer(line=bad)
    with pytest.raises(InvalidClaimError):
        propose(verdict=verdict(), defects=frozenset(), line_value=Decimal("1"), currency="eur")


def test_policy_from_configuration() -> None:
    policy = CompensationPolicy.from_dict(
        {
            "auto_pay_min_confidence": 0.95,
            "auto_pay_limit": "20",
            "food_safety_extra": "2.50",
            "voucher_instead_below": "1.00",
        }
    )
    assert policy.auto_pay_limit == Decimal("20.00") and str(policy.auto_pay_limit) == "20.00"
    assert policy.food_safety_extra == Decimal("2.50")
    assert offer(confidence=0.9, line="5.00", policy=policy).auto_pay is False
    assert CompensationPolicy.from_dict({}) == CompensationPolicy()
    for bad in (
        {"auto_pay_limit": 50.0},  # money is never a float
        {"auto_pay_limit": "5.001"},
        {"food_safety_extra": "-1"},
        {"auto_pay_min_confidence": 1.5},
        {"auto_pay_min_confidence": "high"},
        {"refund_everything": True},
    ):
        with pytest.raises(InvalidPolicyError):
            CompensationPolicy.from_dict(bad)


def test_never_paid_twice(claims_db: sa.Engine) -> None:
    first_offer = offer(line="9.99")
    with claims_db.begin() as conn:
        first = pay(conn=conn, claim_id="c1", proposal=first_offer, decided_by="auto", now=NOW)
    assert (first.amount, first.decided_by) == (Decimal("9.99"), "auto")
    bigger = offer(line="99.99")
    with claims_db.begin() as conn:
        with pytest.raises(AlreadyPaidError) as err:
            pay(conn=conn, claim_id="c1", proposal=bigger, decided_by="adj-7", now=NOW)
        assert err.value.claim_id == "c1" and isinstance(err.value, ClaimsError)
        # The caller's transaction survives the refusal: its other work still commits.
        pay(conn=conn, claim_id="c2", proposal=bigger, decided_by="adj-7", now=NOW)
    with claims_db.connect() as conn:
        assert get_payment(conn=conn, claim_id="c1") == first  # unchanged, exact
        rows = conn.execute(sa.select(payments).order_by(payments.c.claim_id)).all()
    assert [(r.claim_id, r.amount, r.decided_by) for r in rows] == [
        ("c1", Decimal("9.99"), "auto"),
        ("c2", Decimal("99.99"), "adj-7"),
    ]


def test_payment_is_part_of_the_callers_transaction(claims_db: sa.Engine) -> None:
    # On SQLite a bare SAVEPOINT would be the outermost transaction and commit by itself.
    with claims_db.connect() as conn:
        with conn.begin() as tx:
            pay(conn=conn, claim_id="c9", proposal=offer(), decided_by="auto", now=NOW)
            tx.rollback()
        assert get_payment(conn=conn, claim_id="c9") is None


def test_two_processes_cannot_both_pay(claims_db: sa.Engine) -> None:
    proposal = offer(line="3.20")
    first, second = claims_db.connect(), claims_db.connect()
    outcome: list[object] = []
    try:
        tx1 = first.begin()
        pay(conn=first, claim_id="c3", proposal=proposal, decided_by="auto", now=NOW)

        def rival() -> None:
            # Blocks on the first transaction's uncommitted row, then sees it committed.
            try:
                with second.begin():
                    pay(conn=second, claim_id="c3", proposal=proposal, decided_by="adj-1", now=NOW)
                outcome.append("paid")
            except AlreadyPaidError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=rival)
        thread.start()
        thread.join(0.3)
        tx1.commit()
        thread.join(10)
    finally:
        first.close()
        second.close()
    assert len(outcome) == 1 and isinstance(outcome[0], AlreadyPaidError)
    with claims_db.connect() as conn:
        payment = get_payment(conn=conn, claim_id="c3")
    assert payment is not None and payment.decided_by == "auto"


def test_what_may_not_be_paid(claims_db: sa.Engine) -> None:
    with claims_db.begin() as conn:
        with pytest.raises(PaymentRefusedError):  # the policy withheld auto-pay
            pay(
                conn=conn, claim_id="c4", proposal=offer(confidence=0.1), decided_by="auto", now=NOW
            )
        with pytest.raises(PaymentRefusedError):  # nothing to pay
            pay(conn=conn, claim_id="c4", proposal=offer("customer"), decided_by="adj-1", now=NOW)
        # A person may approve what the policy would not pay by itself.
        paid = pay(
            conn=conn,
            claim_id="c4",
            proposal=offer(confidence=0.1),
            decided_by="adj-1",
            now=NOW + timedelta(hours=1),
        )
    with claims_db.connect() as conn:
        assert get_payment(conn=conn, claim_id="c4") == paid
