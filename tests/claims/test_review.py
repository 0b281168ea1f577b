"""The ticket lifecycle and its SLA clock, from the history alone."""

from datetime import UTC, datetime, timedelta

import pytest

from claims.errors import InvalidTransitionError
from claims.review import TicketEvent, next_state, ticket_status

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(minutes: float, action: str, frm: str, to: str) -> TicketEvent:
    return TicketEvent(at(minutes), action, frm, to, "key:fpk_00000000 (adjudicator)")


def test_the_lifecycle_allows_only_its_moves() -> None:
    assert next_state("new", "acknowledge") == "acknowledged"
    assert next_state("acknowledged", "wait_on_customer") == "waiting_on_customer"
    assert next_state("waiting_on_customer", "resume") == "acknowledged"
    assert next_state("waiting_on_customer", "resolve") == "resolved"
    assert next_state("resolved", "reopen") == "reopened"
    assert next_state("reopened", "resolve") == "resolved"
    for state, action in [
        ("resolved", "acknowledge"),
        ("new", "resume"),
        ("new", "reopen"),
        ("resolved", "resolve"),
    ]:
        with pytest.raises(InvalidTransitionError) as err:
            next_state(state, action)
        assert (err.value.state, err.value.action) == (state, action)
    with pytest.raises(InvalidTransitionError, match="unknown action"):
        next_state("new", "escalate")


def test_waiting_on_the_customer_pauses_both_deadlines() -> None:
    events = [
        ev(10, "acknowledge", "new", "acknowledged"),
        ev(20, "wait_on_customer", "acknowledged", "waiting_on_customer"),
        ev(80, "resume", "waiting_on_customer", "acknowledged"),
    ]
    status = ticket_status(
        first_response_due=at(30), resolution_due=at(120), events=events, now=at(150)
    )
    assert status.state == "acknowledged" and status.paused == timedelta(minutes=60)
    assert status.resolution_due == at(180) and status.sla.resolution == "due"
    assert status.first_responded_at == at(10) and status.sla.first_response == "met"
    # Still waiting: the clock is paused up to now.
    waiting = ticket_status(
        first_response_due=at(30), resolution_due=at(120), events=events[:2], now=at(500)
    )
    assert waiting.paused == timedelta(minutes=480) and waiting.sla.resolution == "due"


def test_breaches_come_from_the_history() -> None:
    late = [
        ev(45, "acknowledge", "new", "acknowledged"),
        ev(200, "resolve", "acknowledged", "resolved"),
    ]
    status = ticket_status(
        first_response_due=at(30), resolution_due=at(120), events=late, now=at(300)
    )
    assert (status.sla.first_response, status.sla.resolution) == ("breached", "breached")
    assert status.resolved_at == at(200) and not status.open
    untouched = ticket_status(
        first_response_due=at(30), resolution_due=at(120), events=[], now=at(31)
    )
    assert untouched.state == "new" and untouched.sla.first_response == "breached"


def test_reopening_clears_the_resolution() -> None:
    events = [
        ev(10, "resolve", "new", "resolved"),
        ev(50, "reopen", "resolved", "reopened"),
    ]
    status = ticket_status(
        first_response_due=at(30), resolution_due=at(120), events=events, now=at(60)
    )
    assert status.state == "reopened" and status.resolved_at is None and status.open
