"""One claim's operational figures, read in SQL and judged by the ticket's own SLA clock.

``claim_facts`` reads the claims filed in a window with their review records
(``claims.records.load_reviews``) and gives each one's figures: its category, lot, defects,
priority and route as filed, its lot key (the one name of its lot, ``claims.lot_keys``),
its responsible party now (a person's decision over the machine's,
``claims.state.current_state``), its ticket's first response and resolution against the
deadlines moved by time spent waiting on the customer (``claims.review.ticket_status``, the
clock the queue and the claim page use), whether the policy paid it without a person, and
what it paid. ``lot_counts`` and ``paid_totals`` are the aggregates SQL computes itself:
they scan the whole baseline window.

Lots are counted by their key, so the claims a customer filed by the pack's QR code (its
Digital Link), another by the printed number and a third by the LGTIN URN are one lot. A
claim with no key row (filed before keys and not yet backfilled) counts under its lot as
filed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, case, func, select

from claims.compensation import AUTO, CENT, payments
from claims.records import load_reviews
from claims.state import current_state
from claims.tables import claim_lot_keys, claims
from claims.tickets import SLAStatus
from operations.errors import InvalidWindowError
from operations.warning import LotCounts

__all__ = ["NO_DEFECT", "ClaimFacts", "PaidTotal", "claim_facts", "lot_counts", "paid_totals"]

NO_DEFECT = "no defect found"
"""The defect key of a claim whose photos and records showed none."""

_CHUNK = 500  # ids per IN list: far below every engine's parameter limit

_KEYED = claims.outerjoin(claim_lot_keys, claim_lot_keys.c.claim_id == claims.c.id)
_LOT_KEY = func.coalesce(claim_lot_keys.c.lot_key, claims.c.lot)
"""A claim's lot key, its lot as filed where it has none: read from ``_KEYED``."""


@dataclass(frozen=True)
class ClaimFacts:
    """One claim's operational figures at ``now``.

    ``lot`` is the lot as the customer named it, ``lot_key`` the one name of that lot (the
    dashboard's lot slices group by it). Times to first response and resolution are
    wall-clock seconds from filing (None while none happened); ``first_response`` and
    ``resolution`` are the SLA states (``met``, ``due``, ``breached``) against the deadlines
    moved by pauses.
    """

    claim_id: str
    created_at: datetime
    category: str
    lot: str
    lot_key: str
    responsible_party: str
    defects: tuple[str, ...]
    priority: str
    route: str
    state: str
    first_response_s: float | None
    resolution_s: float | None
    first_response: SLAStatus
    resolution: SLAStatus
    automated: bool
    decided_by_person: bool
    paid: Decimal | None
    voucher: Decimal | None
    currency: str

    @property
    def day(self) -> str:
        """The UTC day it was filed, ISO 8601."""
        return self.created_at.astimezone(UTC).date().isoformat()


@dataclass(frozen=True)
class PaidTotal:
    """Compensation paid on the window's claims in one currency (the voucher part apart)."""

    currency: str
    amount: Decimal
    voucher: Decimal
    claims: int
    automated: int


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def check_window(since: datetime, until: datetime) -> None:
    """Refuse naive or reversed windows."""
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidWindowError("since/until", "give times with a time zone")
    if until <= since:
        raise InvalidWindowError("until", "must be after since")


def _defects(verdict: dict[str, Any]) -> tuple[str, ...]:
    """The defects the verdict rests on (photos and ledger records alike), sorted."""
    found = {str(e["defect"]) for e in verdict.get("evidence") or () if e.get("defect")}
    return tuple(sorted(found)) or (NO_DEFECT,)


