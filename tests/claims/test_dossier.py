"""The claim dossier: a real claim's file verifies offline, and every tampering is named.

The ledger, the parties, the EPCIS capture, the claim service, the verdict and the anchor
are the real ones (``build_services``, the app's composition root); only the model is
replaced, by the simulator's ``GivenFindings`` (real decoding and quality gate, findings
given), so the tests need no weights. A hot truck leg makes the verdict cite entries.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from api.services import Services, build_services
from api.settings import Settings
from claims.errors import UnknownClaimError
from claims.models import ClaimInput
from claims.service import file_claim
from dossier.build import build_dossier
from dossier.errors import (
    CheckpointRejectedError,
    CitationMismatchError,
    ConsistencyProofError,
    ContentMismatchError,
    EntryProofError,
    MissingEntryError,
)
from dossier.verify import Check, DossierReport, verify_dossier
from ledger.bundle import verify_bundle
from ledger.log import Ledger
from simulator.photos import GivenFindings, texture_jpeg
from supplychain.capture import capture_events, register_party
from supplychain.epcis import parse_document
from supplychain.epcis.build import ZULU, epcis_document
from tests.api.test_claims import DC, FARM, HOT, NOW, TRUCK, _event, _series
from tests.conftest import postgres_schema, schema_url

Doc = dict[str, Any]


@dataclass(frozen=True)
class World:
    """A ledger with one filed claim, the log's verifier key and the claim's dossier."""

    services: Services
    claim_id: str
    key: str
    doc: Doc

    def tampered(self, change: Callable[[Doc], object]) -> DossierReport:
        """Verify a deep copy of the dossier after ``change`` has edited it."""
        doc = copy.deepcopy(self.doc)
        change(doc)
        return verify_dossier(doc, self.key)


def hot_claim(services: Services, lot: str) -> str:
    """Register three parties, capture a chain whose truck leg ran hot, file a spoilage claim."""
    for pid, role, name in (
        (FARM, "supplier", "Green Farm"),
        (DC, "warehouse", "North DC"),
        (TRUCK, "carrier", "FastVan"),
    ):
        register_party(ledger=services.ledger, party_id=pid, role=role, name=name)
    delivered = NOW - timedelta(hours=1)
    t0 = delivered - timedelta(hours=14)
    at = [t0 + timedelta(hours=h) for h in (0, 2, 2 + 5 / 60, 10, 10 + 1 / 60)]
    events = [
        _event(lot, at[0], "packing", src=FARM, temps=_series(at[0], 2, [3, 3, 3])),
        _event(lot, at[1], "shipping", src=FARM, dst=DC),
        _event(
            lot,
            at[2],
            "inspecting",
            src=DC,
            disposition="sellable_accessible",
            temps=_series(at[2], 7.9, [3, 3, 4, 3, 3]),
        ),
        _event(lot, at[3], "shipping", src=DC, dst=TRUCK),
        _event(lot, at[3], "inspecting", src=DC, disposition="sellable_accessible"),
        _event(lot, at[4], "storing", src=TRUCK, temps=_series(at[4], 3.9, HOT)),
    ]
    doc = epcis_document(events, creation_date=NOW, times=ZULU)
    capture_events(ledger=services.ledger, events_in=parse_document(json.dumps(doc)))
    inspector = GivenFindings()
    photo = texture_jpeg(11)
    inspector.give(photo, [("spoilage", 0.93)])
    claim = ClaimInput(
        order_id=f"ORD-{lot}",
        lot=lot,
        category="chilled",
        line_value="12.50",
        currency="EUR",
        delivered_at=delivered,
    )
    filed, created = file_claim(
        ledger=services.ledger,
        store=services.evidence,
        inspector=inspector,
        claim=claim,
        photos=[("p.jpg", photo)],
        now=NOW,
    )
    assert created and filed["verdict"]["reasons"][0]["code"] == "TEMPERATURE_ABUSE"
    return str(filed["id"])


def open_services(data_dir: Path, *, anchor_backend: str, database_url: str | None = None):  # type: ignore[no-untyped-def]
    """The app's services; anchoring only when a test asks (no background jobs run)."""
    return build_services(
        Settings(
            data_dir=data_dir,
            database_url=database_url,
            anchor_backend=anchor_backend,
            anchor_every_entries=1_000_000,
        )
    )


