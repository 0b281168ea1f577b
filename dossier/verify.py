"""Verifying a claim's dossier offline: nothing of ours but the file and the verifier key.

No database, no network, no SQLAlchemy: a counter-party named responsible checks every fact
the verdict rests on with a minimal install (``dossier.format`` describes the file).
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from dossier.context import (
    Context,
    Entry,
    Steps,
    Thunk,
    guarded,
    need_checkpoint,
    need_entry,
    read_checkpoint,
    read_entries,
    run_check,
)
from dossier.errors import (
    CheckpointRejectedError,
    CitationMismatchError,
    ConsistencyProofError,
    ContentMismatchError,
    EntryProofError,
    MalformedDossierError,
)
from dossier.format import (
    DOSSIER_FORMAT,
    READABLE_VERSIONS,
    REASSESSED,
    VERDICT,
    citations,
    late_records,
    photo_view,
    short,
    stated_verdict,
)
from dossier.report import Check, DossierReport
from ledger.anchor.base import ANCHOR_KIND, AnchorReceipt, check_receipt_matches
from ledger.bundle import verify_bundle
from ledger.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from ledger.errors import (
    CheckpointError,
    InvalidEntryError,
    InvalidIndexError,
    LedgerError,
    ProofError,
    TamperedEntryError,
)
from ledger.proof import verify_consistency

__all__ = ["Check", "DossierReport", "verify_dossier"]

_PARTY_KINDS = ("party.registered", "party.updated")


def verify_dossier(doc: Mapping[str, Any], verifier_key: str) -> DossierReport:
    """Check a dossier offline against the log's verifier key; runs every check, never stops.

    1. The checkpoint is a C2SP signed note by ``verifier_key``.
    2. Each entry's bundle proves it is in that checkpoint's tree (RFC 9162 §2.1.3.2).
    3. The claim's evidence and verdict entries are there and name the claim; each
       re-assessment in the verdict chain names the verdict entry it replaced.
    4. The verdict in the file equals the one its current verdict entry states.
    5. The photos' hashes, the findings and the model equal the evidence entry's.
    6. Every cited entry is there, with the leaf hash the verdict (and each re-assessment,
       for the late records that caused it) cites; each relied-on party registration says
       the role the verdict read.
    7. Each later claim entry listed names the claim.
    8. The anchor (if any): its checkpoint is signed, its receipt records that checkpoint,
       its receipt entry is in the file, and an RFC 9162 §2.1.4.2 consistency proof links
       the anchored tree to the checkpoint's.
    9. A current checkpoint (if any) is signed and extends the dossier's tree.
    """
    key = verifier_key.strip()
    ctx = Context(doc, key, read_entries(doc), read_checkpoint(doc))
    checks: list[Check] = []
    for step, (name, run) in enumerate(_STEPS, start=1):
        checks.extend(run_check(step, name, fn, part) for part, fn in guarded(run, ctx, name))
    claim_id = doc.get("claim_id") if isinstance(doc, Mapping) else None
    return DossierReport(claim_id if isinstance(claim_id, str) else None, tuple(checks))


# -- step 1


def _step_checkpoint(ctx: Context) -> Steps:
    def run() -> str:
        if (
            ctx.doc.get("format") != DOSSIER_FORMAT
            or ctx.doc.get("version") not in READABLE_VERSIONS
        ):
            versions = " or ".join(str(v) for v in READABLE_VERSIONS)
            raise MalformedDossierError("format", f"not a {DOSSIER_FORMAT} version {versions} file")
        cp = _signed(ctx.doc["checkpoint"], ctx.key, "the dossier's")
        if cp.origin != ctx.doc.get("origin"):
            raise MalformedDossierError("origin", f"the checkpoint's origin is {cp.origin!r}")
        return f"signed by the key for {cp.origin}, tree size {cp.size}, root {cp.root.hex()}"

    return [("checkpoint", run)]


def _signed(note: object, key: str, which: str) -> Checkpoint:
    if not isinstance(note, str):
        raise MalformedDossierError(f"{which} checkpoint", "is not a signed note")
    try:
        return verify_checkpoint(note, key)
    except LedgerError as exc:
        raise CheckpointRejectedError(which, exc) from exc


# -- step 2


def _step_inclusion(ctx: Context) -> Steps:
    bundles = ctx.doc["entries"]
    if not isinstance(bundles, list) or not bundles:
        raise MalformedDossierError("entries", "no proof bundles")
    return [(f"entries[{n}]", _bundle_check(ctx, n, b)) for n, b in enumerate(bundles)]


def _bundle_check(ctx: Context, n: int, bundle: Mapping[str, Any]) -> Thunk:
    def run() -> str:
        index, kind = int(bundle["index"]), str(bundle.get("kind", "?"))
        if sum(1 for b in ctx.doc["entries"] if b.get("index") == index) > 1:
            raise EntryProofError(index, kind, "appears more than once in the dossier")
        try:
            verified = verify_bundle(dict(bundle), ctx.key)
        except LedgerError as exc:
            raise EntryProofError(index, kind, _bundle_problem(exc), exc) from exc
        if bundle["checkpoint"] != ctx.doc["checkpoint"]:
            raise EntryProofError(index, kind, "is proven against another checkpoint")
        entry = ctx.entries[index]
        if bundle.get("body") != entry.body or bundle.get("kind") != entry.kind:
            raise EntryProofError(index, kind, "its body or kind field differs from its record")
        return f"entry {index} ({entry.kind}) is in the tree of size {verified.tree_size}"

    return run


def _bundle_problem(exc: LedgerError) -> str:
    if isinstance(exc, ProofError):
        return "inclusion proof does not match the checkpoint"
    if isinstance(exc, TamperedEntryError):
        return "its record does not hash to its leaf hash, or does not parse"
    if isinstance(exc, CheckpointError):
        return "its checkpoint is not validly signed by the key"
    if isinstance(exc, InvalidIndexError):
        return "its index lies outside the checkpoint's tree"
    if isinstance(exc, InvalidEntryError):
        return "its proof bundle is malformed"
    return "its proof bundle does not verify"


# -- step 3


def _step_claim_entries(ctx: Context) -> Steps:
    refs, claim_id = ctx.doc["ledger"], ctx.doc["claim_id"]
    ev_idx, vd_idx = int(refs["evidence_index"]), int(refs["verdict_index"])
    chain = [int(i) for i in refs.get("verdict_chain", [vd_idx])]
    if not chain or chain[-1] != vd_idx:
        raise MalformedDossierError("ledger.verdict_chain", f"does not end at entry {vd_idx}")

    def evidence() -> str:
        entry = need_entry(ctx, ev_idx, "the claim")
        _expect_claim_entry(entry, "claim.evidence", claim_id)
        return f"entry {ev_idx} is the claim's evidence"

    def verdict() -> str:
        entry = need_entry(ctx, chain[0], "the claim")
        _expect_claim_entry(entry, VERDICT, claim_id)
        said = {"evidence_index": entry.body.get("evidence_index")}
        found = {"evidence_index": ev_idx}
        _expect_equal("the evidence index", f"verdict entry {chain[0]}", said, found, "")
        return f"entry {chain[0]} is the claim's verdict, on evidence entry {ev_idx}"

    def replaced(before: int, index: int) -> Thunk:
        def run() -> str:
            entry = need_entry(ctx, index, "the claim's current verdict")
            _expect_claim_entry(entry, REASSESSED, claim_id)
            said = {"verdict_index": (entry.body.get("previous") or {}).get("verdict_index")}
            _expect_equal("the replaced verdict", f"entry {index}", said, {"verdict_index": before})
            return f"entry {index} re-assessed the claim, replacing the verdict of entry {before}"

        return run

    steps: Steps = [("evidence entry", evidence), ("verdict entry", verdict)]
    steps += [
        (f"re-assessment {index}", replaced(before, index))
        for before, index in itertools.pairwise(chain)
    ]
    return steps


def _expect_claim_entry(entry: Entry, kind: str, claim_id: object) -> None:
    if entry.kind != kind:
        raise EntryProofError(entry.index, entry.kind, f"is not a {kind} entry")
    said = {"claim_id": entry.body.get("claim_id")}
    found = {"claim_id": claim_id}
    _expect_equal("the claim id", f"{kind} entry {entry.index}", said, found, "")


# -- step 4


def _step_verdict(ctx: Context) -> Steps:
    def run() -> str:
        index = int(ctx.doc["ledger"]["verdict_index"])
        entry = need_entry(ctx, index, "the verdict")
        stated = stated_verdict(entry.kind, entry.body)
        _expect_equal("verdict", "the ledger's verdict entry", stated, ctx.doc["verdict"])
        return f"{_verdict_words(entry.body)}: as in entry {index}"

    return [("verdict", run)]


def _verdict_words(v: Mapping[str, Any]) -> str:
    """The verdict as a person reads it: party (and its id, if one was named), confidence,
    the reasons' codes; never a Python ``None``."""
    party = v.get("responsible_party") or "no party"
    who = f"{party} ({v['party_id']})" if v.get("party_id") else f"{party} (no party named)"
    confidence = v.get("confidence")
    sure = f"{confidence:g}" if isinstance(confidence, int | float) else "not stated"
    codes = [str(r.get("code")) for r in v.get("reasons", []) if r.get("code")]
    return f"{who}, confidence {sure}, reasons: {', '.join(codes) or 'none'}"


