"""What must hold after a shop's week, and the week's figures. Pure: judges collected views.

Each invariant is checked over every claim and returns the claims (or calls) that broke it,
so a report names them: every claim is decided or waits in a queue with an SLA; nothing is
paid twice; every view of a claim (the customer's, the adjudicator's, the dossier, the
webhook stream) tells the same state; no station grade or late record silently changes a
settled case; station grades never make a later claim on the lot contradict itself; no
copied photo is paid without a person; every verdict's cited entries exist and verify (the
dossier checked offline against the log's key); no 5xx; no 429 to a client that kept to the
published rate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import quantiles
from typing import Any

from dossier.verify import verify_dossier
from simulator.observed import Observed
from simulator.week import Week

__all__ = ["Figures", "Held", "Views", "check", "current_state", "figures", "wrong_lines"]


@dataclass
class Views:
    """Every view of every claim at the end of the week, by claim id."""

    customer: dict[str, dict[str, Any]] = field(default_factory=dict)
    adjudicator: dict[str, dict[str, Any]] = field(default_factory=dict)
    dossier: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    queue: dict[str, set[str]] = field(default_factory=dict)
    verifier_key: str = ""


@dataclass(frozen=True)
class Held:
    """One invariant: its name, whether it held, and up to a few examples where it did not."""

    name: str
    broken: tuple[str, ...]
    checked: int

    @property
    def ok(self) -> bool:
        """It held for everything checked."""
        return not self.broken

    def line(self) -> str:
        """One line for people."""
        if self.ok:
            return f"  held    {self.name} ({self.checked} checked)"
        shown = "; ".join(self.broken[:3])
        return f"  BROKEN  {self.name}: {len(self.broken)} of {self.checked}: {shown}"


def current_state(view: Mapping[str, Any]) -> tuple[str | None, bool]:
    """(responsible party, paid) as a client reading the claim resource sees them.

    The top-level ``responsible_party`` when the resource carries the current one, else the
    verdict's; paid as ``compensation.paid`` says.
    """
    party = view.get("responsible_party") or (view.get("verdict") or {}).get("responsible_party")
    return party, bool((view.get("compensation") or {}).get("paid"))


def _ledger_state(doc: Mapping[str, Any]) -> tuple[str | None, bool | None]:
    """(party, paid) the dossier's ledger entries say: the last decision or re-assessment,
    else the verdict (a flag records what the machine would say; it changes nothing)."""
    entries = {e.get("index"): e for e in doc.get("entries", [])}
    later = [entries[i] for i in doc.get("ledger", {}).get("decision_indices", []) if i in entries]
    for e in reversed(later):
        body = e.get("body") or {}
        if e.get("kind") == "claim.decision":
            return body.get("responsible_party"), bool((body.get("compensation") or {}).get("paid"))
        if e.get("kind") == "claim.reassessed":
            return (body.get("verdict") or {}).get("responsible_party"), None
    return (doc.get("verdict") or {}).get("responsible_party"), None


def _stream_state(events: Sequence[Mapping[str, Any]]) -> tuple[str | None, bool | None]:
    """(party, paid) the claim's last webhook event that sets them says (the ticket's
    creation, a decision, a re-assessment; a flag or a ticket move sets neither)."""
    for e in reversed(events):
        data = e.get("data") or {}
        paid = bool((data.get("compensation") or {}).get("paid"))
        if e.get("type") in ("ticket.created", "claim.decided"):
            return data.get("responsible_party"), paid
        if e.get("type") == "claim.reassessed":
            return (data.get("verdict") or {}).get("responsible_party"), paid
    return None, None


def _disagreements(cid: str, views: Views) -> list[str]:
    """Where the adjudicator's view, the dossier or the webhook stream differ from what the
    customer sees (party/paid)."""

    def show(party: object, paid: object) -> str:
        return f"{party}/{'paid' if paid else 'unpaid' if paid is not None else '?'}"

    want = current_state(views.customer.get(cid, {}))
    out = [f"customer {show(*want)}"]
    seen = current_state(views.adjudicator.get(cid, {}))
    if seen != want:
        out.append(f"adjudicator {show(*seen)}")
    party, paid = _ledger_state(views.dossier.get(cid, {}))
    if party != want[0] or (paid is not None and paid != want[1]):
        out.append(f"dossier {show(party, paid)}")
    stream = _stream_state(views.webhooks.get(cid, []))
    if stream[0] is None:
        out.append("webhooks nothing")
    elif stream != want:
        out.append(f"webhooks {show(*stream)}")
    return out if len(out) > 1 else []


def _payments(view: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> set[tuple[str, ...]]:
    """Every distinct payment any view shows: (who decided it, amount)."""
    found: list[Mapping[str, Any]] = []
    for comp in (
        view.get("compensation") or {},
        ((view.get("outcome") or {}).get("compensation") or {}),
        *((e.get("data") or {}).get("compensation") or {} for e in events),
    ):
        if isinstance(comp, Mapping) and isinstance(comp.get("payment"), Mapping):
            found.append(comp["payment"])
    # A payment is its amount and moment: views name its decider differently (the customer's
    # view says "an adjudicator" where the ledger names the key).
    return {(str(p.get("amount")), str(p.get("paid_at"))) for p in found}


def _paid_by_machine(view: Mapping[str, Any]) -> bool:
    """Paid without a person: at filing or after a re-assessment."""
    comp = view.get("compensation") or {}
    return bool(comp.get("paid")) and (comp.get("payment") or {}).get("decided_by") == "auto"


def _settled(view: Mapping[str, Any]) -> bool:
    return bool(
        (view.get("compensation") or {}).get("paid")
        or view.get("outcome")
        or view.get("status") == "resolved"
    )


def _fixed(view: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a machine must never change on a settled claim."""
    v = view.get("verdict") or {}
    c = view.get("compensation") or {}
    o = view.get("outcome") or {}
    return (
        v.get("responsible_party"),
        v.get("party_id"),
        v.get("confidence"),
        c.get("paid"),
        c.get("amount"),
        o.get("responsible_party"),
    )