def claim_facts(
    conn: Connection, *, since: datetime, until: datetime, now: datetime
) -> list[ClaimFacts]:
    """The figures of every claim filed in [since, until), oldest first."""
    check_window(since, until)
    rows = conn.execute(
        select(claims, _LOT_KEY.label("keyed_lot"))
        .select_from(_KEYED)
        .where(claims.c.created_at >= since, claims.c.created_at < until)
        .order_by(claims.c.created_at, claims.c.id)
    ).all()
    out: list[ClaimFacts] = []
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        reviews = load_reviews(conn, [r.id for r in chunk])
        for row in chunk:
            review = reviews[row.id]
            machine = json.loads(row.verdict)
            ticket = json.loads(row.ticket)
            verdict, _ = current_state(
                machine_verdict=machine,
                machine_compensation=json.loads(row.compensation),
                decision=review.decision,
                payment=review.payment,
                proposal=review.pending,
            )
            status = review.status(ticket, now)
            created = _aware(row.created_at)
            payment = review.payment
            out.append(
                ClaimFacts(
                    claim_id=row.id,
                    created_at=created,
                    category=row.category,
                    lot=row.lot,
                    lot_key=row.keyed_lot,
                    responsible_party=str(verdict["responsible_party"]),
                    defects=_defects(machine),
                    priority=str(ticket["priority"]),
                    route=str(ticket["route"]),
                    state=status.state,
                    first_response_s=_since(created, status.first_responded_at),
                    resolution_s=_since(created, status.resolved_at),
                    first_response=status.sla.first_response,
                    resolution=status.sla.resolution,
                    automated=payment is not None and payment["decided_by"] == AUTO,
                    decided_by_person=review.decision is not None,
                    paid=Decimal(payment["amount"]) if payment else None,
                    voucher=Decimal(payment["voucher"]) if payment else None,
                    currency=row.currency,
                )
            )
    return out


def _since(start: datetime, at: datetime | None) -> float | None:
    return None if at is None else (at - start).total_seconds()


def lot_counts(
    conn: Connection, *, recent_since: datetime, baseline_since: datetime, until: datetime
) -> list[LotCounts]:
    """Claims per lot (and its category) since ``recent_since`` and since ``baseline_since``.

    A lot is its claims' lot key (``_LOT_KEY``): its label is that key, the canonical Digital
    Link of a lot on record. A lot's category is the one its claims name (the latest, should
    two claims disagree).
    """
    check_window(baseline_since, until)
    recent = func.sum(case((claims.c.created_at >= recent_since, 1), else_=0))
    rows = conn.execute(
        select(
            _LOT_KEY.label("keyed_lot"),
            claims.c.category,
            recent.label("recent"),
            func.count().label("baseline"),
            func.max(claims.c.created_at).label("latest"),
        )
        .select_from(_KEYED)
        .where(claims.c.created_at >= baseline_since, claims.c.created_at < until)
        .group_by(_LOT_KEY, claims.c.category)
    ).all()
    merged: dict[str, tuple[datetime, LotCounts]] = {}
    for r in rows:
        latest = _aware(r.latest)
        before = merged.get(r.keyed_lot)
        recent_n, base_n = int(r.recent or 0), int(r.baseline)
        category = r.category
        if before is not None:
            recent_n += before[1].recent
            base_n += before[1].baseline
            if before[0] > latest:
                category, latest = before[1].category, before[0]
        merged[r.keyed_lot] = (latest, LotCounts(r.keyed_lot, category, recent_n, base_n))
    return [merged[lot][1] for lot in sorted(merged)]


def paid_totals(conn: Connection, *, since: datetime, until: datetime) -> list[PaidTotal]:
    """Compensation paid on the claims filed in [since, until), per currency."""
    check_window(since, until)
    automated = func.sum(case((payments.c.decided_by == AUTO, 1), else_=0))
    rows = conn.execute(
        select(
            payments.c.currency,
            func.sum(payments.c.amount).label("amount"),
            func.sum(payments.c.voucher).label("voucher"),
            func.count().label("claims"),
            automated.label("automated"),
        )
        .join(claims, claims.c.id == payments.c.claim_id)
        .where(claims.c.created_at >= since, claims.c.created_at < until)
        .group_by(payments.c.currency)
        .order_by(payments.c.currency)
    ).all()
    return [
        PaidTotal(
            r.currency,
            Decimal(str(r.amount)).quantize(CENT),
            Decimal(str(r.voucher)).quantize(CENT),
            int(r.claims),
            int(r.automated or 0),
        )
        for r in rows
    ]
