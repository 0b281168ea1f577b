"""The simulator's vocabulary: scenarios, the truth they carry, and what the engine answered.

Typed, frozen dataclasses pass between the simulator's modules; the only HTTP-shaped values
are the EPCIS documents themselves, which are what supply-chain systems really send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from claims.labels import SELLER

__all__ = [
    "DECIDED_ROLES",
    "SELLER",
    "SUBJECT_LABELS",
    "UNDETERMINED",
    "ClaimSpec",
    "Outcome",
    "PartySpec",
    "PhotoSpec",
    "Scenario",
    "SeenVerdict",
    "Truth",
]

UNDETERMINED = "undetermined"
# The seller: the retailer that sold a pack past its recorded use-by (``claims.labels``).
DECIDED_ROLES = frozenset({"supplier", "carrier", "warehouse", "customer", SELLER})
SUBJECT_LABELS: dict[str, frozenset[str]] = {
    "rotten": frozenset({"spoilage", "mold"}),
    "damaged_package": frozenset({"package_damage"}),
    "swollen_pack": frozenset({"swelling"}),
    "fresh_produce": frozenset(),
    "intact_package": frozenset(),
}
"""What a photo of each subject should be found to show: the labels a right finding may
carry (spoilage and mold are one family: both are rot, and the rules treat them alike)."""


@dataclass(frozen=True)
class PartySpec:
    """A party of the chain: its PGLN URN, role and name, as POST /v1/parties takes them."""

    id: str
    role: str
    name: str


@dataclass(frozen=True)
class Truth:
    """Who is really responsible: a role, and the party id where the role is not enough."""

    role: str
    party_id: str | None = None

    @property
    def decided(self) -> bool:
        """False when the records cannot carry a decision (the truth is undetermined)."""
        return self.role != UNDETERMINED


@dataclass(frozen=True)
class PhotoSpec:
    """One claim photo: what it shows, the findings given mode reports, a texture seed.

    ``subject`` is a key of ``SUBJECT_LABELS`` (``rotten``, ``damaged_package``,
    ``swollen_pack``, ``fresh_produce``, ``intact_package``): model mode picks a real held-out
    photo of that subject; given mode renders a texture from ``texture_seed`` and reports
    ``findings`` (label, confidence) for it.
    """

    subject: str
    findings: tuple[tuple[str, float], ...]
    texture_seed: int

    @property
    def defective(self) -> bool:
        """The photo shows a defect."""
        return bool(self.findings)


@dataclass(frozen=True)
class ClaimSpec:
    """The customer's claim (the ``claim`` JSON part)."""

    order_id: str
    customer_id: str
    lot: str
    category: str
    delivered_at: datetime
    line_value: str
    currency: str
    description: str


@dataclass(frozen=True)
class Scenario:
    """One simulated claim: the chain's records, the claim, its photos and the truth.

    ``documents`` are posted to POST /v1/events in this order (a robustness scenario may post
    one twice or in reverse time order). ``parties`` are registered first; a party the chain
    names but ``parties`` lacks stays unregistered on purpose.
    """

    name: str
    kind: str
    variant: str
    seed: int
    category: str
    parties: tuple[PartySpec, ...]
    documents: tuple[dict[str, Any], ...]
    claim: ClaimSpec
    photos: tuple[PhotoSpec, ...]
    truth: Truth
    note: str = ""

    @property
    def lot(self) -> str:
        """The lot the claim and the records name."""
        return self.claim.lot


@dataclass(frozen=True)
class SeenVerdict:
    """What the service answered for a claim."""

    role: str
    party_id: str | None
    confidence: float
    codes: tuple[str, ...]
    status: str
    # Codes of reasons that cite no ledger entry.
    uncited: tuple[str, ...] = ()

    @property
    def decided(self) -> bool:
        """A party was named (not undetermined)."""
        return self.role != UNDETERMINED


@dataclass(frozen=True)
class Outcome:
    """A scenario run through the API: the verdict (or the error) and each photo's findings."""

    scenario: Scenario
    verdict: SeenVerdict | None
    findings: tuple[frozenset[str], ...] = ()
    error: str | None = None
    skipped: str | None = None
