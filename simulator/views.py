"""The views of every claim at the end of a week, and the review queue's views.

The invariants compare them: the customer's, an adjudicator's, the dossier, the webhook
stream and the queue must tell each claim's state alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.users import Shop

__all__ = ["QUEUE_VIEWS", "collect", "queue_views"]


def collect(shop: Shop, webhooks: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Every view of every claim at the end: the customer's, an adjudicator's, the dossier,
    the webhook stream and the queue's views; and the log's verifier key."""
    views: dict[str, Any] = {
        "customer": {},
        "adjudicator": {},
        "dossier": {},
        "webhooks": dict(webhooks),
        "queue": {},
    }
    for n, (cid, f) in enumerate(shop.seen.by_id().items()):
        who = f"customer:{f.plan.claim.customer_id}"
        judge = f"adjudicator:{n % shop.adjudicator_count}"
        for name, caller, path in (
            ("customer", who, f"/v1/claims/{cid}"),
            ("adjudicator", judge, f"/v1/claims/{cid}"),
            ("dossier", "auditor", f"/v1/claims/{cid}/dossier"),
        ):
            r = shop.call(caller, "GET", path)
            if shop._expect(r, (200,), f"GET {path} as {caller}"):
                views[name][cid] = r.json()
    views["queue"] = queue_views(shop)
    r = shop.call("auditor", "GET", "/v1/ledger/key")
    views["verifier_key"] = r.text.strip() if r.status_code == 200 else ""
    return views


QUEUE_VIEWS = ("needs_review", "copied_photo", "awaiting_approval", "lot_alert", "flagged")
"""The review queue's views; one the server does not offer (yet) is left out."""


def queue_views(shop: Shop) -> dict[str, set[str]]:
    """The claim ids in the whole open queue and in each of its views, as the auditor sees."""
    out = {}
    for view in (None, *QUEUE_VIEWS):
        params: dict[str, Any] = {"limit": 200}
        if view:
            params["view"] = view
        r = shop.call("auditor", "GET", "/v1/review", params=params)
        if r.status_code == 422 and view:  # a view this server does not have
            continue
        if shop._expect(r, (200,), f"review {view}"):
            out[view or "open"] = {str(c["id"]) for c in r.json()["items"]}
    return out
