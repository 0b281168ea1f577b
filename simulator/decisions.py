"""How the simulated people read a claim and decide it, from the simulation's truth.

A claim is settled, awaits a second person's approval or waits for a person; an
adjudicator who found out the truth decides it (``decision_for``) and says which of the
model's findings were right (``finding_reviews``, the retraining round's signal).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from simulator.spec import SUBJECT_LABELS, UNDETERMINED
from simulator.week import ClaimPlan

__all__ = [
    "awaits_approval",
    "decision_for",
    "finding_reviews",
    "settled",
    "waits_for_person",
]


def settled(claim: Mapping[str, Any]) -> bool:
    """Paid, or decided by a person (its ticket resolved)."""
    return bool(
        (claim.get("compensation") or {}).get("paid")
        or claim.get("outcome")
        or claim.get("status") == "resolved"
    )


def awaits_approval(claim: Mapping[str, Any]) -> bool:
    """A proposal above the adjudicator's limit waits for a second person."""
    comp = claim.get("compensation") or {}
    return claim.get("status") == "awaiting_approval" or comp.get("status") == "awaiting_approval"


def waits_for_person(claim: Mapping[str, Any]) -> bool:
    """Open, not paid, nothing proposed: the machine left it to a person (the claim's own
    ``actions`` say whether a decision is allowed, where the server lists them)."""
    actions = claim.get("actions")
    if isinstance(actions, Mapping) and not actions.get("decide", True):
        return False
    return not settled(claim) and not awaits_approval(claim)


def decision_for(plan: ClaimPlan, claim: Mapping[str, Any]) -> dict[str, Any]:
    """What an adjudicator who found out the truth decides (the simulation's truth).

    A copied photo: the customer's, denied. A party known: confirmed when the verdict names
    it, else overridden; paid unless the customer is responsible. Undetermined truth (the
    records cannot say): the shop pays the customer and holds the supplier to it.
    """
    verdict = claim.get("verdict") or {}
    truth = plan.truth
    role = truth.role if truth.decided else "supplier"
    same = verdict.get("responsible_party") == role and (
        truth.party_id is None or verdict.get("party_id") == truth.party_id
    )
    body: dict[str, Any] = {
        "reason": f"simulated adjudicator: the records and a call say {role}",
        "compensation": "deny" if role == "customer" else "approve",
    }
    if same and verdict.get("responsible_party") != UNDETERMINED:
        body["party"] = "confirm"
    else:
        body.update(party="override", responsible_party=role)
        if truth.party_id:
            body["party_id"] = truth.party_id
    body["findings"] = finding_reviews(plan, claim)
    amount = Decimal(str((claim.get("compensation") or {}).get("amount") or "0"))
    if body["compensation"] == "approve" and amount <= 0:
        body.update(compensation="change", amount=plan.claim.line_value)
    return body


# The label a person adds for a defect the model missed, by what the photo shows.
_MISSED_LABEL = {
    "rotten": "spoilage",
    "damaged_package": "package_damage",
    "swollen_pack": "swelling",
}


def finding_reviews(plan: ClaimPlan, claim: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A person's word on each finding, from what each photo really shows (the training
    signal the retraining round learns from): right or wrong, and a missed defect added
    with a box over the whole photo."""
    out: list[dict[str, Any]] = []
    for photo in claim.get("photos", []):
        n = int(photo.get("position", 0))
        if n >= len(plan.photos):
            continue
        subject = plan.photos[n].subject
        right = SUBJECT_LABELS.get(subject, frozenset())
        any_right = False
        for i, f in enumerate(photo.get("findings", [])):
            ok = f.get("label") in right
            any_right |= ok
            out.append({"photo": n, "index": i, "correct": ok})
        if right and not any_right and photo.get("width") and photo.get("height"):
            box = [0.0, 0.0, float(photo["width"]), float(photo["height"])]
            out.append({"photo": n, "correct": False, "label": _MISSED_LABEL[subject], "box": box})
    return out
