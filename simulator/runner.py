"""Drive the public HTTP API with scenarios and collect what it decided.

For each scenario: register its parties (POST /v1/parties), post its EPCIS documents in
order (POST /v1/events), file the claim with its photos (POST /v1/claims, multipart), and
keep the verdict and each photo's findings as an ``Outcome``. The client is passed in, so
the same runner works against a real server (``httpx.Client``) and in-process
(``fastapi.testclient.TestClient``); nothing here imports the API.

Each call carries the key of whoever makes it in production: parties and events the
supply-chain system's, bound to every party the scenarios name (those left unregistered on
purpose too: a key may speak for a party the registry does not know); the claim the customer
app's of the claim's customer. ``Keys`` hands out their headers; ``KeyRing`` issues them
from the service's key store.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from simulator.chain import epcis_time
from simulator.photos import PhotoSource
from simulator.spec import SUBJECT_LABELS, Outcome, PartySpec, Scenario, SeenVerdict

__all__ = ["Client", "KeyIssuer", "KeyRing", "Keys", "Response", "Runner", "parties_named"]


class Response(Protocol):
    """What the runner reads of an HTTP response."""

    status_code: int

    @property
    def text(self) -> str:
        """The body as text."""
        ...

    def json(self) -> Any:
        """The body as JSON."""
        ...


class Client(Protocol):
    """What the runner needs of an HTTP client (``httpx.Client`` and ``TestClient`` fit)."""

    def post(
        self,
        url: str,
        *,
        data: Any = None,
        files: Any = None,
        json: Any = None,
        headers: Any = None,
    ) -> Response:
        """POST to a path under the client's base URL."""
        ...


class Keys(Protocol):
    """The ``Authorization`` headers the runner calls with, by who is calling."""

    def supply_chain(self, parties: Collection[str]) -> Mapping[str, str]:
        """Headers of a supply-chain key that speaks for at least ``parties``."""
        ...

    def customer(self, customer_id: str) -> Mapping[str, str]:
        """Headers of the customer app's key of ``customer_id``."""
        ...


class KeyIssuer(Protocol):
    """What ``KeyRing`` needs to issue keys (``api.auth.keys.KeyStore`` fits)."""

    def create(
        self,
        *,
        role: str,
        name: str,
        created_by: str,
        customer_id: str | None = None,
        parties: Sequence[str] = (),
    ) -> tuple[str, Any]:
        """Issue a key; returns its token and its record."""
        ...


class KeyRing:
    """Keys issued on demand from a key store: one per customer, and one supply-chain key.

    The supply-chain key is issued again, bound to every party asked for so far, only when
    asked for a party the current one does not speak for (``Runner.run_all`` asks for all of
    a batch's parties at once, so a batch needs at most one).
    """

    def __init__(self, issuer: KeyIssuer, *, created_by: str = "simulator") -> None:
        self.issuer = issuer
        self.created_by = created_by
        self._parties: frozenset[str] = frozenset()
        self._supply_chain: Mapping[str, str] | None = None
        self._customers: dict[str, Mapping[str, str]] = {}
        self._lock = threading.Lock()

    def supply_chain(self, parties: Collection[str]) -> Mapping[str, str]:
        """Headers of a supply-chain key speaking for ``parties`` (and all asked before)."""
        with self._lock:
            if self._supply_chain is None or not self._parties.issuperset(parties):
                self._parties = self._parties.union(parties)
                token, _ = self.issuer.create(
                    role="supply_chain",
                    name="simulated supply chain",
                    created_by=self.created_by,
                    parties=sorted(self._parties),
                )
                self._supply_chain = _bearer(token)
            return self._supply_chain

    def customer(self, customer_id: str) -> Mapping[str, str]:
        """Headers of the customer app of ``customer_id``, issued the first time."""
        with self._lock:
            if customer_id not in self._customers:
                token, _ = self.issuer.create(
                    role="customer_app",
                    name=f"simulated app of {customer_id}",
                    created_by=self.created_by,
                    customer_id=customer_id,
                )
                self._customers[customer_id] = _bearer(token)
            return self._customers[customer_id]


