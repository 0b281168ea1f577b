"""What the workbench pages show, computed from the claims and ledger services.

Thin shapes over ``claims.views.get_claim`` and the ledger: SLA timers, photos with their
boxes, the custody timeline with a chart per segment, the reasons with the entries they
cite, and every such entry as a proof bundle against one signed checkpoint for the browser
to verify. Nothing here writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from api.problems import PROBLEM_TYPES, field_errors
from api.services import Services
from api.web.charts import TemperatureChart, temperature_chart
from cases.queue import QUEUE_FILTERS, queue_filter
from claims.segments import Party, Segment
from claims.timeline import build_timeline
from ledger.bundle import make_bundle
from ledger.service import current_checkpoint
from supplychain.capture import PARTY_ROLES, get_party
from supplychain.trace import UnknownLotError

__all__ = [
    "FILTER_NAMES",
    "MOVES",
    "ClaimView",
    "LabelSpot",
    "Refusal",
    "Timer",
    "claim_view",
    "fact_text",
    "format_remaining",
    "place_labels",
    "queue_rows",
    "refusal",
    "segment_view",
    "timers",
]

FILTER_NAMES = {
    "needs_review": "Needs review",
    "copied_photo": "Copied photo",
    "awaiting_approval": "Awaiting approval",
    "lot_alert": "Lot alert",
    "flagged": "Flagged by late records",
}
assert tuple(FILTER_NAMES) == QUEUE_FILTERS

MOVES = {
    "acknowledge": "Acknowledge",
    "wait_on_customer": "Wait on customer",
    "resume": "Resume",
    "reopen": "Reopen",
}
"""Ticket moves the workbench offers; ``resolve`` comes with a decision."""

_KINDS = {
    "epcis.event": "supply-chain event",
    "claim.evidence": "claim evidence",
    "claim.verdict": "verdict",
    "claim.decision": "decision",
    "claim.proposal": "proposal above the limit",
    "claim.approval": "approval",
    "ticket.moved": "ticket move",
    "party.registered": "party registration",
    "lot.alert": "lot alert",
}


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _parse(iso: str) -> datetime:
    return _aware(datetime.fromisoformat(iso))


def format_remaining(seconds: float) -> str:
    """``2 h 05 min left`` or ``3 min 20 s late``: what a timer says at render time."""
    late = seconds < 0
    s = int(abs(seconds))
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    if d:
        text = f"{d} d {h} h"
    elif h:
        text = f"{h} h {m:02d} min"
    else:
        text = f"{m} min {sec:02d} s"
    return f"{text} late" if late else f"{text} left"


@dataclass(frozen=True)
class Timer:
    """One SLA deadline as the page shows it; the script counts ``remaining_s`` down."""

    label: str
    due: str
    status: str  # due, breached or met
    remaining_s: float
    paused: bool

    @property
    def running(self) -> bool:
        """Counting down: neither met nor paused by waiting on the customer."""
        return self.status != "met" and not self.paused

    @property
    def text(self) -> str:
        """What the timer says when the page is rendered."""
        if self.status == "met":
            return "met"
        return format_remaining(self.remaining_s) + (" (paused)" if self.paused else "")


def timers(ticket: Mapping[str, Any]) -> tuple[Timer, Timer]:
    """The first-response and resolution timers of a ticket (from ``get_claim`` at now)."""
    sla, due = ticket["sla"], ticket["due"]
    paused = ticket["state"] == "waiting_on_customer"
    return (
        Timer(
            "First response",
            due["first_response"],
            sla["first_response"],
            sla["first_response_remaining_s"],
            paused,
        ),
        Timer(
            "Resolution",
            due["resolution"],
            sla["resolution"],
            sla["resolution_remaining_s"],
            paused,
        ),
    )


def queue_rows(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The queue's rows: the claim, its timers and the views it belongs to."""
    return [
        {
            "claim": c,
            "timers": timers(c["ticket"]),
            "flags": [name for key, name in FILTER_NAMES.items() if queue_filter(key, dict(c))],
        }
        for c in items
    ]


@dataclass(frozen=True)
class SegmentView:
    """One custodian's stretch with its chart (None: no readings or aggregate reports in it)."""

    name: str
    role: str
    party_id: str
    start: datetime
    end: datetime | None
    chart: TemperatureChart | None
    readings: tuple[tuple[datetime, float, bool], ...]  # time, °C, outside the band


@dataclass(frozen=True)
class LabelSpot:
    """Where a box's label is written on its photo (the text's baseline, in pixels)."""

    x: float
    y: float
    text: str