def _expect_equal(
    what: str, entry: str, expected: object, found: object, root: str | None = None
) -> None:
    """Raise ``ContentMismatchError`` naming every path where ``found`` differs."""
    diffs = list(_differences(expected, found, what if root is None else root))
    if diffs:
        path, a, b = diffs[0]
        raise ContentMismatchError(what, entry, path, a, b, tuple(d[0] for d in diffs[1:]))


def _differences(a: object, b: object, path: str) -> Iterator[tuple[str, object, object]]:
    """Each (path, a's value, b's value) where two JSON values differ, in document order."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                yield sub, a.get(k, "<absent>"), b.get(k, "<absent>")
            else:
                yield from _differences(a[k], b[k], sub)
    elif isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from _differences(x, y, f"{path}[{i}]")
        if len(a) != len(b):
            yield f"{path} length", len(a), len(b)
    # bool is an int in Python: True == 1 must still count as a difference.
    elif a != b or isinstance(a, bool) != isinstance(b, bool):
        yield path, a, b


# -- step 5


def _step_evidence(ctx: Context) -> Steps:
    def run() -> str:
        index = int(ctx.doc["ledger"]["evidence_index"])
        body = need_entry(ctx, index, "the photos").body
        photos = [photo_view(p) for p in body["photos"]]
        where = "the ledger's evidence entry"
        _expect_equal("photos", where, photos, ctx.doc["photos"])
        _expect_equal("model", where, body["model"], ctx.doc["model"])
        for field in ("lot", "order_id"):
            _expect_equal(field, where, body.get(field), ctx.doc.get(field))
        found = sum(len(p["findings"]) for p in photos)
        model = body["model"]
        return (
            f"{len(photos)} photo(s) and {found} finding(s) by model {model.get('name')} "
            f"{model.get('version', '')} (sha256 {short(model.get('sha256'))}): as in entry "
            f"{index}"
        )

    return [("photos and findings", run)]


# -- step 6


def _step_citations(ctx: Context) -> Steps:
    refs = ctx.doc["ledger"]
    entry = ctx.entries.get(int(refs["verdict_index"]))
    # Without its entry (step 3 says so) the file's own verdict still gets its citations checked.
    verdict = stated_verdict(entry.kind, entry.body) if entry is not None else ctx.doc["verdict"]
    cited = list(citations(verdict))
    for index in refs.get("verdict_chain", [])[1:]:
        if (reassessed := ctx.entries.get(int(index))) is not None:
            cited += late_records(reassessed.body)
    steps: Steps = [
        (f"{who} → {index}", _citation_check(ctx, who, index, leaf)) for who, index, leaf in cited
    ]
    steps += [
        (f"relied on {p.get('id')}", _party_check(ctx, p)) for p in verdict.get("relied_on", [])
    ]
    return steps


def _citation_check(ctx: Context, who: str, index: int, cited: str) -> Thunk:
    def run() -> str:
        entry = need_entry(ctx, index, who)
        if entry.leaf != cited:
            raise CitationMismatchError(who, index, cited, entry.leaf)
        return f"{who} cites entry {index} ({entry.kind}), leaf {short(cited)}: present"

    return run


def _party_check(ctx: Context, party: Mapping[str, Any]) -> Thunk:
    def run() -> str:
        who = f"the verdict's reliance on {party['id']} as {party['role']}"
        if party.get("ledger_idx") is None:
            return f"{party['id']} as {party['role']}: no registration entry recorded"
        entry = need_entry(ctx, int(party["ledger_idx"]), who)
        if entry.kind not in _PARTY_KINDS:
            raise EntryProofError(entry.index, entry.kind, "is not a party registration")
        said = {"id": entry.body.get("id"), "role": entry.body.get("role")}
        found = {"id": party["id"], "role": party["role"]}
        where = f"registration entry {entry.index}"
        _expect_equal("the relied-on party", where, said, found, "relied_on")
        return f"{party['id']} registered as {party['role']} in entry {entry.index}"

    return run


# -- step 7


def _step_decisions(ctx: Context) -> Steps:
    refs = ctx.doc["ledger"]
    steps: Steps = [
        (f"decision {i}", _decision_check(ctx, int(i))) for i in refs["decision_indices"]
    ]
    if not steps:
        note = "" if refs.get("decisions_complete", True) else " (the scan for them was cut short)"
        steps.append(("decisions", lambda: f"no later entries about the claim{note}"))
    return steps


def _decision_check(ctx: Context, index: int) -> Thunk:
    def run() -> str:
        entry = need_entry(ctx, index, "the list of later claim entries")
        if not entry.kind.startswith("claim."):
            raise EntryProofError(index, entry.kind, "is not a claim entry")
        said = {"claim_id": entry.body.get("claim_id")}
        found = {"claim_id": ctx.doc["claim_id"]}
        _expect_equal("the claim id", f"entry {index}", said, found, "")
        what = _claim_entry_words(entry.kind, entry.body)
        return f"entry {index} ({entry.kind}) names the claim" + (f": {what}" if what else "")

    return run


def _claim_entry_words(kind: str, body: Mapping[str, Any]) -> str:
    """What a person's entry about the claim did, as people read it (the claim's state after
    a decision, a proposal above the limit, its approval); empty for other kinds."""
    if kind == "claim.decision":
        party = body.get("responsible_party") or "no party"
        who = f"{party} ({body['party_id']})" if body.get("party_id") else party
        comp = body.get("compensation") or {}
        payment = comp.get("payment") or {}
        paid = (
            f"paid {payment.get('amount')} {payment.get('currency')}"
            if comp.get("paid")
            else "nothing paid"
        )
        approved = f", approved by {comp['approved_by']}" if comp.get("approved_by") else ""
        return f"{body.get('actor')} decided {who} responsible, {paid}{approved}"
    if kind == "claim.proposal":
        offer = body.get("offer") or {}
        return (
            f"{body.get('actor')} proposed {offer.get('amount')} {offer.get('currency')}, above "
            "the adjudicator's limit: it waits for a second person"
        )
    if kind == "claim.flagged":
        before = (body.get("previous") or {}).get("responsible_party") or "no party"
        after = (body.get("verdict") or {}).get("responsible_party") or "no party"
        return (
            f"late records would now name {after} (the claim named {before}); the claim was "
            f"{body.get('settled')}, so a machine only flagged it for a person"
        )
    if kind == "claim.approval":
        return f"{body.get('actor')} {body.get('answer')} the proposal of {body.get('proposed_by')}"
    return ""


# -- step 8


def _step_anchor(ctx: Context) -> Steps:
    anchor = ctx.doc["anchor"]
    if anchor.get("status") != "anchored":
        if ctx.doc["ledger"].get("anchor_index") is not None:
            raise MalformedDossierError("anchor", "says none, but ledger.anchor_index is set")
        return [("anchor", lambda: f"no anchor: {anchor.get('reason', 'none recorded')}")]
    return [
        ("anchored checkpoint", lambda: _anchored_signature(ctx, anchor)),
        ("receipt", lambda: _receipt_matches(anchor)),
        ("receipt entry", lambda: _receipt_entry(ctx, anchor)),
        ("consistency", lambda: _anchor_consistency(ctx, anchor)),
    ]


def _anchored_signature(ctx: Context, anchor: Mapping[str, Any]) -> str:
    cp = _signed(anchor["checkpoint"], ctx.key, "the anchored")
    return f"the anchored checkpoint (tree size {cp.size} of {cp.origin}) is signed by the key"


def _receipt_matches(anchor: Mapping[str, Any]) -> str:
    receipt = AnchorReceipt.from_dict(anchor["receipt"])
    cp = parse_checkpoint(anchor["checkpoint"])
    try:
        check_receipt_matches(receipt, origin=cp.origin, size=cp.size, root=cp.root)
    except LedgerError as exc:
        raise MalformedDossierError(
            "anchor.receipt", f"records another checkpoint than the anchored one: {exc}"
        ) from exc
    if not receipt.anchored:
        raise MalformedDossierError("anchor.receipt", "records no chain (anchoring was off)")
    return (
        f"the receipt records that checkpoint on chain {receipt.chain_id}, contract "
        f"{receipt.contract_address}, tx {receipt.tx_hash}, block {receipt.block_number}, at "
        f"{receipt.anchored_at.isoformat()}"
    )


def _receipt_entry(ctx: Context, anchor: Mapping[str, Any]) -> str:
    index = int(anchor["ledger_index"])
    if ctx.doc["ledger"].get("anchor_index") != index:
        raise MalformedDossierError("ledger.anchor_index", f"is not the anchor's entry {index}")
    entry = need_entry(ctx, index, "the anchor")
    if entry.kind != ANCHOR_KIND:
        raise EntryProofError(index, entry.kind, f"is not a {ANCHOR_KIND} entry")
    found = {"receipt": anchor["receipt"], "checkpoint": anchor["checkpoint"]}
    _expect_equal("the anchor", f"receipt entry {index}", entry.body, found, "anchor")
    return f"the receipt is recorded in the log as entry {index}"


def _anchor_consistency(ctx: Context, anchor: Mapping[str, Any]) -> str:
    cp, old = need_checkpoint(ctx), parse_checkpoint(anchor["checkpoint"])
    _verify_link(("anchored", old), ("checkpoint's", cp), anchor["consistency"])
    # The receipt entry always follows its anchor; the others say what the anchor vouches for.
    later = sorted(i for i in ctx.entries if i >= old.size and i != int(anchor["ledger_index"]))
    # The dossier carries the latest anchor there was, so nothing anchors what came after
    # it yet; the signed checkpoint (steps 1-2) still does.
    tail = (
        "it covers every other entry in the dossier"
        if not later
        else f"entries {', '.join(map(str, later))} came after it: no anchor covers them yet "
        "(the signed checkpoint does; a dossier built after the next anchor would carry it)"
    )
    return (
        f"the anchored tree of size {old.size} is a prefix of the checkpoint's tree of size "
        f"{cp.size}; {tail}"
    )


def _verify_link(
    old: tuple[str, Checkpoint], new: tuple[str, Checkpoint], link: Mapping[str, Any]
) -> None:
    """The consistency proof ``link`` shows ``new`` extends ``old`` (same origin, §2.1.4.2)."""
    (old_name, a), (new_name, b) = old, new
    if a.origin != b.origin:
        raise ConsistencyProofError(
            old_name,
            a.size,
            new_name,
            b.size,
            ValueError(f"origin {a.origin!r} is not {b.origin!r}"),
        )
    if (int(link["from"]), int(link["to"])) != (a.size, b.size):
        reason = f"the proof is for sizes {link['from']}→{link['to']}"
        raise ConsistencyProofError(old_name, a.size, new_name, b.size, ValueError(reason))
    proof = [base64.b64decode(h, validate=True) for h in link["proof"]]
    try:
        verify_consistency(size1=a.size, size2=b.size, proof=proof, root1=a.root, root2=b.root)
    except LedgerError as exc:
        raise ConsistencyProofError(old_name, a.size, new_name, b.size, exc) from exc


# -- step 9


def _step_current(ctx: Context) -> Steps:
    current = ctx.doc["current"]
    if current is None:
        return [("current checkpoint", lambda: "the dossier's checkpoint was the current one")]

    def run() -> str:
        new = _signed(current["checkpoint"], ctx.key, "the current")
        old = ("dossier checkpoint's", need_checkpoint(ctx))
        _verify_link(old, ("current checkpoint's", new), current["consistency"])
        return f"the log had grown to {new.size} entries; it extends the dossier's tree"

    return [("current checkpoint", run)]


_STEPS: tuple[tuple[str, Callable[[Context], Steps]], ...] = (
    ("checkpoint", _step_checkpoint),
    ("inclusion", _step_inclusion),
    ("claim entries", _step_claim_entries),
    ("verdict", _step_verdict),
    ("evidence", _step_evidence),
    ("citations", _step_citations),
    ("decisions", _step_decisions),
    ("anchor", _step_anchor),
    ("current checkpoint", _step_current),
)