def _person_since(seen: Observed, cid: str) -> bool:
    """A person's decision or approval on the claim was accepted after its settled state was
    read: what changed then is that person's word, recorded in the ledger, not the machine's."""
    return seen.person_at.get(cid, float("-inf")) > seen.settled_read_at.get(cid, float("inf"))


def _acted_after_flag(view: dict[str, Any]) -> bool:
    """A person decided the claim or moved its ticket after its latest flag, by the ledger's
    order: the flag has done its work (a decision read before the flag and accepted after it
    counts, as the server counts it), so the claim may leave the queue."""
    flags = [r["ledger_index"] for r in view.get("reassessments", []) if r["kind"] == "flagged"]
    if not flags:
        return False
    acted = [e.get("ledger_index") for e in (view.get("ticket") or {}).get("history", [])] + [
        (view.get("outcome") or {}).get("ledger_index")
    ]
    return any(i is not None and i > flags[-1] for i in acted)


def check(week: Week, seen: Observed, views: Views) -> list[Held]:
    """Every invariant over the week, in the order the issue lists them."""
    filed = seen.by_id()
    ids = sorted(filed)
    out = []

    broken = []
    waiting = set().union(*views.queue.values()) if views.queue else set()
    for cid in ids:
        view = views.customer.get(cid, {})
        due = ((view.get("ticket") or {}).get("due") or {}).get("resolution")
        if not _settled(view) and not (cid in waiting and due):
            broken.append(f"{filed[cid].plan.name} neither decided nor queued with an SLA")
    out.append(
        Held("every claim is decided or waits in a queue with an SLA", tuple(broken), len(ids))
    )

    broken = []
    for cid in ids:
        pays = _payments(views.customer.get(cid, {}), views.webhooks.get(cid, []))
        if len(pays) > 1:
            broken.append(f"{filed[cid].plan.name} paid {len(pays)} times: {sorted(pays)}")
        wins = [d for d in seen.decisions.get(cid, []) if d[1] == 200]
        if len(wins) > 1:
            broken.append(f"{filed[cid].plan.name}: {len(wins)} decisions accepted")
    out.append(Held("nothing is paid twice", tuple(broken), len(ids)))

    broken = []
    for cid in ids:
        said = _disagreements(cid, views)
        if said:
            broken.append(f"{filed[cid].plan.name}: {', '.join(said)}")
    out.append(Held("every view of a claim tells the same state", tuple(broken), len(ids)))

    broken = []
    for cid, before in seen.settled_before.items():
        after = views.customer.get(cid, {})
        if _fixed(after) != _fixed(before) and not _person_since(seen, cid):
            broken.append(f"{filed[cid].plan.name}: {_fixed(before)} -> {_fixed(after)}")
    out.append(
        Held(
            "no grade or late record silently changes a settled case",
            tuple(broken),
            len(seen.settled_before),
        )
    )

    broken = []
    later = [cid for cid in ids if filed[cid].plan.after_grades and filed[cid].plan.truth.decided]
    for cid in later:
        codes = {r.get("code") for r in (filed[cid].body.get("verdict") or {}).get("reasons", [])}
        if "CONFLICTING_EVIDENCE" in codes:
            broken.append(f"{filed[cid].plan.name}: CONFLICTING_EVIDENCE after station grades")
    out.append(
        Held("station grades never contradict a lot's handover records", tuple(broken), len(later))
    )

    broken = []
    frauds = [cid for cid in ids if filed[cid].plan.fraud]
    for cid in frauds:
        comp = filed[cid].body.get("compensation") or {}
        if comp.get("paid"):
            broken.append(f"{filed[cid].plan.name} (a copy of {filed[cid].plan.copy_of}) paid")
    out.append(Held("no copied photo is paid without a person", tuple(broken), len(frauds)))

    broken = []
    for cid in ids:
        doc = views.dossier.get(cid)
        if doc is None:
            broken.append(f"{filed[cid].plan.name}: no dossier")
            continue
        report = verify_dossier(doc, views.verifier_key)
        if not report.ok:
            broken.append(f"{filed[cid].plan.name}: {report.failures[0].line().strip()}")
        view = views.customer.get(cid, {})
        machine = view.get("machine_verdict") or view.get("verdict") or {}
        if (doc.get("verdict") or {}).get("reasons") != _cited(machine):
            broken.append(f"{filed[cid].plan.name}: the dossier's verdict is not the claim's")
    out.append(Held("every verdict's cited entries exist and verify", tuple(broken), len(ids)))

    broken = []
    flagged = [
        cid
        for cid in ids
        if any(e.get("type") == "claim.flagged" for e in views.webhooks.get(cid, []))
    ]
    for cid in flagged:
        if cid not in waiting and not _acted_after_flag(views.customer.get(cid, {})):
            broken.append(f"{filed[cid].plan.name}: flagged by a late record, in no queue")
    out.append(
        Held(
            "a settled claim a late record flags waits in the queue for a person",
            tuple(broken),
            len(flagged),
        )
    )

    broken = []
    above = sorted(seen.over_limit | set(seen.proposed))
    for cid in above:
        view = views.customer.get(cid, {})
        name = filed[cid].plan.name
        if cid in seen.over_limit:
            broken.append(f"{name}: above the limit, refused, nobody may approve it")
        elif not _settled(view):
            broken.append(f"{name}: proposed by {seen.proposed[cid]}, never approved")
        elif seen.approved.get(cid) in (None, seen.proposed[cid]):
            broken.append(f"{name}: not approved by a second person")
    out.append(
        Held(
            "claims above the adjudicator's limit are approved by a second person",
            tuple(broken),
            len(above),
        )
    )

    errors = [f"{c.method} {c.path} -> {c.status}" for c in seen.calls if c.status >= 500]
    out.append(Held("no 5xx", tuple(errors), len(seen.calls)))
    limited = [f"{c.who}: {c.method} {c.path}" for c in seen.calls if c.status == 429]
    out.append(Held("rate limits not hit by honest clients", tuple(limited), len(seen.calls)))
    return out