def _bearer(token: str) -> Mapping[str, str]:
    return {"Authorization": f"Bearer {token}"}


def parties_named(scenarios: Iterable[Scenario]) -> frozenset[str]:
    """Every party the scenarios register or their events name as a possessing party."""
    named: set[str] = set()
    for s in scenarios:
        named.update(p.id for p in s.parties)
        for doc in s.documents:
            for event in doc.get("epcisBody", {}).get("eventList", []):
                for x in event.get("sourceList", []) + event.get("destinationList", []):
                    party = x.get("source") or x.get("destination")
                    if x.get("type") == "possessing_party" and isinstance(party, str):
                        named.add(party)
    return frozenset(named)


class Runner:
    """Runs scenarios through the API, one at a time, on one client, with ``keys``."""

    def __init__(self, client: Client, photos: PhotoSource, keys: Keys) -> None:
        self.client = client
        self.photos = photos
        self.keys = keys
        self._registered: set[str] = set()

    def register(self, parties: Iterable[PartySpec]) -> None:
        """Register the parties not registered yet by this runner."""
        parties = list(parties)
        headers = self.keys.supply_chain({p.id for p in parties})
        for p in parties:
            if p.id in self._registered:
                continue
            r = self.client.post(
                "/v1/parties",
                json={"id": p.id, "role": p.role, "name": p.name},
                headers=headers,
            )
            if r.status_code != 201:
                raise RuntimeError(f"POST /v1/parties {p.id}: {r.status_code} {r.text[:300]}")
            self._registered.add(p.id)

    def run(self, scenario: Scenario) -> Outcome:
        """File the scenario's claim after capturing its records; errors become outcomes."""
        uploads = []
        for spec in scenario.photos:
            data = self.photos.photo(spec)
            if data is None:
                shows = "/".join(sorted(SUBJECT_LABELS[spec.subject])) or spec.subject
                return Outcome(scenario, None, skipped=f"no real photo for {shows}")
            uploads.append(data)
        supply_chain = self.keys.supply_chain(parties_named([scenario]))
        self.register(scenario.parties)
        for n, doc in enumerate(scenario.documents):
            r = self.client.post("/v1/events", json=doc, headers=supply_chain)
            if r.status_code != 201:
                return Outcome(
                    scenario, None, error=f"document {n}: {r.status_code} {r.text[:300]}"
                )
        r = self.client.post(
            "/v1/claims",
            files=[
                ("photos", (f"photo-{i}.jpg", data, "image/jpeg")) for i, data in enumerate(uploads)
            ],
            data={"claim": json.dumps(_claim_part(scenario))},
            headers={
                **self.keys.customer(scenario.claim.customer_id),
                "Idempotency-Key": f"sim-{scenario.name}-{scenario.seed}",
            },
        )
        if r.status_code != 201:
            return Outcome(scenario, None, error=f"claim: {r.status_code} {r.text[:300]}")
        return _outcome(scenario, r.json())

    def run_all(
        self,
        scenarios: Sequence[Scenario],
        *,
        progress: Callable[[int, Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Run every scenario in order (one supply-chain key speaks for all their parties)."""
        self.keys.supply_chain(parties_named(scenarios))
        out = []
        for i, s in enumerate(scenarios):
            outcome = self.run(s)
            out.append(outcome)
            if progress is not None:
                progress(i, outcome)
        return out


def _claim_part(s: Scenario) -> dict[str, Any]:
    c = s.claim
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


def _outcome(scenario: Scenario, body: dict[str, Any]) -> Outcome:
    v = body["verdict"]
    verdict = SeenVerdict(
        role=str(v["responsible_party"]),
        party_id=v.get("party_id"),
        confidence=float(v.get("confidence") or 0.0),
        codes=tuple(str(r["code"]) for r in v.get("reasons", [])),
        status=str(body.get("status", "")),
        uncited=tuple(str(r["code"]) for r in v.get("reasons", []) if not r.get("refs")),
    )
    findings = tuple(
        frozenset(str(f["label"]) for f in p.get("findings", []))
        for p in sorted(body.get("photos", []), key=lambda p: int(p.get("position", 0)))
    )
    return Outcome(scenario, verdict, findings)
