"""A claim's one current state, and what a person may do with it now. Pure.

The machine files a verdict and a compensation proposal; a person may later decide, and
above the adjudicator's limit a second person approves. Every view of a claim (the API's
claim resource for staff and for the customer, the workbench, webhook payloads) shows the
state ``current_state`` computes from the same records, so none of them can tell a paid
customer they were not paid. The machine's verdict and proposal are kept beside it as
history (``machine_verdict``, ``machine_compensation``).

``allowed_actions`` is the one rule for what may be done to a claim in a state: the API
refuses what it forbids (``cases.adjudication``) and the workbench offers only what it
allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from claims.review import ACTIONS

__all__ = [
    "CUSTOMER_ACTOR",
    "EARLIER_CLAIM",
    "Actions",
    "ClaimState",
    "allowed_actions",
    "current_state",
    "for_customer",
    "resolve_refused",
]

CUSTOMER_ACTOR = "an adjudicator"
"""How the customer's view names the person behind a decision: never a key id."""

EARLIER_CLAIM = "an earlier claim"
"""How a customer's view names the claim a photo of theirs nearly duplicates."""

_PERSON = "person"
_MACHINE = "machine"


@dataclass(frozen=True)
class ClaimState:
    """What decides which actions a claim allows now."""

    ticket_state: str  # claims.review.STATES
    undetermined: bool  # the machine's verdict names nobody
    proposed_amount: Decimal  # what the machine's proposal pays (0: nothing)
    paid: bool  # a payment exists (automatic, or a person's)
    awaiting_approval: bool  # a proposal above the adjudicator's limit waits for a second person


@dataclass(frozen=True)
class Actions:
    """What a claim allows now; each refusal carries why, for the page and the problem.

    ``decide``: None when a decision may be recorded, else why not. ``party`` and
    ``compensation``: each option of a decision, None when allowed, else why not.
    ``approval``: None when the waiting proposal may be answered, else why not.
    ``moves``: the ticket moves its state allows (``resolve`` comes with a decision).
    """

    decide: str | None
    party: Mapping[str, str | None]
    compensation: Mapping[str, str | None]
    approval: str | None
    moves: tuple[str, ...]

    def offered(self, options: Mapping[str, str | None]) -> tuple[str, ...]:
        """The allowed options of ``party`` or ``compensation``, in order."""
        return tuple(k for k, why in options.items() if why is None)

    def as_dict(self) -> dict[str, Any]:
        """JSON form: what may be done, each option true or the reason it may not."""
        return {
            "decide": self.decide is None,
            "decide_refused": self.decide,
            "party": self.offered(self.party),
            "compensation": self.offered(self.compensation),
            "approval": self.approval is None,
            "moves": list(self.moves),
        }


def allowed_actions(state: ClaimState) -> Actions:
    """What a person may do to a claim in ``state`` (the API and the workbench both ask)."""
    if state.ticket_state == "resolved":
        decide: str | None = "the claim is resolved; reopen its ticket to decide again"
    elif state.awaiting_approval:
        decide = "a proposal waits for approval; approve or reject it first"
    else:
        decide = None
    party = {
        "confirm": (
            "the verdict is undetermined: override it with the responsible party"
            if state.undetermined
            else None
        ),
        "override": None,
    }
    if state.paid:
        # The payment stands: approving keeps it; nothing may take it back or pay again.
        paid = "the claim was already paid; the payment stands"
        compensation: dict[str, str | None] = {"approve": None, "deny": paid, "change": paid}
    else:
        nothing = "the proposal pays nothing to approve" if state.proposed_amount <= 0 else None
        compensation = {"approve": nothing, "deny": None, "change": None}
    approval = None if state.awaiting_approval else "no proposal waits for approval"
    moves = tuple(
        a for a, (sources, _) in ACTIONS.items() if a != "resolve" and state.ticket_state in sources
    )
    return Actions(decide, party, compensation, approval, moves)


def resolve_refused(
    *,
    machine_verdict: Mapping[str, Any],
    machine_compensation: Mapping[str, Any],
    decision: Mapping[str, Any] | None,
    payment: Mapping[str, Any] | None,
) -> str | None:
    """Why a ticket ``resolve`` without a decision may not close the claim, or None.

    A claim a person decided, or one paid, is settled; so is one the machine settled: a
    verdict naming someone with nothing left for a person to pay. An undetermined verdict
    goes to a person (GUIDE §4 rule 3), and a proposal the machine could not pay waits for
    one: resolving either without a decision would close it with no outcome.
    """
    if decision is not None or payment is not None:
        return None
    if machine_verdict.get("needs_review"):
        return "the verdict is undetermined and nobody decided it"
    amount = Decimal(str(machine_compensation.get("amount", "0")))
    if amount > 0:
        currency = machine_compensation.get("currency", "")
        return f"its compensation of {amount} {currency} waits for a person's decision"
    return None


