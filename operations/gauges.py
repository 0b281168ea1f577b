"""What the operation looks like now, as the gauges /metrics exports and the alert rules read.

Read from the database at scrape time, so every API process reports the same figures
(counters kept in one process would each see a part of the traffic):

* open tickets by priority, and those past their first-response or resolution deadline
  (moved by pauses), over the claims filed in the last ``open_days`` days;
* the last 24 hours: claims filed, paid without a person, breaching either SLA, and the
  p50 / p90 time to first response of those that had one;
* the early-warning list's lots that have a rate and a baseline (their probability of
  running above the multiple, and their rate's ratio to the baseline).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from claims.tickets import PRIORITIES
from ledger.log import Ledger
from operations.dashboard import percentile, warnings_at
from operations.errors import InvalidWindowError
from operations.facts import claim_facts
from operations.warning import LotWarning, WarningPolicy
from storage.db import read_snapshot

__all__ = ["OperationsGauges", "operations_gauges"]


@dataclass(frozen=True)
class OperationsGauges:
    """The operation's gauges at one moment."""

    open_tickets: dict[str, int]
    overdue_first_response: dict[str, int]
    overdue_resolution: dict[str, int]
    filed_24h: int
    automated_24h: int
    breached_24h: int
    first_response_p50_s_24h: float | None
    first_response_p90_s_24h: float | None
    lots: tuple[LotWarning, ...]


def operations_gauges(
    *,
    engine: Engine,
    ledger: Ledger,
    now: datetime,
    open_days: int = 30,
    warning_policy: WarningPolicy = WarningPolicy(),
) -> OperationsGauges:
    """The gauges at ``now``."""
    if now.tzinfo is None:
        raise InvalidWindowError("now", "give a time with a time zone")
    until = now + timedelta(microseconds=1)
    with read_snapshot(engine) as conn:  # the figures of one committed state
        facts = claim_facts(conn, since=now - timedelta(days=open_days), until=until, now=now)
    still_open = [f for f in facts if f.state != "resolved"]
    day = [f for f in facts if f.created_at >= now - timedelta(hours=24)]
    first = [f.first_response_s for f in day if f.first_response_s is not None]

    def by_priority(keep: list[bool]) -> dict[str, int]:
        out = dict.fromkeys(PRIORITIES, 0)
        for f, k in zip(still_open, keep, strict=True):
            out[f.priority] = out.get(f.priority, 0) + int(k)
        return out

    return OperationsGauges(
        open_tickets=by_priority([True] * len(still_open)),
        overdue_first_response=by_priority([f.first_response == "breached" for f in still_open]),
        overdue_resolution=by_priority([f.resolution == "breached" for f in still_open]),
        filed_24h=len(day),
        automated_24h=sum(f.automated for f in day),
        breached_24h=sum("breached" in (f.first_response, f.resolution) for f in day),
        first_response_p50_s_24h=percentile(first, 0.5),
        first_response_p90_s_24h=percentile(first, 0.9),
        lots=tuple(
            w
            for w in warnings_at(ledger=ledger, now=now, policy=warning_policy)
            if w.probability is not None
        ),
    )
