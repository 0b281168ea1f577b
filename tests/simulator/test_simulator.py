"""The claims simulator: scenarios parse, are reproducible and carry the GUIDE's truth; the
runner collects a verdict per claim through the API and the score adds up.

Most tests hold the simulator itself to account; the last one runs two scenarios of every
kind through the API as the rules' regression guard (``bench/responsibility.py`` measures
the engine at scale, and with the real model).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_predictor
from api.settings import Settings
from claims.profiles import DEFAULT_PROFILES
from simulator.chain import degree_minutes
from simulator.photos import GivenFindings, GivenPhotos, HeldOutPhotos, texture_jpeg
from simulator.report import (
    confident_on_missing_data,
    findings_right,
    format_table,
    is_right,
    score,
)
from simulator.runner import KeyRing, Runner
from simulator.scenarios import (
    DECIDED_KINDS,
    KINDS,
    MISSING_DATA_KINDS,
    REGISTRY,
    ROBUSTNESS_KINDS,
    generate,
    suite,
)
from simulator.spec import SELLER, Outcome, PhotoSpec, Scenario, SeenVerdict, Truth
from supplychain.epcis import CaptureLimits, lot, parse_document
from tests.conftest import jpeg_bytes
from vision.phash import hamming

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PER_KIND = 6


@pytest.fixture(scope="module")
def scenarios() -> list[Scenario]:
    return suite(per_kind=PER_KIND, seed=11, now=NOW)


def _events(s: Scenario) -> list[dict[str, Any]]:
    return [e for d in s.documents for e in d["epcisBody"]["eventList"]]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _reports(s: Scenario, kind: str) -> dict[str, list[tuple[datetime, float]]]:
    """Sensor reports of a type per reporting party (the event's source)."""
    out: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for e in _events(s):
        src = next((x["source"] for x in e.get("sourceList", [])), None)
        for element in e.get("sensorElementList", []):
            for r in element["sensorReport"]:
                if r["type"] == kind and src:
                    out[src].append((_time(r["time"]), r["value"]))
    return out


def _excess(s: Scenario) -> dict[str, float]:
    """°C·min outside the band per custodian (carriers with the transport tolerance)."""
    role = {p.id: p.role for p in REGISTRY}
    return {
        party: degree_minutes(temps, category=s.category, in_transport=role.get(party) == "carrier")
        for party, temps in _reports(s, "gs1:Temperature").items()
    }


# ---------------------------------------------------------------- the documents


def test_every_kind_is_generated(scenarios: list[Scenario]) -> None:
    assert [s.kind for s in scenarios[::PER_KIND]] == list(KINDS)
    assert len({s.lot for s in scenarios}) == len(scenarios), "one lot per scenario"
    assert set(KINDS) == DECIDED_KINDS | MISSING_DATA_KINDS | ROBUSTNESS_KINDS


def test_documents_parse_and_lie_in_the_past(scenarios: list[Scenario]) -> None:
    for s in scenarios:
        if s.kind == "no_records":
            assert s.documents == ()
            continue
        assert s.documents, s.name
        for doc in s.documents:
            # The capture limits refuse events later than now + 5 min; ours are all past.
            parsed = parse_document(doc, limits=CaptureLimits(), now=NOW)
            assert parsed.events, s.name
            assert all(e.event_time <= NOW for e in parsed.events), s.name
            assert {lot(c) for e in parsed.events for c in e.lots} == {s.lot}, s.name
        assert s.claim.delivered_at < NOW - timedelta(minutes=29)


def test_same_seed_same_scenarios_other_seed_others() -> None:
    for kind in KINDS:
        a = generate(kind, seed=3, index=2, now=NOW)
        assert a == generate(kind, seed=3, index=2, now=NOW)
        assert a != generate(kind, seed=4, index=2, now=NOW)


def test_readings_every_quarter_hour_and_handling_shocks_only_where_planted(
    scenarios: list[Scenario],
) -> None:
    for s in scenarios:
        for party, temps in _reports(s, "gs1:Temperature").items():
            gaps = [b[0] - a[0] for a, b in itertools.pairwise(temps)]
            if s.kind not in ("sensor_gap",):
                assert max(gaps, default=timedelta(0)) <= timedelta(minutes=15), (s.name, party)
        shocks = {
            p for p, r in _reports(s, "gs1:Acceleration").items() if max(v for _, v in r) >= 200
        }
        if s.kind == "shock_swelling":
            assert shocks == {s.truth.party_id}, s.name
        else:
            assert not shocks, s.name


# ---------------------------------------------------------------- the truth


def _of_kind(scenarios: list[Scenario], kind: str) -> list[Scenario]:
    return [s for s in scenarios if s.kind == kind]


def test_missing_data_kinds_are_undetermined_the_others_name_a_party(
    scenarios: list[Scenario],
) -> None:
    for s in scenarios:
        assert s.truth.decided == (s.kind not in MISSING_DATA_KINDS), s.name
        # The customer and the seller (the shop that sold the pack) are no party of the chain.
        if s.truth.decided and s.truth.role not in ("customer", SELLER):
            assert s.truth.party_id in {p.id for p in s.parties}, s.name


def _made(s: Scenario) -> list[dict[str, Any]]:
    """The scenario's events that carry lot master data."""
    return [e for doc in s.documents for e in doc["epcisBody"]["eventList"] if "ilmd" in e]


def test_the_maker_records_the_use_by_and_only_its_own_kind_sells_past_it(
    scenarios: list[Scenario],
) -> None:
    """A chain whose maker speaks states the lot's use-by in its packing event (ILMD, action
    ADD); only ``sold_past_use_by`` delivers after that date, and its truth is the seller."""
    recorded = 0
    for s in scenarios:
        made = _made(s)
        assert all(e["action"] == "ADD" and e["bizStep"] == "packing" for e in made), s.name
        dates = {e["ilmd"]["cbvmda:itemExpirationDate"] for e in made}
        assert len(dates) <= 1, s.name
        if s.kind == "sold_past_use_by":
            assert dates, s.name
        for stated in dates:
            recorded += 1
            past = date.fromisoformat(stated) < s.claim.delivered_at.date()
            assert past == (s.kind == "sold_past_use_by"), (s.name, stated)
        assert (s.truth.role == SELLER) == (s.kind == "sold_past_use_by"), s.name
    assert recorded >= len(scenarios) - 2 * PER_KIND  # no_records and a silent maker or two


def test_clean_chains_are_the_suppliers(scenarios: list[Scenario]) -> None:
    for kind in ("clean_chain_inherent", "seal_swelling", "supplier_quality"):
        for s in _of_kind(scenarios, kind):
            assert s.truth.role == "supplier", s.name
            if kind != "supplier_quality":
                assert not any(_excess(s).values()), s.name


def test_a_reefer_failure_is_its_legs_custodian(scenarios: list[Scenario]) -> None:
    for s in _of_kind(scenarios, "reefer_failure"):
        excess = _excess(s)
        threshold = DEFAULT_PROFILES[s.category].abuse_degree_minutes
        assert s.truth.role in ("carrier", "warehouse")
        assert excess[s.truth.party_id or ""] >= 2 * threshold, s.name
        assert sum(v > 0 for v in excess.values()) == 1, s.name


def test_of_two_abusers_the_worse_one(scenarios: list[Scenario]) -> None:
    for index in range(40):  # many seeds: the 2x margin must hold every time
        s = generate("two_abusers", seed=11, index=index, now=NOW)
        excess = _excess(s)
        worse = excess.pop(s.truth.party_id or "")
        (lesser,) = (v for v in excess.values() if v > 0)
        assert lesser > DEFAULT_PROFILES[s.category].abuse_degree_minutes, s.name
        assert worse >= 2 * lesser, (s.name, worse, lesser)


def test_late_claims_are_the_customers(scenarios: list[Scenario]) -> None:
    for s in _of_kind(scenarios, "late_claim"):
        window = DEFAULT_PROFILES[s.category].post_delivery_window_hours
        assert s.truth == Truth("customer")
        assert NOW - s.claim.delivered_at > timedelta(hours=window + 12)
        assert any(e.get("disposition") == "sellable_accessible" for e in _events(s))


def test_photos_match_the_kind(scenarios: list[Scenario]) -> None:
    for s in scenarios:
        defective = [p for p in s.photos if p.defective]
        if s.kind == "ledger_only_defect":
            assert not defective
            assert any(e.get("disposition") == "damaged" for e in _events(s)), s.name
        else:
            assert len(defective) == 1, s.name
        if s.kind == "mixed_photos":
            assert len(s.photos) >= 2
        if s.kind in ("shock_swelling", "seal_swelling"):
            assert defective[0].findings[0][0] == "swelling"


def test_robustness_kinds_bend_the_posting(scenarios: list[Scenario]) -> None:
    for s in _of_kind(scenarios, "duplicate_events"):
        assert len(s.documents) == 2 and s.documents[0] == s.documents[1]
    for s in _of_kind(scenarios, "out_of_order"):
        first = [_time(e["eventTime"]) for e in s.documents[0]["epcisBody"]["eventList"]]
        last = [_time(e["eventTime"]) for e in s.documents[-1]["epcisBody"]["eventList"]]
        assert len(s.documents) > 1 and min(first) >= max(last), s.name
    for s in _of_kind(scenarios, "unregistered_party"):
        named = {
            x.get("source") or x.get("destination")
            for e in _events(s)
            for x in e.get("sourceList", []) + e.get("destinationList", [])
        }
        assert named - {p.id for p in s.parties}, s.name


def test_generated_photos_pass_the_gate_and_differ() -> None:
    given = GivenFindings()
    shots = [given.inspect(texture_jpeg(seed), image=f"{seed}") for seed in range(5)]
    assert all(s.quality.ok for s in shots)
    assert min(hamming(a.phash, b.phash) for a in shots for b in shots if a is not b) > 12


def test_held_out_photos_by_subject_judgeable_and_used_once(tmp_path: Path) -> None:
    pools = tmp_path / "pools"
    rows = {
        "fruit_fresh_rotten/rottenbanana/a.jpg": texture_jpeg(1),
        "fruit_fresh_rotten/rottenbanana/dark.jpg": jpeg_bytes(np.full((240, 320, 3), 5, np.uint8)),
        "parcel_damaged_intact/damaged/b.jpg": texture_jpeg(2),
        "parcel_damaged_intact/intact/c.jpg": texture_jpeg(3),
    }
    for row, data in rows.items():
        (pools / row).parent.mkdir(parents=True, exist_ok=True)
        (pools / row).write_bytes(data)
    split = tmp_path / "test.txt"
    split.write_text("\n".join(rows) + "\n")
    photos = HeldOutPhotos(pools=pools, split=split, seed=0)
    rotten = PhotoSpec("rotten", (("spoilage", 0.9),), 0)
    assert photos.photo(rotten) == texture_jpeg(1)  # the dark one is passed over
    assert photos.photo(rotten) == texture_jpeg(1) and photos.reused == 1
    assert photos.unjudgeable == 1
    assert photos.photo(PhotoSpec("damaged_package", (), 0)) == texture_jpeg(2)
    assert photos.photo(PhotoSpec("swollen_pack", (("swelling", 0.9),), 0)) is None


# ---------------------------------------------------------------- scoring


def _outcome(truth: Truth, role: str, party: str | None = None, conf: float = 0.9) -> Outcome:
    s = generate("reefer_failure", seed=1, index=0, now=NOW)
    s = dataclasses.replace(s, truth=truth)
    v = SeenVerdict(role, party, conf if role != "undetermined" else 0.0, ("X",), "open")
    return Outcome(s, v, tuple(frozenset(f for f, _ in p.findings) for p in s.photos))


def test_is_right() -> None:
    truck = Truth("carrier", "urn:epc:id:pgln:4000011.00000")
    assert is_right(truck, SeenVerdict("carrier", truck.party_id, 0.9, (), "open"))
    assert not is_right(truck, SeenVerdict("carrier", "urn:epc:id:pgln:4000012.00000", 0.9, (), ""))
    assert is_right(truck, SeenVerdict("carrier", None, 0.9, (), ""))  # no id to compare
    assert not is_right(truck, SeenVerdict("warehouse", None, 0.9, (), ""))
    assert is_right(Truth("customer"), SeenVerdict("customer", "x", 0.8, (), ""))
    assert is_right(Truth("undetermined"), SeenVerdict("undetermined", None, 0.0, (), ""))
    assert not is_right(Truth("undetermined"), SeenVerdict("supplier", "s", 0.5, (), ""))


def test_score_arithmetic() -> None:
    truck = Truth("carrier", "urn:epc:id:pgln:4000011.00000")
    outcomes = [
        _outcome(truck, "carrier", truck.party_id, 0.9),  # right, confident
        _outcome(truck, "carrier", "urn:epc:id:pgln:4000012.00000", 0.85),  # wrong, confident
        _outcome(truck, "warehouse", None, 0.5),  # wrong, decided, not confident
        _outcome(truck, "undetermined"),  # wrong, not decided
        _outcome(Truth("undetermined"), "undetermined"),  # right
        _outcome(Truth("undetermined"), "supplier", "s", 0.95),  # confident guess
    ]
    rows, total = score(outcomes, auto_pay_min_confidence=0.8)
    (row,) = rows
    assert (row.n, row.right, row.decided, row.wrong_decided) == (6, 2, 4, 3)
    assert (row.confident, row.wrong_confident) == (3, 2)
    assert (row.accuracy, row.automation) == (2 / 6, 4 / 6)
    assert (row.wrong_when_decided, row.wrong_when_confident) == (3 / 4, 2 / 3)
    assert (row.model_misses, row.rule_misses) == (0, 4)  # the findings were the given ones
    assert total.n == 6 and total.right == 2
    assert confident_on_missing_data(outcomes) == [outcomes[5]]
    skipped = Outcome(outcomes[0].scenario, None, skipped="no real photo for swelling")
    failed = Outcome(outcomes[0].scenario, None, error="claim: 500")
    rows, total = score([*outcomes, skipped, failed], auto_pay_min_confidence=0.8)
    assert (total.n, total.skipped, total.errors) == (6, 1, 1)
    assert "total" in format_table(rows, total, threshold=0.8)


def test_a_miss_on_wrong_findings_is_the_models() -> None:
    o = _outcome(Truth("supplier"), "carrier")
    assert findings_right(o)
    blind = Outcome(o.scenario, o.verdict, (frozenset(),))
    false = Outcome(o.scenario, o.verdict, (frozenset({"spoilage", "package_damage"}),))
    assert not findings_right(blind) and not findings_right(false)
    (row,), _ = score([blind, false], auto_pay_min_confidence=0.8)
    assert (row.model_misses, row.rule_misses) == (2, 0)


# ---------------------------------------------------------------- through the API


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    tmp: Path = tmp_path_factory.mktemp("simulator")
    app = create_app(Settings(data_dir=tmp / "var", anchor_backend="none"))
    given = GivenFindings()
    app.dependency_overrides[get_predictor] = lambda: given
    with TestClient(app) as client:
        # The supply chain's and each customer's app keys, issued by the app's own key store.
        yield Runner(client, GivenPhotos(given), KeyRing(app.state.services.keys))
    assert given.unknown == 0, "every photo the service judged had given findings"


def test_the_runner_collects_a_verdict_per_claim(runner: Runner) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    kinds = (
        "reefer_failure",
        "handover_damage",
        "no_records",
        "unregistered_party",
        "duplicate_events",
        "out_of_order",
        "mixed_photos",
    )
    chosen = [generate(k, seed=5, index=0, now=now) for k in kinds]
    outcomes = runner.run_all(chosen)
    assert [o.error for o in outcomes] == [None] * len(chosen)
    for o in outcomes:
        assert o.verdict is not None and o.verdict.codes, o.scenario.name
        assert o.verdict.role in {"supplier", "carrier", "warehouse", "customer", "undetermined"}
        assert 0.0 <= o.verdict.confidence <= 1.0
        # The service judged each photo with exactly the findings the scenario gave it.
        assert findings_right(o), o.scenario.name
        assert len(o.findings) == len(o.scenario.photos)
    rows, total = score(outcomes, auto_pay_min_confidence=0.8)
    assert [r.kind for r in rows] == list(kinds) and total.n == len(chosen)
    right = sum(is_right(o.scenario.truth, o.verdict) for o in outcomes if o.verdict)
    decided = sum(o.verdict.decided for o in outcomes if o.verdict)
    assert (total.right, total.decided) == (right, decided)
    assert total.model_misses == 0 and total.rule_misses == len(chosen) - right


def test_the_engine_gets_every_simulated_kind_right_with_findings_given(runner: Runner) -> None:
    """The rules' regression guard: two scenarios of every kind, through the API.

    Decidable kinds must name the true party; missing-data kinds must go to a person; no
    decided verdict may rest on a reason without a ledger citation.
    """
    now = datetime.now(UTC) - timedelta(minutes=1)
    outcomes = runner.run_all(suite(per_kind=2, seed=23, now=now))
    wrong = [
        (o.scenario.name, o.scenario.variant, o.verdict.role if o.verdict else o.error)
        for o in outcomes
        if o.verdict is None or not is_right(o.scenario.truth, o.verdict)
    ]
    assert wrong == []
    assert confident_on_missing_data(outcomes) == []
    _, total = score(outcomes, auto_pay_min_confidence=0.8)
    assert total.decidable_decided == total.decidable and total.uncited == 0
