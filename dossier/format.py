"""The dossier's file format, and what building and verifying it both read from it.

What: everything one claim's verdict rests on, as ledger entries with inclusion proofs
against ONE signed checkpoint taken when the file is built: the photos' SHA-256 and the
model's findings (the ``claim.evidence`` entry), the verdict with its reasons (the
``claim.verdict`` entry), every entry a reason or a piece of defect evidence cites, the
party registrations the verdict relied on, later ``claim.*`` entries about the claim (an
adjudicator's decision), and the latest on-chain anchor linked to that checkpoint by a
consistency proof.

Why: a supplier or carrier named responsible should not have to trust our database, our
API or us. With the verifier key (``GET /v1/ledger/key``) and this file, ``verify_dossier``
re-derives every fact with no database and no network; a changed byte anywhere is named.

File format (``format`` "freshproof.claim-dossier", ``version`` 2; version 1 files, which
have no ``verdict_chain``, still verify), a JSON object:

- ``claim_id``, ``lot``, ``order_id``: the claim, as its evidence entry records it.
- ``built_at``: when the file was built (ISO 8601; informational, not verified).
- ``origin``: the log's checkpoint origin line.
- ``photos``: per photo, ``sha256``, ``bytes`` and the model's ``findings``, copied from
  the evidence entry; ``model``: the model's identity and hash from the same entry.
- ``verdict``: the claim's current verdict, exactly as its entry states it (responsible
  party, reasons with their ``refs`` {index, leaf_hash}, defect evidence, ``relied_on``
  party registrations): the ``claim.verdict`` entry's body or, when late records
  re-assessed the claim, the ``verdict`` of the latest ``claim.reassessed`` entry.
- ``ledger``: ``evidence_index``, ``verdict_index`` (the current verdict's entry),
  ``verdict_chain`` (the first ``claim.verdict`` entry, then each ``claim.reassessed``
  entry that replaced it, each naming the one before; the last is ``verdict_index``),
  ``decision_indices`` (later claim
  entries naming this claim), ``decisions_complete`` (False when the bounded scan for them
  stopped early) and ``anchor_index`` (the anchor's receipt entry, or null).
- ``checkpoint``: the C2SP signed checkpoint every bundle is proven against.
- ``entries``: proof bundles (``ledger.bundle.make_bundle``), one per entry, by index; each
  also checks on its own with ``freshproof ledger verify-proof``.
- ``anchor``: ``{"status": "anchored", "ledger_index", "receipt", "checkpoint",
  "consistency": {"from", "to", "proof"}}`` (the proof links the anchored tree to the
  checkpoint's tree, so the chain vouches for the same log) or ``{"status": "none",
  "reason"}``. The receipt names chain, contract, transaction and block; checking that
  transaction needs a chain node and is left to the reader.
- ``current``: null when ``checkpoint`` was the ledger's current checkpoint at build time
  (the normal case); otherwise ``{"checkpoint", "consistency"}`` linking the dossier's
  tree to the larger tree the log had grown to while the file was being built.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "DOSSIER_FORMAT",
    "DOSSIER_VERSION",
    "PHOTO_FIELDS",
    "READABLE_VERSIONS",
    "REASSESSED",
    "VERDICT",
    "brief",
    "citations",
    "cited_indices",
    "late_records",
    "photo_view",
    "short",
    "stated_verdict",
]

DOSSIER_FORMAT = "freshproof.claim-dossier"
DOSSIER_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Versions ``verify_dossier`` reads: version 1 files have no ``verdict_chain``."""
VERDICT, REASSESSED = "claim.verdict", "claim.reassessed"


def stated_verdict(kind: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The verdict a verdict entry states: a ``claim.verdict`` body is the verdict itself; a
    ``claim.reassessed`` body carries the new one under ``verdict``."""
    return body["verdict"] if kind == REASSESSED else body


def late_records(body: Mapping[str, Any]) -> Iterator[tuple[str, int, str]]:
    """(who cites, index, leaf hash) for each record a re-assessment names as its cause."""
    for ref in body.get("records", []):
        yield "late record", int(ref["index"]), str(ref["leaf_hash"])


PHOTO_FIELDS = ("sha256", "bytes", "findings")


def photo_view(photo: Mapping[str, Any]) -> dict[str, Any]:
    """What the file states of a photo: its hash, its size, the model's findings."""
    return {k: photo[k] for k in PHOTO_FIELDS}


def cited_indices(verdict: Mapping[str, Any]) -> set[int]:
    """Every entry the verdict cites: reasons' refs, defect evidence refs, relied-on parties."""
    return {index for _, index, _ in citations(verdict)} | {
        int(p["ledger_idx"])
        for p in verdict.get("relied_on", [])
        if p.get("ledger_idx") is not None
    }


def citations(verdict: Mapping[str, Any]) -> Iterator[tuple[str, int, str]]:
    """(who cites, index, leaf hash) for every ref in the reasons and the defect evidence."""
    for reason in verdict.get("reasons", []):
        for ref in reason.get("refs", []):
            yield f"reason {reason['code']}", int(ref["index"]), str(ref["leaf_hash"])
    for ev in verdict.get("evidence", []):
        if ev.get("ref") is not None:
            yield f"{ev['defect']} evidence", int(ev["ref"]["index"]), str(ev["ref"]["leaf_hash"])


def short(hex_hash: object) -> str:
    text = str(hex_hash)
    return text[:12] + "…" if len(text) > 12 else text


def brief(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "…"