def _world(services: Services, claim_id: str) -> World:
    doc = build_dossier(
        ledger=services.ledger, signer=services.signer, engine=services.engine, claim_id=claim_id
    )
    # Through JSON, as a counter-party receives it.
    doc = json.loads(json.dumps(doc))
    return World(services, claim_id, services.signer.verifier().to_string() + "\n", doc)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def anchored(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """A claim filed, then the log anchored on the in-process chain, then the dossier built."""
    with ExitStack() as stack:
        url = None
        if request.param == "postgres":
            url = schema_url(stack.enter_context(postgres_schema("dossier_test")))
        services = open_services(
            tmp_path_factory.mktemp("dossier"), anchor_backend="inprocess", database_url=url
        )
        stack.callback(services.close)
        claim_id = hot_claim(services, "LOT-DOS-A")
        assert services.anchor_now() is not None
        yield _world(services, claim_id)


@pytest.fixture(scope="module")
def unanchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Anchoring off: the dossier says there is no anchor."""
    services = open_services(tmp_path_factory.mktemp("dossier-none"), anchor_backend="none")
    try:
        yield _world(services, hot_claim(services, "LOT-DOS-N"))
    finally:
        services.close()


def _bundle(doc: Doc, index: int) -> dict[str, Any]:
    (found,) = [b for b in doc["entries"] if b["index"] == index]
    return dict(found)


def _failed(report: DossierReport) -> list[Check]:
    assert not report.ok
    return list(report.failures)


def _only(report: DossierReport, step: int) -> Check:
    """The single failure, at ``step``."""
    (failure,) = _failed(report)
    assert failure.step == step, failure.line()
    return failure


# ---------------------------------------------------------------- an honest dossier


def test_a_real_dossier_verifies_and_carries_what_the_verdict_rests_on(anchored: World) -> None:
    report = verify_dossier(anchored.doc, anchored.key)
    assert report.ok, "\n".join(report.lines())
    assert report.claim_id == anchored.claim_id
    assert sorted({c.step for c in report.checks}) == list(range(1, 10))
    doc, refs = anchored.doc, anchored.doc["ledger"]
    verdict = _bundle(doc, refs["verdict_index"])["body"]
    evidence = _bundle(doc, refs["evidence_index"])["body"]
    assert doc["verdict"] == verdict and verdict["responsible_party"] == "carrier"
    assert doc["photos"][0]["sha256"] == evidence["photos"][0]["sha256"]
    assert doc["photos"][0]["findings"][0]["label"] == "spoilage"
    assert doc["model"] == evidence["model"]
    indices = {b["index"] for b in doc["entries"]}
    cited = {r["index"] for reason in verdict["reasons"] for r in reason["refs"]}
    relied = {p["ledger_idx"] for p in verdict["relied_on"]}
    assert cited and relied and cited | relied <= indices
    assert doc["current"] is None


def test_a_version_1_file_without_a_verdict_chain_still_verifies(anchored: World) -> None:
    # Files built before re-assessment existed name one verdict entry and no chain.
    doc = copy.deepcopy(anchored.doc)
    assert doc["ledger"].pop("verdict_chain") == [doc["ledger"]["verdict_index"]]
    doc["version"] = 1
    assert verify_dossier(doc, anchored.key).ok
    doc["version"] = 3
    (failure,) = verify_dossier(doc, anchored.key).failures
    assert failure.step == 1 and "version 1 or 2" in failure.message


def test_every_bundle_is_against_the_one_checkpoint_and_checks_on_its_own(
    anchored: World,
) -> None:
    doc = anchored.doc
    assert {b["checkpoint"] for b in doc["entries"]} == {doc["checkpoint"]}
    for bundle in doc["entries"]:
        assert verify_bundle(bundle, anchored.key.strip()).index == bundle["index"]


def test_the_in_process_anchor_is_present_and_linked(anchored: World) -> None:
    anchor = anchored.doc["anchor"]
    assert anchor["status"] == "anchored"
    assert anchor["receipt"]["tx_hash"] and anchor["receipt"]["chain_id"] != 0
    assert anchored.doc["ledger"]["anchor_index"] == anchor["ledger_index"]
    link = anchor["consistency"]
    assert (link["from"], link["to"]) == (anchor["receipt"]["size"], anchor["ledger_index"] + 1)
    assert link["proof"]  # sizes differ: a real proof, not the trivial equal-trees case
    checks = [c for c in verify_dossier(anchored.doc, anchored.key).checks if c.step == 8]
    assert len(checks) == 4 and all(c.ok for c in checks)
    assert "covers every other entry" in checks[-1].message


def test_without_an_anchor_the_file_says_so_and_still_verifies(unanchored: World) -> None:
    assert unanchored.doc["anchor"]["status"] == "none"
    assert unanchored.doc["anchor"]["reason"]
    assert unanchored.doc["ledger"]["anchor_index"] is None
    report = verify_dossier(unanchored.doc, unanchored.key)
    assert report.ok, "\n".join(report.lines())
    (step8,) = [c for c in report.checks if c.step == 8]
    assert step8.message.startswith("no anchor")


def test_a_noanchor_receipt_is_not_an_anchor(tmp_path: Path) -> None:
    services = open_services(tmp_path, anchor_backend="none")
    try:
        claim_id = hot_claim(services, "LOT-DOS-0")
        assert services.anchor_now() is not None  # a receipt with chain id 0 is recorded
        world = _world(services, claim_id)
    finally:
        services.close()
    assert world.doc["anchor"]["status"] == "none"
    assert verify_dossier(world.doc, world.key).ok


def test_a_later_decision_naming_the_claim_is_carried(tmp_path: Path) -> None:
    services = open_services(tmp_path, anchor_backend="none")
    try:
        claim_id = hot_claim(services, "LOT-DOS-D")
        other = services.ledger.append(kind="claim.decision", body={"claim_id": "someone-else"})
        mine = services.ledger.append(
            kind="claim.decision", body={"claim_id": claim_id, "party": "carrier"}
        )
        world = _world(services, claim_id)
    finally:
        services.close()
    assert world.doc["ledger"]["decision_indices"] == [mine.index]
    assert world.doc["ledger"]["decisions_complete"] is True
    assert other.index not in {b["index"] for b in world.doc["entries"]}
    report = verify_dossier(world.doc, world.key)
    assert report.ok, "\n".join(report.lines())
    # Listing someone else's decision as this claim's is caught.
    forged = world.tampered(lambda d: d["ledger"]["decision_indices"].append(other.index))
    assert "which the dossier does not carry" in _only(forged, 7).message


class GrowingLedger(Ledger):
    """A ledger another writer appends to while the dossier is being built."""

    grown = False

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        if not self.grown:
            self.grown = True
            self.append(kind="test.concurrent", body={"n": 1})
        return super().inclusion_proof(index, size)


def test_a_log_grown_during_the_build_is_linked_by_a_current_checkpoint(tmp_path: Path) -> None:
    services = open_services(tmp_path, anchor_backend="none")
    try:
        claim_id = hot_claim(services, "LOT-DOS-G")
        ledger = GrowingLedger(services.engine, origin=services.ledger.origin)
        doc = build_dossier(
            ledger=ledger, signer=services.signer, engine=services.engine, claim_id=claim_id
        )
        key = services.signer.verifier().to_string()
    finally:
        services.close()
    current = doc["current"]
    assert (
        current is not None and current["consistency"]["to"] == current["consistency"]["from"] + 1
    )
    assert verify_dossier(doc, key).ok
    current["consistency"]["proof"] = current["consistency"]["proof"][1:]
    failure = _only(verify_dossier(doc, key), 9)
    assert isinstance(failure.error, ConsistencyProofError)


def test_an_unknown_claim_has_no_dossier(unanchored: World) -> None:
    s = unanchored.services
    with pytest.raises(UnknownClaimError):
        build_dossier(ledger=s.ledger, signer=s.signer, engine=s.engine, claim_id="nope")


# ---------------------------------------------------------------- tampering, each named


def test_a_changed_reason_party_is_named(anchored: World) -> None:
    def change(d: Doc) -> None:
        d["verdict"]["reasons"][0]["facts"]["party_id"] = FARM

    failure = _only(anchored.tampered(change), 4)
    assert isinstance(failure.error, ContentMismatchError)
    assert failure.message.startswith("verdict differs from the ledger's verdict entry")
    assert "verdict.reasons[0].facts.party_id" in failure.message and FARM in failure.message


def test_a_changed_responsible_party_is_named(anchored: World) -> None:
    failure = _only(anchored.tampered(lambda d: d["verdict"].update(party_id=FARM)), 4)
    assert "verdict.party_id" in failure.message


def test_a_changed_photo_hash_is_named(anchored: World) -> None:
    failure = _only(anchored.tampered(lambda d: d["photos"][0].update(sha256="ab" * 32)), 5)
    assert "photos differ from the ledger's evidence entry at photos[0].sha256" in (failure.message)


def test_a_changed_finding_or_model_is_named(anchored: World) -> None:
    def findings(d: Doc) -> None:
        d["photos"][0]["findings"][0]["confidence"] = 0.99

    assert "photos[0].findings[0].confidence" in _only(anchored.tampered(findings), 5).message
    model = _only(anchored.tampered(lambda d: d["model"].update(sha256="f" * 64)), 5)
    assert "model.sha256" in model.message


def test_a_changed_entry_body_byte_is_named(anchored: World) -> None:
    index = anchored.doc["ledger"]["evidence_index"]

    def change(d: Doc) -> None:
        (bundle,) = [b for b in d["entries"] if b["index"] == index]
        bundle["record"] = bundle["record"].replace('"bytes":', '"bytes":1', 1)

    failure, *others = _failed(anchored.tampered(change))
    assert isinstance(failure.error, EntryProofError) and failure.error.index == index
    assert failure.message.startswith(f"entry {index} (claim.evidence): its record does not hash")
    # The photo's size in the (forged) entry no longer matches the file's either.
    assert [
        (f.step, f.error.path) for f in others if isinstance(f.error, ContentMismatchError)
    ] == [(5, "photos[0].bytes")]


def test_a_changed_body_with_its_leaf_hash_recomputed_fails_the_proof(anchored: World) -> None:
    from ledger.hashing import leaf_hash

    index = anchored.doc["ledger"]["verdict_index"]

    def change(d: Doc) -> None:
        (bundle,) = [b for b in d["entries"] if b["index"] == index]
        bundle["record"] = bundle["record"].replace('"carrier"', '"supplier"', 1)
        bundle["leaf_hash"] = leaf_hash(bundle["record"].encode()).hex()

    failures = _failed(anchored.tampered(change))
    assert failures[0].message.startswith(
        f"entry {index} (claim.verdict): inclusion proof does not match the checkpoint"
    )
    # The file's verdict no longer matches the (forged) verdict entry either.
    assert any(f.step == 4 for f in failures)


def test_a_bundle_body_copy_that_differs_from_its_record_is_named(anchored: World) -> None:
    index = anchored.doc["ledger"]["verdict_index"]

    def change(d: Doc) -> None:
        (bundle,) = [b for b in d["entries"] if b["index"] == index]
        bundle["body"]["responsible_party"] = "supplier"

    assert (
        "its body or kind field differs from its record"
        in _only(anchored.tampered(change), 2).message
    )


def test_a_changed_inclusion_proof_hash_is_named(anchored: World) -> None:
    index = anchored.doc["ledger"]["verdict_index"]

    def change(d: Doc) -> None:
        (bundle,) = [b for b in d["entries"] if b["index"] == index]
        proof = bundle["inclusion_proof"]
        proof[0] = "A" * 43 + "="

    failure = _only(anchored.tampered(change), 2)
    assert failure.message.startswith(
        f"entry {index} (claim.verdict): inclusion proof does not match the checkpoint"
    )


def test_a_broken_checkpoint_signature_is_named(anchored: World) -> None:
    def change(d: Doc) -> None:
        body, sig = d["checkpoint"].rsplit(" ", 1)
        flipped = ("B" if sig[0] == "A" else "A") + sig[1:]
        d["checkpoint"] = f"{body} {flipped}"

    failures = _failed(anchored.tampered(change))
    assert failures[0].step == 1 and isinstance(failures[0].error, CheckpointRejectedError)
    assert "the dossier's checkpoint is not validly signed by the key" in failures[0].message
    # Every bundle still carries the genuine checkpoint: none is "against the dossier's".
    assert {f.step for f in failures} == {1, 2}
    assert all("another checkpoint" in f.message for f in failures[1:])


def test_another_key_fails_the_signatures(anchored: World) -> None:
    from ledger.checkpoint import generate_key

    _, other = generate_key("freshproof.local/ledger")
    report = verify_dossier(anchored.doc, other)
    assert {f.step for f in report.failures} == {1, 2, 8}


def test_a_changed_cited_leaf_hash_is_named(anchored: World) -> None:
    ref = anchored.doc["verdict"]["reasons"][0]["refs"][0]

    def change(d: Doc) -> None:
        d["verdict"]["reasons"][0]["refs"][0]["leaf_hash"] = "cd" * 32

    failure = _only(anchored.tampered(change), 4)
    assert "verdict.reasons[0].refs[0].leaf_hash" in failure.message
    # The cited entry itself replaced: the proof and the citation both name it.
    index = ref["index"]

    def swap_entry(d: Doc) -> None:
        (bundle,) = [b for b in d["entries"] if b["index"] == index]
        # Still the same JSON, other bytes: another leaf hash.
        bundle["record"] = bundle["record"].replace('{"body":', '{ "body":', 1)

    failures = _failed(anchored.tampered(swap_entry))
    assert [f.step for f in failures] == [2, 6]
    citation = failures[1]
    assert isinstance(citation.error, CitationMismatchError)
    assert (citation.error.index, citation.error.cited) == (index, ref["leaf_hash"])
    assert citation.error.found != ref["leaf_hash"]
    assert citation.message.startswith(
        f"reason TEMPERATURE_ABUSE cites entry {index} with leaf {ref['leaf_hash'][:12]}…, "
        f"the dossier's entry {index} has leaf "
    )


def test_a_removed_cited_entry_is_named(anchored: World) -> None:
    index = anchored.doc["verdict"]["reasons"][0]["refs"][0]["index"]

    def change(d: Doc) -> None:
        d["entries"] = [b for b in d["entries"] if b["index"] != index]

    failure = _only(anchored.tampered(change), 6)
    assert isinstance(failure.error, MissingEntryError) and failure.error.index == index
    assert failure.message == (
        f"reason TEMPERATURE_ABUSE cites entry {index}, which the dossier does not carry"
    )


def test_a_removed_party_registration_is_named(anchored: World) -> None:
    carrier = next(p for p in anchored.doc["verdict"]["relied_on"] if p["role"] == "carrier")

    def change(d: Doc) -> None:
        d["entries"] = [b for b in d["entries"] if b["index"] != carrier["ledger_idx"]]

    failure = _only(anchored.tampered(change), 6)
    assert f"reliance on {TRUCK} as carrier cites entry {carrier['ledger_idx']}" in (
        failure.message
    )


def test_a_swapped_anchor_consistency_proof_is_named(anchored: World) -> None:
    def change(d: Doc) -> None:
        link = d["anchor"]["consistency"]
        link["proof"] = (
            list(reversed(link["proof"]))
            if len(link["proof"]) > 1
            else [_bundle(d, d["ledger"]["verdict_index"])["inclusion_proof"][0]]
        )

    failure = _only(anchored.tampered(change), 8)
    assert isinstance(failure.error, ConsistencyProofError)
    size = anchored.doc["anchor"]["receipt"]["size"]
    assert failure.message.startswith(
        f"the consistency proof from the anchored tree (size {size}) to the checkpoint's tree "
        f"(size {size + 1}) does not verify"
    )


def test_a_changed_anchor_receipt_is_named(anchored: World) -> None:
    failures = _failed(anchored.tampered(lambda d: d["anchor"]["receipt"].update(size=1)))
    assert [f.part for f in failures] == ["receipt", "receipt entry"]
    assert "records another checkpoint than the anchored one" in failures[0].message


def test_many_tamperings_are_all_named_at_once(anchored: World) -> None:
    index = anchored.doc["verdict"]["reasons"][0]["refs"][0]["index"]

    def change(d: Doc) -> None:
        d["verdict"]["confidence"] = 0.99
        d["verdict"]["responsible_party"] = "supplier"
        d["photos"][0]["sha256"] = "ab" * 32
        d["entries"] = [b for b in d["entries"] if b["index"] != index]
        d["anchor"]["consistency"]["proof"] = []

    failures = _failed(anchored.tampered(change))
    assert [f.step for f in failures] == [4, 5, 6, 8]
    verdict = failures[0].error
    assert isinstance(verdict, ContentMismatchError)
    assert (verdict.path, verdict.also) == ("verdict.confidence", ("verdict.responsible_party",))
    assert "(also at verdict.responsible_party)" in failures[0].message


def test_a_malformed_file_fails_without_raising(anchored: World) -> None:
    report = verify_dossier({"claim_id": "x"}, anchored.key)
    assert not report.ok and report.claim_id == "x"
    assert {c.step for c in report.failures} == set(range(1, 10))
    report = anchored.tampered(lambda d: d["entries"][0].pop("inclusion_proof"))
    assert "its proof bundle is malformed" in _only(report, 2).message


# ---------------------------------------------------------------- read by people


def test_the_verdict_line_reads_for_people_when_no_party_is_named(tmp_path: Path) -> None:
    services = open_services(tmp_path, anchor_backend="none")
    try:
        claim = ClaimInput(
            order_id="ORD-NONE",
            lot="LOT-NO-RECORDS",
            category="chilled",
            line_value="3.00",
            currency="EUR",
            delivered_at=NOW - timedelta(hours=1),
        )
        inspector = GivenFindings()
        photo = texture_jpeg(12)
        inspector.give(photo, [("spoilage", 0.93)])
        filed, _ = file_claim(
            ledger=services.ledger,
            store=services.evidence,
            inspector=inspector,
            claim=claim,
            photos=[("p.jpg", photo)],
            now=NOW,
        )
        world = _world(services, str(filed["id"]))
    finally:
        services.close()
    assert world.doc["verdict"]["responsible_party"] == "undetermined"
    report = verify_dossier(world.doc, world.key)
    (line,) = [c.message for c in report.checks if c.step == 4]
    assert "None" not in line
    assert line.startswith("undetermined (no party named)")
    assert "confidence " in line and "reasons: " in line


def test_the_verdict_line_names_the_party(anchored: World) -> None:
    (check,) = [c for c in verify_dossier(anchored.doc, anchored.key).checks if c.step == 4]
    party = anchored.doc["verdict"]["party_id"]
    assert check.message.startswith(f"carrier ({party}), confidence ")


def test_entries_after_the_anchor_are_said_to_have_no_anchor_yet(tmp_path: Path) -> None:
    services = open_services(tmp_path, anchor_backend="inprocess")
    try:
        claim_id = hot_claim(services, "LOT-DOS-L")
        assert services.anchor_now() is not None
        mine = services.ledger.append(
            kind="claim.decision", body={"claim_id": claim_id, "party": "carrier"}
        )
        world = _world(services, claim_id)
    finally:
        services.close()
    report = verify_dossier(world.doc, world.key)
    assert report.ok, "\n".join(report.lines())
    (consistency,) = [c for c in report.checks if c.step == 8 and c.part == "consistency"]
    assert str(mine.index) in consistency.message
    assert "later anchor covers" not in consistency.message
    assert "no anchor covers them yet" in consistency.message
