"""The shop's users acting at once through the public HTTP API, each with its own key.

``Shop.run`` plays a planned ``Week``: the admin makes a key per user (``POST /v1/keys``, as
the README shows), then threads act side by side: each party's system registers itself and
posts its own records; customers' apps file claims with photos; stations grade returned items
of the same lots; the loggers whose readings are late post them after the lot's first claim;
adjudicators work the review queue with their own keys; an auditor samples the queue. What
each call answered is kept in ``Observed``; ``invariants`` judges it. Nothing here imports
the API: the client is any ``httpx.Client`` (a real server, or the app served in-process).

Honest clients keep to the published rate limit (a token bucket per key, the server's rate
and burst), so a 429 here means the server refused a client that kept the rules.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from simulator.chain import epcis_time
from simulator.decisions import awaits_approval, decision_for, settled, waits_for_person
from simulator.observed import Call, Filed, Observed
from simulator.views import queue_views
from simulator.week import BatchPlan, ClaimPlan, LotPlan, Posting, Week

__all__ = ["Shop", "TokenBucket", "claim_part"]

_WAIT = 120.0  # seconds a user waits for what it depends on before going ahead anyway
_SETTLE_WAIT = 30.0  # ...and for a claim on the lot to be settled, before a grade or late record


class TokenBucket:
    """A client-side rate limit: ``per_minute`` sustained, ``burst`` at once (0: none)."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> None:
        """Wait until a request may be sent."""
        if self.rate <= 0:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
                self.at = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            time.sleep(wait)