def _cited(verdict: Mapping[str, Any]) -> Any:
    """The verdict's reasons as the claim resource shows them (facts compared as JSON)."""
    import json

    reasons = verdict.get("reasons")
    return json.loads(json.dumps(reasons)) if reasons is not None else None


@dataclass(frozen=True)
class Figures:
    """The week in numbers."""

    lines: tuple[str, ...]


_BANDS = ("below 0.5", "0.5 to the auto-pay bound", "at or above it")


def _band(confidence: float, auto_pay: float) -> str:
    """Which of ``_BANDS`` a verdict's stated confidence falls in."""
    if confidence >= auto_pay:
        return _BANDS[2]
    return _BANDS[1] if confidence >= 0.5 else _BANDS[0]


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% ({part}/{whole})" if whole else "- (0/0)"


def _p(values: Sequence[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return quantiles(values, n=100, method="inclusive")[q - 1]


def figures(week: Week, seen: Observed, views: Views, *, auto_pay_min_confidence: float) -> Figures:
    """Claims, automation, wrong verdicts against the truth, time to decision, queues, pace."""
    filed = seen.by_id()
    lines = []
    wall = max(1e-9, seen.finished - seen.started)
    lines.append(
        f"lots {len(week.lots)} ({sum(1 for lot in week.lots if lot.aggregate)} with an aggregate "
        f"sensor report, {sum(1 for lot in week.lots if lot.late)} with late readings); claims "
        f"filed {len(filed)} of {len(week.claims)} ({sum(1 for f in filed.values() if f.plan.fraud)}"
        f" with a copied photo); station batches {len(seen.batches)} of {len(week.batches)} "
        f"({sum(len(b.get('items', [])) for b in seen.batches.values())} items)"
    )
    auto = [cid for cid in filed if _paid_by_machine(views.customer.get(cid, {}))]
    people = [cid for cid in filed if any(d[1] == 200 for d in seen.decisions.get(cid, []))]
    named = [
        cid
        for cid in filed
        if (filed[cid].body.get("verdict") or {}).get("responsible_party")
        not in (None, "undetermined")
    ]
    lines.append(
        f"automation: paid without a person {_pct(len(auto), len(filed))}; machine verdict names "
        f"a party {_pct(len(named), len(filed))}; decided by a person {_pct(len(people), len(filed))}"
    )
    wrong, wrong_conf, conf, wrong_auto = 0, 0, 0, 0
    wrong_ids: list[str] = []
    # (verdicts, wrong) by the confidence they state: are the sure ones right?
    bands: dict[str, list[int]] = {b: [0, 0] for b in _BANDS}
    copies = [cid for cid in filed if filed[cid].plan.fraud]
    held_back = [cid for cid in copies if not _paid_by_machine(views.customer.get(cid, {}))]
    lines.append(
        f"copied photos: {len(copies)} claims, {len(held_back)} held for a person (the "
        "verdicts below leave them out: no record can tell a copied photo's truth)"
    )
    named = [cid for cid in named if not filed[cid].plan.fraud]
    for cid in named:
        f = filed[cid]
        v = f.body["verdict"]
        truth = f.plan.truth
        bad = (
            not truth.decided
            or v["responsible_party"] != truth.role
            or (truth.party_id is not None and v.get("party_id") != truth.party_id)
        )
        wrong += bad
        if bad:
            wrong_ids.append(cid)
        band = _band(float(v.get("confidence") or 0), auto_pay_min_confidence)
        bands[band][0] += 1
        bands[band][1] += bad
        if float(v.get("confidence") or 0) >= auto_pay_min_confidence:
            conf += 1
            wrong_conf += bad
        if bad and cid in auto:
            wrong_auto += 1
    by_kind = Counter(filed[c].plan.lot.split("-")[1] for c in wrong_ids)
    lines.append(
        f"wrong verdicts against the truth: {_pct(wrong, len(named))} of verdicts naming a "
        f"party; {_pct(wrong_conf, conf)} at or above confidence {auto_pay_min_confidence:g}; "
        f"paid automatically on a wrong verdict {wrong_auto}; wrong by lot kind: "
        + ", ".join(f"{k} {n}" for k, n in by_kind.most_common())
    )
    lines.append(
        "wrong by the confidence the verdict states: "
        + "; ".join(f"{b} {w} of {n}" for b, (n, w) in bands.items())
    )
    final_wrong = 0
    for cid, f in filed.items():
        view = views.customer.get(cid, {})
        outcome = view.get("outcome") or {}
        party = outcome.get("responsible_party") or (view.get("verdict") or {}).get(
            "responsible_party"
        )
        if f.plan.truth.decided and _settled(view) and party != f.plan.truth.role:
            final_wrong += 1
    lines.append(f"settled claims whose final party is not the truth's: {final_wrong}")
    auto_t = [seen.decided_at[c] - filed[c].sent for c in auto if c in seen.decided_at]
    person_t = [seen.decided_at[c] - filed[c].sent for c in people if c in seen.decided_at]
    left = sorted(filed[c].plan.name for c in filed if c not in auto and c not in people)
    lines.append(
        f"time to decision: automatic p50 {_p(auto_t, 50):.2f} s p95 {_p(auto_t, 95):.2f} s; "
        f"by a person p50 {_p(person_t, 50):.1f} s p95 {_p(person_t, 95):.1f} s; "
        f"waiting at the end {len(left)} (paid automatically, then decided again by a person "
        f"after a late record: {len(set(auto) & set(people))}) "
        f"(refused over the adjudicator limit {len(seen.over_limit)}): {', '.join(left[:6])}"
    )
    lines.append(
        f"above the adjudicator's limit: {len(seen.proposed)} proposed, {len(seen.approved)} "
        f"approved by a second person, {len(seen.over_limit)} refused (nobody may approve)"
    )
    kinds = [e.get("type") for events in views.webhooks.values() for e in events]
    lines.append(
        f"late records: {len(seen.late_posted_at)} lots' readings posted after their first "
        f"claim; re-assessed {kinds.count('claim.reassessed')} open claims, flagged "
        f"{kinds.count('claim.flagged')} settled ones for review (webhook events)"
    )
    lines.append(
        f"not let in by the authorship rule, as planned: {seen.held_postings} postings of "
        "custodians after one that recorded nothing held for that sender's record (their "
        f"receipts name a sender with nothing on record), {seen.refused_postings} refused"
    )
    if seen.queue_samples:
        keys = list(dict.fromkeys(k for x in seen.queue_samples for k in x if k != "t"))
        peak = {k: max(s.get(k, 0) for s in seen.queue_samples) for k in keys}
        last = {k: len(views.queue.get(k, ())) for k in keys}
        lines.append(
            "queue sizes (peak -> end): "
            + ", ".join(f"{k} {peak[k]} -> {last.get(k, 0)}" for k in keys)
        )
    post = [c.seconds for c in seen.calls if c.method == "POST" and c.path == "/v1/claims"]
    lines.append(
        f"throughput: {len(filed) / wall * 60:.0f} claims/min, {len(seen.calls) / wall:.1f} "
        f"requests/s over {wall:.0f} s; POST /v1/claims p50 {_p(post, 50):.2f} s p95 "
        f"{_p(post, 95):.2f} s; {len(seen.errors)} unexpected answers"
    )
    return Figures(tuple(lines))


def wrong_lines(week: Week, seen: Observed) -> list[str]:
    """One line per filing whose verdict named a party other than the truth's."""
    out = []
    for f in seen.filed.values():
        v = f.body.get("verdict") or {}
        t = f.plan.truth
        if v.get("responsible_party") in (None, "undetermined") or f.plan.fraud:
            continue
        if (
            t.decided
            and v["responsible_party"] == t.role
            and t.party_id in (None, v.get("party_id"))
        ):
            continue
        lot = week.lot(f.plan.lot)
        twist = "aggregate" if lot.aggregate else "late" if lot.late else ""
        found = [
            "+".join(sorted(x["label"] for x in p.get("findings", []))) or "none"
            for p in f.body.get("photos", [])
        ]
        codes = "/".join(str(r.get("code")) for r in v.get("reasons", []))
        out.append(
            f"  {f.plan.name} {twist} {'copy ' if f.plan.fraud else ''}truth {t.role} "
            f"{t.party_id or ''} | got {v['responsible_party']} {v.get('party_id') or ''} "
            f"conf {float(v.get('confidence') or 0):.2f} {codes} | photos "
            f"{', '.join(s.subject for s in f.plan.photos)} found {', '.join(found)}"
        )
    return sorted(out)
