"""A shop's week end to end: photos for the plan, the users at once, the views, the verdict.

``play`` is what ``bench/shop.py`` and the CI test share: given a client on a served app (a
real server or the app in-process), the admin's key, a planned ``Week``, a photo source and
a webhook receiver, it plays the week, waits for the webhooks to drain, collects every view
and judges the invariants and the figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from simulator.invariants import Figures, Held, Views, check, figures
from simulator.observed import Observed
from simulator.photos import PhotoSource
from simulator.receiver import Received
from simulator.users import Shop
from simulator.views import collect
from simulator.week import BatchPlan, ClaimPlan, Week

__all__ = ["WeekPhotos", "WeekResult", "play"]


class WeekPhotos:
    """The bytes every claim photo and returned item is sent with, chosen before the week.

    Real held-out photos of each photo's subject (``HeldOutPhotos``); a copied claim sends
    the very bytes of the claim it copies. Drawn up front, in plan order, so a run is
    reproducible however the threads interleave.
    """

    def __init__(self, week: Week, source: PhotoSource) -> None:
        self._claims: dict[tuple[str, int], bytes] = {}
        self._items: dict[tuple[str, int], bytes] = {}
        for plan in week.claims:
            if plan.fraud:
                continue
            for n, spec in enumerate(plan.photos):
                data = source.photo(spec)
                if data is None:
                    raise ValueError(f"no photo of {spec.subject} for {plan.name}")
                self._claims[(plan.name, n)] = data
        for plan in week.claims:
            if plan.copy_of is not None:
                self._claims[(plan.name, 0)] = self._claims[(plan.copy_of, 0)]
        for b in week.batches:
            for n, (_, _, spec) in enumerate(b.items):
                data = source.photo(spec)
                if data is None:
                    raise ValueError(f"no photo of {spec.subject} for {b.batch_id}")
                self._items[(b.batch_id, n)] = data

    def claim(self, plan: ClaimPlan, n: int) -> bytes:
        """Photo ``n`` of the claim."""
        return self._claims[(plan.name, n)]

    def item(self, batch: BatchPlan, n: int) -> bytes:
        """The photo of item ``n`` of the batch."""
        return self._items[(batch.batch_id, n)]


@dataclass(frozen=True)
class WeekResult:
    """What the week did and whether it held."""

    week: Week
    seen: Observed
    views: Views
    held: tuple[Held, ...]
    figures: Figures

    @property
    def ok(self) -> bool:
        """Every invariant held."""
        return all(h.ok for h in self.held)

    def held_by_name(self) -> dict[str, Held]:
        """The invariants by name."""
        return {h.name: h for h in self.held}


def play(
    client: httpx.Client,
    week: Week,
    *,
    admin_token: str,
    photos: WeekPhotos,
    received: Received,
    auto_pay_min_confidence: float = 0.8,
    rate_per_minute: int = 600,
    burst: int = 120,
    customers_at_once: int = 4,
    adjudicators: int = 3,
    approver_token: str | None = None,
    second_admin_token: str | None = None,
    person_delay: float = 3.0,
    drain_seconds: float = 120.0,
    webhook_wait: float = 60.0,
) -> WeekResult:
    """Play the week, wait for the webhooks, collect every view, judge it."""
    shop = Shop(
        client,
        week,
        admin_token=admin_token,
        photo_of=photos.claim,
        item_photo=photos.item,
        rate_per_minute=rate_per_minute,
        burst=burst,
        customers_at_once=customers_at_once,
        adjudicators=adjudicators,
        approver_token=approver_token,
        second_admin_token=second_admin_token,
        person_delay=person_delay,
    )
    seen = shop.run(drain_seconds=drain_seconds)
    _drain_webhooks(received, claims=len(seen.by_id()), timeout=webhook_wait)
    views = Views(**collect(shop, received.by_claim()))
    held = check(week, seen, views)
    figs = figures(week, seen, views, auto_pay_min_confidence=auto_pay_min_confidence)
    extra = (
        f"webhooks: {received.count()} events received, {received.duplicates} repeated "
        f"deliveries, {received.bad_signatures} bad signatures",
    )
    return WeekResult(week, seen, views, tuple(held), Figures(figs.lines + extra))


def _drain_webhooks(received: Received, *, claims: int, timeout: float) -> None:
    """Wait until every claim has an event and no new one came for a few seconds."""
    deadline = time.monotonic() + timeout
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = received.count()
        if n != last:
            last, quiet_since = n, time.monotonic()
        elif len(received.by_claim()) >= claims and time.monotonic() - quiet_since > 5:
            return
        time.sleep(0.5)