def claim_part(plan: ClaimPlan) -> dict[str, Any]:
    """The ``claim`` JSON part of a filing."""
    c = plan.claim
    return {
        "order_id": c.order_id,
        "customer_id": c.customer_id,
        "lot": c.lot,
        "category": c.category,
        "delivered_at": epcis_time(c.delivered_at),
        "line_value": c.line_value,
        "currency": c.currency,
        "description": c.description,
    }


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Shop:
    """The week's users on one HTTP client; ``photos`` maps a photo's plan key to its bytes.

    ``photo_of(claim_name, n)`` and ``item_photo(batch_id, position)`` give the bytes to send.
    """

    def __init__(
        self,
        client: httpx.Client,
        week: Week,
        *,
        admin_token: str,
        photo_of: Callable[[ClaimPlan, int], bytes],
        item_photo: Callable[[BatchPlan, int], bytes],
        rate_per_minute: int = 600,
        burst: int = 120,
        customers_at_once: int = 4,
        adjudicators: int = 3,
        approver_token: str | None = None,
        second_admin_token: str | None = None,
        person_delay: float = 3.0,
    ) -> None:
        self.client = client
        self.week = week
        self.photo_of = photo_of
        self.item_photo = item_photo
        self.rate = (rate_per_minute, burst)
        self.customers_at_once = customers_at_once
        self.adjudicator_count = adjudicators
        # People are slower than the machine: a claim reaches a person this many seconds
        # after it was filed (so late records can still find it open).
        self.person_delay = person_delay
        self.seen = Observed()
        self.tokens: dict[str, str] = {"admin": admin_token}
        if approver_token is not None:
            # A senior adjudicator whose key carries an approval limit: granted from the
            # server's shell (``freshproof keys create --approval-limit``), never the API.
            self.tokens["approver"] = approver_token
        if second_admin_token is not None:
            # Adjudicator keys need a second admin's approval (separation of duties).
            self.tokens["second admin"] = second_admin_token
        self._buckets: dict[str, TokenBucket] = {}
        self._records_in: dict[str, threading.Event] = {}
        self._first_claim: dict[str, threading.Event] = {}
        self._graded: dict[str, threading.Event] = {}
        self._settled_one: dict[str, threading.Event] = {}
        self._pending_posters: dict[str, set[str]] = {}
        # Per lot, one flag per posting: set once it was sent (in the lot's posting order).
        self._posted: dict[str, list[threading.Event]] = {}
        self._taken: set[str] = set()
        self._customers_done = threading.Event()
        self._judges_done = threading.Event()
        self._stop = threading.Event()

    # ------------------------------------------------------------------ HTTP

    def call(self, who: str, method: str, path: str, **kw: Any) -> httpx.Response:
        """One request as ``who`` (its key, its rate limit), recorded; 429s are waited out."""
        # An honest client keeps a margin under the published rate: requests sent evenly can
        # still arrive bunched (one slow, the next fast) at a server counting arrivals.
        per_minute, burst = self.rate
        bucket = self._buckets.setdefault(
            who, TokenBucket(int(per_minute * 0.9), max(1, burst // 2))
        )
        headers = {**kw.pop("headers", {}), **_headers(self.tokens[who])}
        while True:
            bucket.take()
            t0 = time.monotonic()
            r = self.client.request(method, path, headers=headers, **kw)
            with self.seen.lock:
                self.seen.calls.append(
                    Call(who, method, path, r.status_code, time.monotonic() - t0)
                )
            if r.status_code != 429:
                return r
            time.sleep(float(r.headers.get("Retry-After", "1")))

    def _expect_refused(self, r: httpx.Response, posting: Posting, what: str) -> None:
        """A posting the authorship rule must not let in (it comes after a custodian that
        recorded nothing): accepted, it would be a receipt from a sender with nothing on
        record, the hole the rule closes. Held (202) when it carries that receipt, refused
        (403 not-your-custody) otherwise (``Posting.held``)."""
        if posting.held and r.status_code == 202 and r.json().get("status") == "held":
            with self.seen.lock:
                self.seen.held_postings += 1
            return
        if not posting.held and r.status_code == 403 and "not-your-custody" in r.text:
            with self.seen.lock:
                self.seen.refused_postings += 1
            return
        expected = "202 held" if posting.held else "403 not-your-custody"
        with self.seen.lock:
            self.seen.errors.append(
                f"{what}: {r.status_code}, expected {expected} after a silent custodian: "
                f"{r.text[:200]}"
            )

    def _expect(self, r: httpx.Response, ok: tuple[int, ...], what: str) -> bool:
        if r.status_code in ok:
            return True
        with self.seen.lock:
            self.seen.errors.append(f"{what}: {r.status_code} {r.text[:300]}")
        return False

    # ------------------------------------------------------------------ keys

    def make_keys(self) -> None:
        """The admin makes one key per user, as the README shows."""
        w = self.week

        def make(who: str, body: dict[str, Any]) -> None:
            r = self.call("admin", "POST", "/v1/keys", json=body)
            if r.status_code == 202 and "second admin" in self.tokens:
                # A key that decides claims waits for a second admin, who approves it.
                url = f"/v1/key-requests/{r.json()['request_id']}/approval"
                r = self.call("second admin", "POST", url, json={"answer": "approve"})
            if r.status_code != 201:
                raise RuntimeError(f"POST /v1/keys for {who}: {r.status_code} {r.text[:300]}")
            self.tokens[who] = str(r.json()["key"])

        for party in w.parties:
            make(
                f"party:{party}",
                {"role": "supply_chain", "name": f"system of {party}", "parties": [party]},
            )
        for customer in w.customers:
            make(
                f"customer:{customer}",
                {"role": "customer_app", "name": f"app of {customer}", "customer_id": customer},
            )
        for s in w.stations:
            make(
                f"station:{s.station_id}",
                {
                    "role": "station",
                    "name": f"station {s.station_id}",
                    "station_id": s.station_id,
                    "read_point": s.read_point,
                },
            )
        for n in range(self.adjudicator_count):
            make(f"adjudicator:{n}", {"role": "adjudicator", "name": f"adjudicator {n}"})
        make("auditor", {"role": "auditor", "name": "auditor"})

    # ------------------------------------------------------------------ the week

    def run(self, *, drain_seconds: float = 120.0) -> Observed:
        """Play the whole week with every user at once; returns what was observed."""
        w = self.week
        for lot in w.lots:
            self._records_in[lot.lot] = threading.Event()
            self._first_claim[lot.lot] = threading.Event()
            self._graded[lot.lot] = threading.Event()
            self._settled_one[lot.lot] = threading.Event()
            self._pending_posters[lot.lot] = {p.party for p in lot.postings}
            self._posted[lot.lot] = [threading.Event() for _ in lot.postings]
            if not lot.postings:
                self._records_in[lot.lot].set()
        for lot in w.lots:
            if not any(b.lot == lot.lot for b in w.batches):
                self._graded[lot.lot].set()
        self.make_keys()
        self.seen.started = time.monotonic()
        registered = threading.Barrier(len(w.parties), timeout=_WAIT)
        threads = [self._thread(self._party, party, registered) for party in w.parties]
        claims_left = list(w.claims)
        lock = threading.Lock()
        customers = [
            self._thread(self._customer, claims_left, lock) for _ in range(self.customers_at_once)
        ]
        threads += customers
        threads += [
            self._thread(self._station, s.station_id, [b for b in w.batches if b.station == s])
            for s in w.stations
        ]
        threads.append(self._thread(self._late_logger))
        judges = [self._thread(self._adjudicator, n) for n in range(self.adjudicator_count)]
        second = [self._thread(self._approver)] if "approver" in self.tokens else []
        sampler = self._thread(self._auditor)
        for t in [*threads, *judges, *second, sampler]:
            t.start()
        for t in threads:
            t.join()
        self._customers_done.set()
        deadline = time.monotonic() + drain_seconds
        for t in judges:
            t.join(max(0.0, deadline - time.monotonic()))
        self._judges_done.set()
        for t in second:
            t.join(max(0.0, deadline - time.monotonic()) + 30)
        self._stop.set()
        for t in [*judges, *second, sampler]:
            t.join()
        self.seen.finished = time.monotonic()
        return self.seen

    def _thread(self, target: Callable[..., None], *args: Any) -> threading.Thread:
        def guarded() -> None:
            try:
                target(*args)
            except Exception as exc:  # a user's crash is a finding, not a hang
                with self.seen.lock:
                    self.seen.errors.append(f"{target.__name__}{args[:1]}: {exc!r}")

        return threading.Thread(target=guarded, daemon=True, name=target.__name__)

    # ------------------------------------------------------------------ supply chain

    def _register(self, party: str) -> None:
        """The party's system registers the party it speaks for (the unregistered never do)."""
        known = {p.id: p for lot in self.week.lots for p in lot.scenario.parties}
        spec = known.get(party)
        if spec is None:
            return
        r = self.call(
            f"party:{party}",
            "POST",
            "/v1/parties",
            json={"id": spec.id, "role": spec.role, "name": spec.name},
        )
        self._expect(r, (200, 201), f"register {party}")

    def _party(self, party: str, registered: threading.Barrier) -> None:
        """One party's system registers its party, then posts its records lot by lot.

        Each posting goes after the lot's postings before it: a key may write only the part
        of a lot's history its party took part in (``supplychain.authorship``), and a party takes
        part when the records before it (a shipment naming it) are on the ledger.
        """
        who = f"party:{party}"
        self._register(party)
        registered.wait()  # every party is known before any record names it
        for lot in self.week.lots:
            posted = self._posted[lot.lot]
            for n, posting in enumerate(lot.postings):
                if posting.party != party:
                    continue
                for earlier in posted[:n]:
                    earlier.wait(_WAIT)
                r = self.call(who, "POST", "/v1/events", json=posting.document)
                posted[n].set()
                if posting.refused:
                    self._expect_refused(r, posting, f"events of {party} for {lot.lot}")
                    continue
                self._expect(r, (201,), f"events of {party} for {lot.lot}")
            with self.seen.lock:
                pending = self._pending_posters[lot.lot]
                pending.discard(party)
                if not pending:
                    self._records_in[lot.lot].set()

    def _late_logger(self) -> None:
        """Loggers whose readings reach the ledger only after the lot's first claim."""
        for lot in self.week.lots:
            if not lot.late_postings:
                continue
            if lot.late_after_settled:
                self._waitsettled(lot.lot)
            else:
                self._first_claim[lot.lot].wait(_WAIT)
            self._snapshotsettled(lot)
            for posting in lot.late_postings:
                r = self.call(f"party:{posting.party}", "POST", "/v1/events", json=posting.document)
                if posting.refused:
                    self._expect_refused(
                        r, posting, f"late readings of {posting.party} for {lot.lot}"
                    )
                    continue
                self._expect(r, (201,), f"late readings of {posting.party} for {lot.lot}")
            self.seen.late_posted_at[lot.lot] = time.monotonic()

    # ------------------------------------------------------------------ customers

    def _customer(self, left: list[ClaimPlan], lock: threading.Lock) -> None:
        """A customer app files the next claim whose lot is ready."""
        while True:
            with lock:
                if not left:
                    return
                plan = next(
                    (
                        p
                        for p in left
                        if self._records_in[p.lot].is_set()
                        and (not p.after_grades or self._graded[p.lot].is_set())
                    ),
                    left[0],
                )
                left.remove(plan)
            self._records_in[plan.lot].wait(_WAIT)
            if plan.after_grades:
                self._graded[plan.lot].wait(_WAIT)
            self._file(plan)

    def _file(self, plan: ClaimPlan) -> None:
        files = [
            ("photos", (f"photo-{n}.jpg", self.photo_of(plan, n), "image/jpeg"))
            for n in range(len(plan.photos))
        ]
        sent = time.monotonic()
        r = self.call(
            f"customer:{plan.claim.customer_id}",
            "POST",
            "/v1/claims",
            files=files,
            data={"claim": json.dumps(claim_part(plan))},
            headers={"Idempotency-Key": f"shop-{plan.name}"},
        )
        answered = time.monotonic()
        ok = self._expect(r, (201,), f"claim {plan.name}")
        body = r.json() if ok else {}
        filed = Filed(plan, body.get("id"), sent, answered, body, error=None if ok else r.text)
        with self.seen.lock:
            self.seen.filed[plan.name] = filed
            if ok and settled(body):
                self.seen.decided_at[str(body["id"])] = answered
                self._settled_one[plan.lot].set()
        self._first_claim[plan.lot].set()

    # ------------------------------------------------------------------ stations

    def _station(self, station_id: str, batches: list[BatchPlan]) -> None:
        """A station grades returned items of a lot once the lot's first claims are in."""
        for b in batches:
            self._waitsettled(b.lot)
            self._snapshotsettled(self.week.lot(b.lot))
            files = [
                ("photos", (f"item-{n}.jpg", self.item_photo(b, n), "image/jpeg"))
                for n in range(len(b.items))
            ]
            batch = {
                "batch_id": b.batch_id,
                "items": [
                    {"epc": epc, "kind": kind, "photos": [n]}
                    for n, (epc, kind, _) in enumerate(b.items)
                ],
            }
            r = self.call(
                f"station:{station_id}",
                "POST",
                "/v1/stations/batches",
                files=files,
                data={"batch": json.dumps(batch)},
            )
            if self._expect(r, (200, 201, 202), f"batch {b.batch_id}"):
                self.seen.batches[b.batch_id] = r.json()
            self.seen.graded_at[b.batch_id] = time.monotonic()
            if all(x.batch_id in self.seen.batches for x in self.week.batches if x.lot == b.lot):
                self._graded[b.lot].set()

    def _waitsettled(self, lot: str) -> None:
        """Until the lot has a claim filed and (for a while) one settled: what may not change."""
        self._first_claim[lot].wait(_WAIT)
        self._settled_one[lot].wait(_SETTLE_WAIT)

    def _snapshotsettled(self, lot: LotPlan) -> None:
        """What the settled claims of the lot show before a grade or a late record arrives."""
        for f in self.seen.by_id().values():
            if f.plan.lot != lot.lot or not f.claim_id or f.claim_id in self.seen.settled_before:
                continue
            r = self.call("auditor", "GET", f"/v1/claims/{f.claim_id}")
            if r.status_code == 200 and settled(r.json()):
                with self.seen.lock:
                    self.seen.settled_before[f.claim_id] = r.json()
                    self.seen.settled_read_at[f.claim_id] = time.monotonic()

    # ------------------------------------------------------------------ adjudicators

    def _adjudicator(self, n: int) -> None:
        """Work the queue, soonest SLA first: decide what waits for a person."""
        who = f"adjudicator:{n}"
        while not self._stop.is_set():
            r = self.call(who, "GET", "/v1/review", params={"limit": 200})
            if not self._expect(r, (200,), "review queue"):
                time.sleep(1)
                continue
            todo = [c for c in r.json()["items"] if waits_for_person(c)]
            filed = self.seen.by_id()
            ready = time.monotonic() - self.person_delay
            mine = None
            with self.seen.lock:
                for c in todo:
                    if c["id"] in filed and filed[c["id"]].answered > ready:
                        continue
                    if c["id"] not in self._taken and c["id"] not in self.seen.over_limit:
                        self._taken.add(c["id"])
                        mine = c
                        break
            if mine is None:
                if self._customers_done.is_set() and not self._undecided_left(todo):
                    return
                time.sleep(0.5)
                continue
            self._decide(who, mine)

    def _undecided_left(self, todo: list[dict[str, Any]]) -> bool:
        ids = {c["id"] for c in todo}
        return bool(ids - self.seen.over_limit - self._taken)

    def _decide(self, who: str, claim: dict[str, Any]) -> None:
        filed = self.seen.by_id().get(claim["id"])
        if filed is None:  # filed but its answer not yet read: look again later
            with self.seen.lock:
                self._taken.discard(claim["id"])
            time.sleep(0.2)
            return
        # The person opens the claim as it is now: the queue listing may be a few seconds old,
        # and meanwhile a late record may have settled it (the machine paid it).
        now = self.call(who, "GET", f"/v1/claims/{claim['id']}")
        if not self._expect(now, (200,), f"claim {claim['id']}") or not waits_for_person(
            now.json()
        ):
            return
        claim = now.json()
        body = decision_for(filed.plan, claim)
        r = self.call(who, "POST", f"/v1/claims/{claim['id']}/decision", json=body)
        with self.seen.lock:
            self.seen.decisions.setdefault(claim["id"], []).append((who, r.status_code, body))
            if r.status_code == 200:
                self.seen.person_at[claim["id"]] = time.monotonic()
            if r.status_code == 200 and awaits_approval(r.json()):
                self.seen.proposed[claim["id"]] = who
            elif r.status_code == 200:
                self.seen.decided_at[claim["id"]] = time.monotonic()
                self._settled_one[filed.plan.lot].set()
            elif r.status_code == 422 and "over-limit" in r.text:
                self.seen.over_limit.add(claim["id"])
            else:
                self.seen.errors.append(f"decision {claim['id']}: {r.status_code} {r.text[:300]}")

    def _approver(self) -> None:
        """The second person: approves what another adjudicator proposed above the limit."""
        while not self._stop.is_set():
            r = self.call(
                "approver", "GET", "/v1/review", params={"view": "awaiting_approval", "limit": 200}
            )
            if not self._expect(r, (200,), "approval queue"):
                time.sleep(1)
                continue
            pending = [c for c in r.json()["items"] if awaits_approval(c)]
            for c in pending:
                a = self.call(
                    "approver",
                    "POST",
                    f"/v1/claims/{c['id']}/approval",
                    json={"answer": "approve", "note": "simulated second person"},
                )
                if self._expect(a, (200,), f"approval {c['id']}"):
                    with self.seen.lock:
                        self.seen.approved[c["id"]] = "approver"
                        self.seen.decided_at[c["id"]] = self.seen.person_at[c["id"]] = (
                            time.monotonic()
                        )
            if not pending:
                if self._judges_done.is_set():
                    return
                time.sleep(0.5)

    # ------------------------------------------------------------------ auditor

    def _auditor(self) -> None:
        """Sample the queue's views every two seconds."""
        while not self._stop.wait(2.0):
            sample = {k: len(v) for k, v in queue_views(self).items()}
            sample["t"] = round(time.monotonic() - self.seen.started)
            self.seen.queue_samples.append(sample)
