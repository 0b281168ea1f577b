"""Errors of the claims package; every one derives from ``ClaimsError``.

ClaimsError
├── InvalidClaimError            a claim field is missing or unacceptable (field, reason)
├── PhotoRejectedError           photos that cannot be judged at all (rejected: index, name, error)
├── UnknownClaimError            no claim has this id (claim_id)
├── IdempotencyConflictError     the key was used before with a different request (key)
├── InvalidPolicyError           a policy setting is unusable (key, reason)
├── NaiveDatetimeError           a time without a UTC offset reached the domain (name)
├── PaymentError
│   ├── AlreadyPaidError         a claim is never paid twice (claim_id)
│   ├── PaymentRefusedError      this proposal may not be paid this way (claim_id, reason)
│   └── OverLimitError           over what this key may approve (amount, limit)
├── InvalidTransitionError       the ticket cannot take this action now (state, action, reason)
├── ClaimClosedError             the claim's ticket is resolved: reopen it first (claim_id)
├── AwaitingApprovalError        a proposal waits for a second person first (claim_id, amount)
├── DecisionRequiredError        resolving a claim nobody settled: decide it (claim_id, reason)
├── NoPendingApprovalError       no proposal of the claim waits for approval (claim_id)
├── OwnProposalError             four eyes: the proposer cannot approve (claim_id, actor)
└── InvalidDecisionError         a decision field is unacceptable (field, reason)

The webhook outbox's errors are ``notifications.errors``.
"""

from __future__ import annotations

from collections.abc import Sequence

from vision.errors import ImageRejected, rejected_summary

__all__ = [
    "AlreadyPaidError",
    "AwaitingApprovalError",
    "ClaimClosedError",
    "ClaimsError",
    "DecisionRequiredError",
    "IdempotencyConflictError",
    "InvalidClaimError",
    "InvalidDecisionError",
    "InvalidPolicyError",
    "InvalidTransitionError",
    "NaiveDatetimeError",
    "NoPendingApprovalError",
    "OverLimitError",
    "OwnProposalError",
    "PaymentError",
    "PaymentRefusedError",
    "PhotoRejectedError",
    "UnknownClaimError",
]


class ClaimsError(Exception):
    """Root of every error the claims package raises."""


class InvalidClaimError(ClaimsError):
    """A claim field is missing or unacceptable."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class PhotoRejectedError(ClaimsError):
    """Photos of the claim that are not usable images, each (index, file name, decoder's error).

    Every bad photo is named, not the first only: a customer who sent five retakes all the
    bad ones at once. ``index`` and ``error`` are the first's.
    """

    def __init__(self, rejected: Sequence[tuple[int, str, ImageRejected]]) -> None:
        self.rejected = tuple(rejected)
        self.index, _, self.error = self.rejected[0]
        super().__init__(rejected_summary(self.rejected))


class UnknownClaimError(ClaimsError):
    """No claim has this id."""

    def __init__(self, claim_id: str) -> None:
        self.claim_id = claim_id
        super().__init__(f"no claim {claim_id!r}")


class IdempotencyConflictError(ClaimsError):
    """The Idempotency-Key was used before with a different request body."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"Idempotency-Key {key!r} was used with a different request")


class InvalidPolicyError(ClaimsError):
    """A ticket or compensation policy setting is unusable."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"policy setting {key!r}: {reason}")


class NaiveDatetimeError(ClaimsError):
    """A datetime without a UTC offset; deadlines and queues need absolute times."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.reason = f"{name} needs a UTC offset"
        super().__init__(self.reason)


class PaymentError(ClaimsError):
    """Root of the payment errors."""


class AlreadyPaidError(PaymentError):
    """The claim has a payment already."""

    def __init__(self, claim_id: str) -> None:
        self.claim_id = claim_id
        super().__init__(f"claim {claim_id} is already paid")


class PaymentRefusedError(PaymentError):
    """The proposal may not be paid by this decider (nothing to pay, or not auto-payable)."""

    def __init__(self, claim_id: str, reason: str) -> None:
        self.claim_id = claim_id
        self.reason = reason
        super().__init__(f"claim {claim_id}: payment refused: {reason}")


class OverLimitError(PaymentError):
    """More than this key's approval limit: a key with a higher limit approves."""

    def __init__(self, claim_id: str, amount: object, limit: object) -> None:
        self.claim_id, self.amount, self.limit = claim_id, amount, limit
        self.reason = (
            f"{amount} is over this key's approval limit of {limit}; "
            "an adjudicator whose limit covers it approves"
        )
        super().__init__(self.reason)


class InvalidTransitionError(ClaimsError):
    """The ticket cannot take this action in its current state."""

    def __init__(self, state: str, action: str, reason: str) -> None:
        self.state, self.action, self.reason = state, action, reason
        super().__init__(reason)


class ClaimClosedError(ClaimsError):
    """A decision on a claim whose ticket is resolved; reopen it first."""

    def __init__(self, claim_id: str) -> None:
        self.claim_id = claim_id
        self.reason = f"claim {claim_id} is resolved; reopen its ticket to decide again"
        super().__init__(self.reason)


class AwaitingApprovalError(ClaimsError):
    """A decision on a claim whose proposal waits for a second person; answer it first."""

    def __init__(self, claim_id: str, amount: object) -> None:
        self.claim_id, self.amount = claim_id, amount
        self.reason = (
            f"claim {claim_id}: a proposal of {amount} waits for approval; "
            "approve or reject it first"
        )
        super().__init__(self.reason)


class DecisionRequiredError(ClaimsError):
    """A ticket ``resolve`` on a claim that neither the machine nor a person settled.

    Closing it so would leave the customer an undetermined verdict, or a compensation
    waiting for a person, on a claim nobody looks at again (GUIDE §4 rule 3).
    """

    def __init__(self, claim_id: str, reason: str) -> None:
        self.claim_id = claim_id
        self.reason = f"claim {claim_id}: {reason}; decide it (the decision resolves its ticket)"
        super().__init__(self.reason)


class NoPendingApprovalError(ClaimsError):
    """An approval or rejection of a claim with no proposal waiting."""

    def __init__(self, claim_id: str) -> None:
        self.claim_id = claim_id
        self.reason = f"claim {claim_id} has no proposal waiting for approval"
        super().__init__(self.reason)


class OwnProposalError(ClaimsError):
    """Four eyes: whoever proposed a payment above the limit cannot approve it."""

    def __init__(self, claim_id: str, actor: str) -> None:
        self.claim_id, self.actor = claim_id, actor
        self.reason = (
            f"claim {claim_id}: you proposed this payment; a second adjudicator approves it"
        )
        super().__init__(self.reason)


class InvalidDecisionError(ClaimsError):
    """A decision field is missing or unacceptable."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")