@dataclass(frozen=True)
class ClaimView:
    """Everything the claim page shows.

    ``actions``: what the claim allows now (``claims.state.allowed_actions``, as the claim
    resource lists it), so the page offers exactly what the API would take.
    ``label_spots``: per photo, the model's box labels then the decided boxes' labels,
    placed so that no two overlap.
    """

    claim: dict[str, Any]
    timers: tuple[Timer, Timer]
    party_name: str | None
    segments: tuple[SegmentView, ...] | None  # None: the ledger holds no record of the lot
    proofs: dict[str, Any]
    kinds: dict[int, str]
    moves: tuple[tuple[str, str], ...]
    actions: dict[str, Any] = field(default_factory=dict)
    label_spots: tuple[tuple[LabelSpot, ...], ...] = ()
    adjudicator_limit: str = ""  # the most one person pays alone; above it, four eyes
    labels: tuple[str, ...] = field(default=("spoilage", "mold", "swelling", "package_damage"))
    party_roles: tuple[str, ...] = PARTY_ROLES


def _segments(services: Services, claim: Mapping[str, Any]) -> tuple[SegmentView, ...] | None:
    customer = Party(claim["customer_id"] or "customer", "customer", "customer")
    try:
        timeline = build_timeline(
            ledger=services.ledger,
            lot=claim["lot"],
            delivered_at=_parse(claim["delivered_at"]),
            customer=customer,
        )
    except UnknownLotError:
        return None
    profile = services.claims_config.profiles.get(claim["category"])
    return tuple(
        segment_view(s, profile.band(in_transport=s.in_transport) if profile else (None, None))
        for s in timeline.segments
    )


def segment_view(s: Segment, band: tuple[float | None, float | None]) -> SegmentView:
    """One custodian's stretch as the page shows it: its chart (readings and the loggers'
    aggregate reports, GUIDE §4 rule 5) and its readings against ``band``."""
    t_min, t_max = band
    return SegmentView(
        name=s.custodian.name or s.custodian.id,
        role=s.custodian.role,
        party_id=s.custodian.id,
        start=s.start,
        end=s.end,
        chart=temperature_chart(
            s.readings, start=s.start, end=s.end, band=band, aggregates=s.aggregates
        ),
        readings=tuple(
            (
                r.time,
                r.celsius,
                (t_min is not None and r.celsius < t_min)
                or (t_max is not None and r.celsius > t_max),
            )
            for r in s.readings
        ),
    )


def _cited(claim: Mapping[str, Any]) -> dict[int, str]:
    """Every entry the page proves: the reasons' citations, then the claim's own entries."""
    cited: dict[int, str] = {}
    for reason in claim["machine_verdict"]["reasons"]:
        for ref in reason["refs"]:
            cited.setdefault(int(ref["index"]), ref["leaf_hash"])
    own = [claim["ledger"]["evidence_index"], claim["ledger"]["verdict_index"]]
    own += [h["ledger_index"] for h in claim["ticket"].get("history", [])]
    if claim.get("outcome"):
        own.append(claim["outcome"]["ledger_index"])
    if claim.get("approval"):
        own += [claim["approval"]["ledger_index"], claim["approval"]["answer_ledger_index"]]
    for index in own:
        if index is not None:
            cited.setdefault(int(index), "")
    return cited


def _proofs(services: Services, cited: Mapping[int, str]) -> dict[str, Any]:
    """Bundles for the browser: each entry with its proof against one signed checkpoint.

    ``cited`` maps an index to the leaf hash a reason cites (empty: the claim's own entry);
    the script checks the record hashes to it, independently of the bundle's own claim.
    """
    checkpoint = current_checkpoint(ledger=services.ledger, signer=services.signer)
    entries = []
    for index, leaf in sorted(cited.items()):
        b = make_bundle(services.ledger, index=index, checkpoint=checkpoint)
        entries.append(
            {
                "index": index,
                "kind": b["kind"],
                "cited_leaf_hash": leaf or b["leaf_hash"],
                "record": b["record"],
                "tree_size": b["tree_size"],
                "inclusion_proof": b["inclusion_proof"],
            }
        )
    return {"key_url": "/v1/ledger/key", "checkpoint": checkpoint, "entries": entries}


def claim_view(services: Services, claim: dict[str, Any]) -> ClaimView:
    """The claim page's content for a claim as ``get_claim`` returns it (with ``now``)."""
    party_id = claim["machine_verdict"].get("party_id")
    party = get_party(services.engine, party_id) if party_id else None
    proofs = _proofs(services, _cited(claim))
    actions = claim["actions"]
    return ClaimView(
        claim=claim,
        timers=timers(claim["ticket"]),
        party_name=party.name if party else None,
        segments=_segments(services, claim),
        proofs=proofs,
        kinds={e["index"]: _KINDS.get(e["kind"], e["kind"]) for e in proofs["entries"]},
        moves=tuple((a, label) for a, label in MOVES.items() if a in actions["moves"]),
        actions=actions,
        label_spots=tuple(_photo_labels(claim, p) for p in range(len(claim["photos"]))),
        adjudicator_limit=str(services.claims_config.compensation.adjudicator_limit),
    )


