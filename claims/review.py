"""A ticket's lifecycle and its SLA clock, computed from the ticket's history. Pure.

    new ──acknowledge──▶ acknowledged ──resolve──▶ resolved ──reopen──▶ reopened
     │                      │  ▲                      ▲                  │
     └──wait_on_customer──▶ waiting_on_customer ──────┘ (resolve)        │
                            (resume ▶ acknowledged)      acknowledge, wait, resolve ◀┘

Waiting on the customer pauses the SLA clock: both deadlines move by the time spent
waiting. The first response is the first acknowledgement, wait or resolution; the
resolution is the latest ``resolve`` while the ticket stays resolved. Breach flags come
from ``claims.tickets.sla_state`` on the moved deadlines, so they are always recomputed
from the history, never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from claims.errors import InvalidTransitionError
from claims.tickets import SLAState, sla_state

__all__ = [
    "ACTIONS",
    "STATES",
    "TicketEvent",
    "TicketStatus",
    "next_state",
    "ticket_status",
]

STATES = ("new", "acknowledged", "waiting_on_customer", "resolved", "reopened")
_OPEN = frozenset({"new", "acknowledged", "waiting_on_customer", "reopened"})
# action → (states it may leave, the state it enters)
ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"new", "reopened"}), "acknowledged"),
    "wait_on_customer": (frozenset({"new", "acknowledged", "reopened"}), "waiting_on_customer"),
    "resume": (frozenset({"waiting_on_customer"}), "acknowledged"),
    "resolve": (_OPEN, "resolved"),
    "reopen": (frozenset({"resolved"}), "reopened"),
}
_RESPONDS = frozenset({"acknowledge", "wait_on_customer", "resolve"})


@dataclass(frozen=True)
class TicketEvent:
    """One change of a ticket's state, as the history keeps it."""

    at: datetime
    action: str
    from_state: str
    to_state: str
    actor: str
    note: str = ""
    ledger_index: int | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "at": self.at.isoformat(),
            "action": self.action,
            "from": self.from_state,
            "to": self.to_state,
            "actor": self.actor,
            "note": self.note,
            "ledger_index": self.ledger_index,
        }


@dataclass(frozen=True)
class TicketStatus:
    """Where a ticket stands: its state, deadlines moved by pauses, and the SLA flags."""

    state: str
    first_response_due: datetime
    resolution_due: datetime
    paused: timedelta
    first_responded_at: datetime | None
    resolved_at: datetime | None
    sla: SLAState

    @property
    def open(self) -> bool:
        """Not resolved."""
        return self.state != "resolved"


def next_state(current: str, action: str) -> str:
    """The state ``action`` leads to from ``current``; ``InvalidTransitionError`` if none."""
    if action not in ACTIONS:
        raise InvalidTransitionError(current, action, f"unknown action (one of {sorted(ACTIONS)})")
    sources, target = ACTIONS[action]
    if current not in sources:
        raise InvalidTransitionError(
            current,
            action,
            f"{'an' if current[:1] in 'aeiou' else 'a'} {current} ticket cannot "
            f"{action.replace('_', ' ')}",
        )
    return target


def _paused(events: Sequence[TicketEvent], now: datetime) -> timedelta:
    total, since = timedelta(0), None
    for e in events:
        if e.to_state == "waiting_on_customer" and since is None:
            since = e.at
        elif e.to_state != "waiting_on_customer" and since is not None:
            total, since = total + (e.at - since), None
    return total + (now - since if since is not None else timedelta(0))


def ticket_status(
    *,
    first_response_due: datetime,
    resolution_due: datetime,
    events: Sequence[TicketEvent],
    now: datetime,
) -> TicketStatus:
    """The ticket's state and SLA at ``now`` from its planned deadlines and its history."""
    state = events[-1].to_state if events else "new"
    paused = _paused(events, now)
    responded = next((e.at for e in events if e.action in _RESPONDS), None)
    resolved = events[-1].at if state == "resolved" else None
    fr_due, res_due = first_response_due + paused, resolution_due + paused
    return TicketStatus(
        state=state,
        first_response_due=fr_due,
        resolution_due=res_due,
        paused=paused,
        first_responded_at=responded,
        resolved_at=resolved,
        sla=sla_state(
            first_response_due=fr_due,
            resolution_due=res_due,
            first_responded_at=responded,
            resolved_at=resolved,
            now=now,
        ),
    )
