"""The orphan sweep on a real local store and database: what it removes, keeps and records."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from api.cli_evidence import app as evidence_cli
from api.database import load_tables
from api.services import build_services
from api.settings import Settings
from claims.sweep import (
    REFERENCES,
    SWEPT_KIND,
    SweepRefusedError,
    execute,
    survey,
    sweep,
)
from claims.tables import claim_photos, photo_hashes
from ledger.audit import audit
from ledger.log import Ledger
from stations.batches import Station, station_batches, station_reviews
from stations.jobs import BatchJob, JobItem, record_job
from storage.db import make_engine
from storage.evidence import LocalEvidenceStore
from storage.sweep import LocalInventory
from tests.conftest import jpeg_bytes, textured

HOUR = timedelta(hours=1)
SOURCES = ("claim", "phash", "review", "batch", "job", "ledger")
STATION = Station("DOCK-1", "urn:epc:id:sgln:4000001.00001.0", "key:test")


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    engine = make_engine(f"sqlite:///{tmp_path / 'fp.db'}")
    load_tables().create_all(engine)
    return Ledger(engine, create_tables=False)


@pytest.fixture
def store(tmp_path: Path) -> LocalEvidenceStore:
    return LocalEvidenceStore(tmp_path / "evidence")


def _photo(store: LocalEvidenceStore, seed: int, *, age: timedelta = 2 * HOUR) -> str:
    """Store a distinct photo and make its files ``age`` old; its SHA-256."""
    sha = store.put(jpeg_bytes(textured(96, 128, seed=seed))).sha256
    _age(store.root, sha, age)
    return sha


def _age(root: Path, sha: str, age: timedelta) -> None:
    then = time.time() - age.total_seconds()
    for kind in ("original", "served"):
        os.utime(root / kind / sha[:2] / sha, (then, then))


def _files(root: Path, sha: str) -> list[bool]:
    return [(root / kind / sha[:2] / sha).exists() for kind in ("original", "served")]


def _temp(root: Path, name: str, *, age: timedelta) -> Path:
    path = root / "original" / "ab" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a photo")
    then = time.time() - age.total_seconds()
    os.utime(path, (then, then))
    return path


def _reference_everywhere(engine: Engine, ledger: Ledger, h: dict[str, str]) -> None:
    """One photo named by each kind of record."""
    with engine.begin() as conn:
        conn.execute(
            insert(claim_photos).values(
                claim_id="c1", position=0, sha256=h["claim"], inspection="{}"
            )
        )
        conn.execute(
            insert(photo_hashes).values(
                claim_id="c2", position=0, sha256=h["phash"], phash="0" * 16
            )
        )
        conn.execute(
            insert(station_reviews).values(
                batch_id="b1",
                position=0,
                station_id="DOCK-1",
                read_point=STATION.read_point,
                epc="x",
                uri="urn:epc:id:sgtin:4012345.011111.1",
                kind="package",
                photos=json.dumps([h["review"]]),
                model_grade="{}",
                status="open",
                created_at=datetime.now(UTC),
            )
        )
        conn.execute(
            insert(station_batches).values(
                batch_id="b2",
                station_id="DOCK-1",
                request_hash="0" * 64,
                result=json.dumps([{"position": 0, "photos": [h["batch"]]}]),
                created_at=datetime.now(UTC),
            )
        )
    # A queued batch: its worker reads the photos later, so they are not orphans.
    job = BatchJob("b3", STATION, (JobItem("x", "package", (("p.jpg", h["job"]),)),))
    assert record_job(engine, job, datetime.now(UTC))
    ledger.append(kind="epcis.event", body={"fp:photos": [h["ledger"]]})


def test_sweep_removes_only_the_orphan_and_records_it(
    ledger: Ledger, store: LocalEvidenceStore
) -> None:
    h = {name: _photo(store, seed=n) for n, name in enumerate(SOURCES)}
    _reference_everywhere(ledger.engine, ledger, h)
    orphan = _photo(store, seed=99)
    size = len(store.get_original(orphan))

    report = sweep(
        ledger=ledger,
        inventory=LocalInventory(store.root),
        now=datetime.now(UTC),
        grace=HOUR,
        actor="cli:test",
    )

    assert [p.sha256 for p in report.plan.orphans] == [orphan]
    assert report.plan.referenced == 6
    assert report.plan.referenced_by == {
        "claim_photos.sha256": 1,
        "claim_photo_hashes.sha256": 1,
        "station_reviews.photos": 1,
        "station_batches.result": 1,
        "station_jobs.job": 1,
        "ledger": 1,
    }
    assert [(r.sha256, r.size) for r in report.removed] == [(orphan, size)]
    assert _files(store.root, orphan) == [False, False]
    for sha in h.values():
        assert _files(store.root, sha) == [True, True]
        store.get_original(sha)  # intact
    (index,) = report.ledger_indices
    entry = ledger.entry(index)
    assert entry.kind == SWEPT_KIND
    assert entry.body["removed"] == [{"sha256": orphan, "bytes": size}]
    assert entry.body["swept_by"] == "cli:test"
    assert entry.body["grace_seconds"] == 3600
    assert audit(ledger).size == ledger.size()
    # Swept once: the next survey finds nothing, and the record does not count as a reference.
    again = survey(
        engine=ledger.engine,
        inventory=LocalInventory(store.root),
        now=datetime.now(UTC),
        grace=HOUR,
    )
    assert again.orphans == () and again.referenced == 6


def test_grace_period_spares_uploads_in_flight_and_fresh_temp_files(
    ledger: Ledger, store: LocalEvidenceStore
) -> None:
    kept = _photo(store, seed=1)
    _reference_everywhere(ledger.engine, ledger, dict.fromkeys(SOURCES, kept))
    young = _photo(store, seed=2, age=timedelta(minutes=5))
    stale_tmp = _temp(store.root, ".tmp-stale", age=2 * HOUR)
    fresh_tmp = _temp(store.root, ".tmp-fresh", age=timedelta(seconds=10))
    stranger = _temp(store.root, "notes.txt", age=2 * HOUR)  # not ours: never touched

    report = sweep(
        ledger=ledger,
        inventory=LocalInventory(store.root),
        now=datetime.now(UTC),
        grace=HOUR,
        actor="cli:test",
    )

    assert report.removed == ()
    assert [p.sha256 for p in report.plan.recent] == [young]
    assert _files(store.root, young) == [True, True]
    assert [t.name for t in report.temp_removed] == ["original/ab/.tmp-stale"]
    assert not stale_tmp.exists() and fresh_tmp.exists() and stranger.exists()
    (index,) = report.ledger_indices
    body = ledger.entry(index).body
    assert body["removed"] == [] and body["temp_files"] == {"removed": 1, "bytes": 12}


def test_dry_run_removes_and_records_nothing(ledger: Ledger, store: LocalEvidenceStore) -> None:
    kept = _photo(store, seed=1)
    ledger.append(kind="claim.evidence", body={"photos": [{"sha256": kept}]})
    orphan = _photo(store, seed=2)
    size = ledger.size()

    report = sweep(
        ledger=ledger,
        inventory=LocalInventory(store.root),
        now=datetime.now(UTC),
        grace=HOUR,
        actor="cli:test",
        dry_run=True,
    )

    assert [p.sha256 for p in report.plan.orphans] == [orphan]
    assert report.dry_run and report.removed == () and report.ledger_indices == ()
    assert _files(store.root, orphan) == [True, True]
    assert ledger.size() == size


def test_a_store_the_database_names_nothing_of_is_refused_unless_forced(
    ledger: Ledger, store: LocalEvidenceStore
) -> None:
    photos = [_photo(store, seed=n) for n in range(3)]
    args = {
        "ledger": ledger,
        "inventory": LocalInventory(store.root),
        "now": datetime.now(UTC),
        "grace": HOUR,
        "actor": "cli:test",
    }
    with pytest.raises(SweepRefusedError) as err:
        sweep(**args)  # type: ignore[arg-type]
    assert err.value.photos == 3
    assert all(_files(store.root, p) == [True, True] for p in photos)

    assert len(sweep(**args, force=True).removed) == 3  # type: ignore[arg-type]


def test_what_is_named_or_written_after_the_survey_is_spared(
    ledger: Ledger, store: LocalEvidenceStore
) -> None:
    kept = _photo(store, seed=0)
    ledger.append(kind="claim.evidence", body={"photos": [{"sha256": kept}]})
    named_late, rewritten, orphan = (_photo(store, seed=n) for n in (1, 2, 3))
    inventory = LocalInventory(store.root)
    plan = survey(engine=ledger.engine, inventory=inventory, now=datetime.now(UTC), grace=HOUR)
    assert {p.sha256 for p in plan.orphans} == {named_late, rewritten, orphan}

    # Between the survey and the sweep: a claim commits naming one, a re-upload touches one.
    ledger.append(kind="claim.evidence", body={"photos": [{"sha256": named_late}]})
    _age(store.root, rewritten, timedelta(0))
    report = execute(ledger=ledger, inventory=inventory, plan=plan, actor="cli:test")

    assert [r.sha256 for r in report.removed] == [orphan]
    assert dict(report.spared) == {
        named_late: "referenced since the survey",
        rewritten: "written again since the survey",
    }
    assert _files(store.root, named_late) == [True, True]
    assert _files(store.root, rewritten) == [True, True]


def test_every_column_named_for_photos_is_a_reference() -> None:
    """A new table holding photo hashes must be added to claims.sweep.REFERENCES."""
    known = {(t.name, c.name) for t, c, _ in REFERENCES}
    named = {
        (t.name, c.name)
        for t in load_tables().sorted_tables
        for c in t.columns
        if ("sha256" in c.name or "photo" in c.name) and c.name != "phash"
    }
    assert named <= known, f"not in claims.sweep.REFERENCES: {sorted(named - known)}"


def test_cli_sweep_reports_and_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FRESHPROOF_ANCHOR_BACKEND", "none")
    services = build_services(Settings())
    try:
        store = LocalEvidenceStore(Settings().data_dir / "evidence")
        kept = _photo(store, seed=1)
        services.ledger.append(kind="claim.evidence", body={"photos": [{"sha256": kept}]})
        orphan = _photo(store, seed=2)
        _temp(store.root, ".tmp-x", age=2 * HOUR)
    finally:
        services.close()
    runner = CliRunner()

    dry = runner.invoke(evidence_cli, ["sweep", "--dry-run", "--grace-minutes", "30"])
    assert dry.exit_code == 0, dry.output
    assert "1 orphans" in dry.stdout and "1 stale temp files" in dry.stdout
    assert "dry run: nothing removed" in dry.stdout
    assert _files(store.root, orphan) == [True, True]

    report_file = tmp_path / "sweep.json"
    done = runner.invoke(evidence_cli, ["sweep", "--json", "--report", str(report_file)])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data == json.loads(report_file.read_text())
    assert [r["sha256"] for r in data["removed"]] == [orphan]
    assert data["temp_files_removed"] == 1 and len(data["ledger_indices"]) == 1
    assert _files(store.root, orphan) == [False, False]
    assert _files(store.root, kept) == [True, True]