def _amounts(source: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("kind", "amount", "currency", "refund", "voucher")
    return {k: source[k] for k in keys if k in source}


def current_state(
    *,
    machine_verdict: Mapping[str, Any],
    machine_compensation: Mapping[str, Any],
    decision: Mapping[str, Any] | None,
    payment: Mapping[str, Any] | None,
    proposal: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The claim's current verdict and compensation from its records.

    ``decision``: the latest person's decision (``claim.decision`` body), or None.
    ``payment``: the payment row (JSON form), or None: the one truth of ``paid``.
    ``proposal``: a proposal waiting for approval (JSON form), or None.

    Before a person decides, the verdict is the machine's. After, it is the person's:
    their party, ``source`` "person", ``decided_by`` and ``decided_at``, ``needs_review``
    false and confidence 1.0 (decided, not estimated); the machine's reasons stay, for
    they are what the person read.
    """
    machine = dict(machine_verdict)
    if decision is None:
        verdict = {**machine, "source": _MACHINE}
    else:
        verdict = {
            **machine,
            "responsible_party": decision["responsible_party"],
            "party_id": decision.get("party_id"),
            "confidence": 1.0,
            "needs_review": False,
            "source": _PERSON,
            "decided_by": decision["actor"],
            "decided_at": decision.get("decided_at"),
        }
    base = {k: v for k, v in machine_compensation.items() if k not in ("paid", "payment")}
    compensation: dict[str, Any] = {**base, "paid": payment is not None}
    if payment is not None:
        compensation |= {
            "kind": payment["kind"],
            "amount": payment["amount"],
            "currency": payment["currency"],
            "status": "paid",
            "decided_by": payment["decided_by"],
            "payment": dict(payment),
        }
        if decision is not None and decision["compensation"].get("paid"):
            compensation["reason"] = decision["reason"]  # the person's, not the machine's holds
        if decision is not None and decision["compensation"].get("approved_by"):
            compensation["approved_by"] = decision["compensation"]["approved_by"]
            compensation["proposed_by"] = decision["compensation"].get("proposed_by")
    elif proposal is not None:
        compensation |= {
            **_amounts(proposal["offer"]),
            "status": "awaiting_approval",
            "reason": proposal["reason"],
            "proposed_by": proposal["proposed_by"],
            "decided_by": None,
        }
    elif decision is not None and decision["compensation"]["decision"] == "deny":
        compensation |= {
            "kind": "none",
            "amount": "0.00",
            "refund": "0.00",
            "voucher": "0.00",
            "status": "denied",
            "reason": decision["reason"],
            "decided_by": decision["actor"],
        }
    else:
        pays = Decimal(str(compensation.get("amount", "0"))) > 0
        compensation |= {"status": "awaiting_decision" if pays else "none", "decided_by": None}
    return verdict, compensation


_ACTOR_KEYS = ("actor", "decided_by", "proposed_by", "approved_by", "answered_by")


def _redact(value: Any) -> Any:
    """``value`` with every person's key id replaced by ``CUSTOMER_ACTOR``."""
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        if k in _ACTOR_KEYS and isinstance(v, str) and v not in ("auto", _MACHINE):
            out[k] = CUSTOMER_ACTOR
        else:
            out[k] = _redact(v)
    return out


def _unnamed_matches(photo: Any) -> Any:
    """A photo whose near-copies say only that an earlier claim has one, and how close.

    The earlier claim may be another customer's: its id, its photo's hash and its ledger
    entry are that customer's business; staff read them in the claim's own view.
    """
    if not isinstance(photo, dict) or not photo.get("duplicate_of"):
        return photo
    matches = [
        {"matches": EARLIER_CLAIM, "distance": m.get("distance")} for m in photo["duplicate_of"]
    ]
    return photo | {"duplicate_of": matches}


def for_customer(claim: Mapping[str, Any]) -> dict[str, Any]:
    """The claim as its customer's app sees it: people named by their role, not their key.

    Key ids are the shop's internal credentials; a customer learns that "an adjudicator"
    decided, and when, never which key.
    """
    out = _redact(dict(claim))
    out.pop("actions", None)  # what staff may do is not the customer's business
    if isinstance(out.get("photos"), list):
        out["photos"] = [_unnamed_matches(p) for p in out["photos"]]
    if out.get("approval"):
        # Where four eyes stand, not the staff's notes to each other.
        keep = ("answer", "proposed_at", "answered_at")
        out["approval"] = {k: out["approval"].get(k) for k in keep}
    return dict(out)
