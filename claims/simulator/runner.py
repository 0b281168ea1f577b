"""Drive the public HTTP API with scenarios and collect what it decided.

For each scenario: register its parties (POST /v1/parties), post its EPCIS documents in
order (POST /v1/events), file the claim with its photos (POST /v1/claims, multipart), and
keep the verdict and each photo's findings as an ``Outcome``. The client is passed in, so
the same runner works against a real server (``httpx.Client``) and in-process
(``fastapi.testclient.TestClient``); nothing here imports the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from claims.simulator.chain import epcis_time
from claims.simulator.photos import PhotoSource
from claims.simulator.spec import SUBJECT_LABELS, Outcome, PartySpec, Scenario, SeenVerdict

__all__ = ["Client", "Response", "Runner"]


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


class Runner:
    """Runs scenarios through the API, one at a time, on one client."""

    def __init__(self, client: Client, photos: PhotoSource) -> None:
        self.client = client
        self.photos = photos
        self._registered: set[str] = set()

    def register(self, parties: Iterable[PartySpec]) -> None:
        """Register the parties not registered yet by this runner."""
        for p in parties:
            if p.id in self._registered:
                continue
            r = self.client.post("/v1/parties", json={"id": p.id, "role": p.role, "name": p.name})
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
        self.register(scenario.parties)
        for n, doc in enumerate(scenario.documents):
            r = self.client.post("/v1/events", json=doc)
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
            headers={"Idempotency-Key": f"sim-{scenario.name}-{scenario.seed}"},
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
        """Run every scenario in order."""
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