def label_size(width: float, height: float) -> float:
    """The font size of box labels on a photo, in the photo's pixels."""
    return max(width, height) / 22


def _photo_labels(claim: Mapping[str, Any], position: int) -> tuple[LabelSpot, ...]:
    photo = claim["photos"][position]
    width, height = float(photo["width"]), float(photo["height"])
    wanted: list[tuple[Sequence[float], str, bool]] = [
        (f["box"], f"{n} {f['label'].replace('_', ' ')}", False)
        for n, f in enumerate(photo["findings"], start=1)
    ]
    outcome = claim.get("outcome") or {}
    for r in outcome.get("findings", ()):
        if r["photo"] == position and r.get("box"):
            text = f"decided: {(r.get('label') or 'box').replace('_', ' ')}"
            wanted.append((r["box"], text, True))
    return place_labels(wanted, width=width, height=height)


def place_labels(
    wanted: Sequence[tuple[Sequence[float], str, bool]], *, width: float, height: float
) -> tuple[LabelSpot, ...]:
    """Spots for box labels on a photo so that no two overlap, each near its box.

    ``wanted``: (box x1 y1 x2 y2, text, at the bottom) per label, in order. A label sits
    inside its box's top-left corner (bottom-left for ``at the bottom``); where that
    would cover a label already placed it moves down (up) a line at a time, staying on
    the photo. Overlapping boxes (one defect seen twice, a correction over a finding)
    otherwise print their labels on top of each other, unreadable at a phone's width.
    """
    size = label_size(width, height)
    line = size * 1.25
    placed: list[tuple[float, float, float, float]] = []
    spots = []
    for box, text, bottom in wanted:
        x1, y1, _, y2 = (float(v) for v in box[:4])
        w = 0.62 * size * len(text)  # a bold sans-serif's average advance
        x = max(0.0, min(x1 + size / 4, width - w))
        start = y2 - size / 3 if bottom else y1 + size
        step = -line if bottom else line
        rows = max(1, int(height // line))
        candidates = [start + k * step for k in range(rows)]
        candidates += [size + k * line for k in range(rows)]  # from the top, as a last resort
        y = min(max(start, size), height - size / 4)
        for c in candidates:
            c = min(max(c, size), height - size / 4)
            rect = (x, c - size, x + w, c + size / 4)
            if not any(_overlap(rect, other) for other in placed):
                y = c
                break
        placed.append((x, y - size, x + w, y + size / 4))
        spots.append(LabelSpot(round(x, 1), round(y, 1), text))
    return tuple(spots)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    e = 1e-6  # rectangles that only touch (stacked lines) do not overlap
    return a[0] < b[2] - e and b[0] < a[2] - e and a[1] < b[3] - e and b[1] < a[3] - e


_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def fact_text(value: Any) -> str:
    """A reason's fact as people read it: no Python reprs, no None, no brackets.

    Times read as ``02 May 2024 10:00 UTC``, numbers without float noise, lists joined with
    semicolons, records as "name value" pairs.
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return f"{float(value):,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, str):
        if _ISO.match(value):
            try:
                return _parse(value).astimezone(UTC).strftime("%d %b %Y %H:%M UTC")
            except ValueError:
                return value
        return value
    if isinstance(value, Mapping):
        parts = [f"{str(k).replace('_', ' ')} {fact_text(v)}" for k, v in value.items()]
        return ", ".join(parts) or "none"
    if isinstance(value, Iterable):
        return "; ".join(fact_text(v) for v in value) or "none"
    return str(value)


@dataclass(frozen=True)
class Refusal:
    """A refused form, as the page shows it: the problem's status, title and detail."""

    status: int
    title: str
    detail: str


def refusal(exc: Exception) -> Refusal | None:
    """The problem an API client would get for ``exc``, for people; None for a 5xx.

    Read from the same table (``api.problems.PROBLEM_TYPES``), so the workbench and the API
    refuse alike. Server faults are not described here: they propagate and are logged.
    """
    if isinstance(exc, ValidationError):
        errors = field_errors(exc)
        return Refusal(
            422,
            "Request is not valid",
            "; ".join(f"{e['field']}: {e['reason']}" for e in errors),
        )
    for cls, kind in PROBLEM_TYPES:
        if isinstance(exc, cls):
            if kind.status >= 500:
                return None
            return Refusal(kind.status, kind.title, getattr(exc, "reason", None) or str(exc))
    return None
