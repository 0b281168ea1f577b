"""The orphan sweep: evidence photos no record names, and leftovers of interrupted writes.

A claim stores its photos before it takes the ledger's write lock (``claims.service``), and
a queued station batch stores them before its job row exists (``api.routes.stations``); a
request that dies in between (kill -9, a database outage, a refused write) leaves originals
that nothing names, and a write killed mid-file leaves a ``.tmp-*`` file. Neither is
evidence of anything. The sweep finds and removes them in three steps:

1. ``survey`` (reads only): every photo and temp file the store holds (``storage.sweep``),
   and every hash the records name (``find_references``).
2. ``plan_sweep`` (pure): a photo no record names and not written within the grace period
   is an orphan; the grace period spares uploads in flight, whose claim has not committed.
3. ``execute`` (writes; ``sweep`` runs all three): under the ledger's write lock, so no
   claim commits meanwhile, the records are read again (the ledger from where the survey
   stopped), each orphan is looked at again (a re-upload makes it young) and removed, and
   ``evidence.swept`` entries record each removed photo's hash and size, and what could
   not be removed and why (an S3 original under retention is reported, never forced).

A record names a photo when its hash appears in (``REFERENCES``): ``claim_photos.sha256``,
``claim_photo_hashes.sha256``, ``station_reviews.photos``, ``station_batches.result``,
``station_jobs.job`` (a queued batch's photos: its worker reads them later; any status
counts), or any ledger entry but ``evidence.swept`` itself (``claim.evidence``, stations'
``epcis.event`` with ``fp:photos``, and whatever names one in future: what the ledger
names is evidence). A new table holding photo hashes must be added to ``REFERENCES``;
``tests/test_sweep.py`` fails on a column named like one that is not.

A store whose photos the database names none of is refused (``SweepRefusedError``) unless
forced: that is a sweep against the wrong database, which would take everything.

Residual race: a re-upload of a photo identical to an orphan finds the file and refreshes
its time (the local store touches it), so the sweep's second look sees it young and keeps
it. Only a re-upload landing between that second look and the removal itself (micro-
seconds) can still leave a new claim naming a photo that is gone; an S3 store does not
rewrite an object it already holds, so there the window is the whole second look.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, func, inspect, or_, select

from claims.errors import ClaimsError
from claims.tables import claim_photos, photo_hashes
from ledger.log import Ledger
from ledger.schema import entries_table
from stations.batches import station_batches, station_reviews
from stations.jobs import station_jobs
from storage.errors import StorageError
from storage.sweep import EvidenceInventory, Removal, StoredPhoto, TempFile

__all__ = [
    "REFERENCES",
    "SWEPT_KIND",
    "SweepPlan",
    "SweepRefusedError",
    "SweepReport",
    "execute",
    "find_references",
    "plan_sweep",
    "survey",
    "sweep",
]

SWEPT_KIND = "evidence.swept"
"""The ledger entry recording what a sweep removed."""

REFERENCES: tuple[tuple[Table, Column[Any], bool], ...] = (
    (claim_photos, claim_photos.c.sha256, False),
    (photo_hashes, photo_hashes.c.sha256, False),
    (station_reviews, station_reviews.c.photos, True),
    (station_batches, station_batches.c.result, True),
    (station_jobs, station_jobs.c.job, True),
)
"""Columns naming photos: (table, column, whether the hashes sit inside JSON text)."""

_HEX64 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_HEX64_BYTES = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_ROWS = 1000  # rows per fetch while streaming a table
_FEW = 200  # up to this many hashes are looked up by the database, not by streaming rows
_PER_ENTRY = 500  # photos per evidence.swept entry, so no entry grows without bound


class SweepRefusedError(ClaimsError):
    """The sweep would remove every photo of a store whose photos no record names.

    ``photos`` held, none referenced: the database is not the store's (or is empty).
    """

    def __init__(self, photos: int, store: str) -> None:
        self.photos = photos
        self.store = store
        super().__init__(
            f"the database names none of the {photos} photos in {store}: is it this store's "
            "database? Nothing was removed (force it only for a store known to be orphaned)."
        )


def _source(table: Table, column: Column[Any]) -> str:
    return f"{table.name}.{column.name}"


def _in_text(text: str | bytes | None, hashes: Collection[str], found: set[str]) -> None:
    if not text:
        return
    if isinstance(text, bytes):
        found.update(h for m in _HEX64_BYTES.findall(text) if (h := m.decode()) in hashes)
    else:
        found.update(h for h in _HEX64.findall(text) if h in hashes)


def _column_refs(
    conn: Connection, column: Column[Any], hashes: Collection[str], text: bool
) -> set[str]:
    found: set[str] = set()
    wanted = list(hashes)
    if len(wanted) <= _FEW:
        # Few candidates (the re-check under the lock): the database filters.
        for start in range(0, len(wanted), 50):
            chunk = wanted[start : start + 50]
            where = or_(*(column.contains(h) for h in chunk)) if text else column.in_(chunk)
            for (value,) in conn.execute(select(column).where(where)):
                if text:
                    _in_text(value, hashes, found)
                elif value in hashes:
                    found.add(value)
        return found
    stmt = select(column).execution_options(yield_per=_ROWS)
    for (value,) in conn.execute(stmt):
        if text:
            _in_text(value, hashes, found)
        elif value in hashes:
            found.add(value)
    return found


def find_references(
    conn: Connection, hashes: Collection[str], *, ledger_after: int = -1
) -> tuple[dict[str, set[str]], int]:
    """Which of ``hashes`` the records name, and by which sources (``table.column``).

    Ledger entries after index ``ledger_after`` are read (all by default); returns the
    references and the last ledger index there was when reading began, for a re-check of
    only what came after. A table the database lacks names nothing.
    """
    wanted = hashes if isinstance(hashes, set | frozenset) else set(hashes)
    refs: dict[str, set[str]] = {}
    if not wanted:
        return refs, ledger_after
    present = set(inspect(conn).get_table_names())
    for table, column, text in REFERENCES:
        if table.name in present:
            for h in _column_refs(conn, column, wanted, text):
                refs.setdefault(h, set()).add(_source(table, column))
    e = entries_table.c
    last = conn.execute(select(func.max(e.idx))).scalar()
    last = -1 if last is None else int(last)
    stmt = (
        select(e.record)
        .where(e.idx > ledger_after, e.kind != SWEPT_KIND)
        .execution_options(yield_per=_ROWS)
    )
    named: set[str] = set()
    for (record,) in conn.execute(stmt):
        _in_text(bytes(record), wanted, named)
    for h in named:
        refs.setdefault(h, set()).add("ledger")
    return refs, last


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep would do: orphans and stale temp files to remove, and what it keeps."""

    now: datetime
    grace: timedelta
    store: str
    photos: int
    referenced_by: Mapping[str, int]
    referenced: int
    orphans: tuple[StoredPhoto, ...]
    recent: tuple[StoredPhoto, ...]
    stale_temp: tuple[TempFile, ...]
    recent_temp: tuple[TempFile, ...]
    ledger_checked: int = -1

    def as_dict(self) -> dict[str, Any]:
        """JSON form: counts, and each orphan and temp file to remove."""
        return {
            "store": self.store,
            "now": self.now.isoformat(),
            "grace_seconds": int(self.grace.total_seconds()),
            "photos": self.photos,
            "referenced": self.referenced,
            "referenced_by": dict(sorted(self.referenced_by.items())),
            "orphans": [_photo(p) for p in self.orphans],
            "orphan_bytes": sum(p.size for p in self.orphans),
            "recent_unreferenced": len(self.recent),
            "temp_files": [
                {"name": t.name, "bytes": t.size, "modified": t.modified.isoformat()}
                for t in self.stale_temp
            ],
            "recent_temp_files": len(self.recent_temp),
        }


def _photo(p: StoredPhoto) -> dict[str, Any]:
    return {"sha256": p.sha256, "bytes": p.size, "modified": p.modified.isoformat()}


def plan_sweep(
    *,
    photos: Iterable[StoredPhoto],
    temp_files: Iterable[TempFile],
    references: Mapping[str, Collection[str]],
    now: datetime,
    grace: timedelta,
    store: str = "?",
    ledger_checked: int = -1,
) -> SweepPlan:
    """Orphans: photos no source names, last written at least ``grace`` before ``now``."""
    cutoff = now - grace
    orphans: list[StoredPhoto] = []
    recent: list[StoredPhoto] = []
    by: Counter[str] = Counter()
    seen = referenced = 0
    for p in photos:
        seen += 1
        if sources := references.get(p.sha256):
            referenced += 1
            by.update(sources)
        elif p.modified <= cutoff:
            orphans.append(p)
        else:
            recent.append(p)
    temps = list(temp_files)
    return SweepPlan(
        now=now,
        grace=grace,
        store=store,
        photos=seen,
        referenced_by=dict(by),
        referenced=referenced,
        orphans=tuple(orphans),
        recent=tuple(recent),
        stale_temp=tuple(t for t in temps if t.modified <= cutoff),
        recent_temp=tuple(t for t in temps if t.modified > cutoff),
        ledger_checked=ledger_checked,
    )


def survey(
    *, engine: Engine, inventory: EvidenceInventory, now: datetime, grace: timedelta
) -> SweepPlan:
    """Read the store, then the records, and plan; writes nothing.

    The store is listed first: a photo stored after the listing is no candidate, and a
    claim committing after the records were read is caught by ``sweep``'s re-check.
    """
    photos = list(inventory.photos())
    temps = list(inventory.temp_files())
    with engine.connect() as conn:
        refs, checked = find_references(conn, {p.sha256 for p in photos})
        conn.rollback()  # read-only; ends PostgreSQL's transaction and its cursors
    return plan_sweep(
        photos=photos,
        temp_files=temps,
        references=refs,
        now=now,
        grace=grace,
        store=inventory.name,
        ledger_checked=checked,
    )


@dataclass(frozen=True)
class SweepReport:
    """What a sweep did (nothing, for a dry run) and where its ledger record is."""

    plan: SweepPlan
    dry_run: bool = False
    removed: tuple[Removal, ...] = ()
    not_removed: tuple[Removal, ...] = ()
    spared: tuple[tuple[str, str], ...] = ()
    temp_removed: tuple[TempFile, ...] = ()
    temp_kept: tuple[tuple[TempFile, str], ...] = ()
    ledger_indices: tuple[int, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON form: the plan, then what was removed, kept and recorded."""
        return {
            "dry_run": self.dry_run,
            "plan": self.plan.as_dict(),
            "removed": [{"sha256": r.sha256, "bytes": r.size} for r in self.removed],
            "removed_bytes": sum(r.size for r in self.removed),
            "not_removed": [_not_removed(r) for r in self.not_removed],
            "spared": [{"sha256": h, "reason": why} for h, why in self.spared],
            "temp_files_removed": len(self.temp_removed),
            "temp_bytes_removed": sum(t.size for t in self.temp_removed),
            "temp_files_kept": [{"name": t.name, "reason": why} for t, why in self.temp_kept],
            "ledger_indices": list(self.ledger_indices),
        }


def _not_removed(r: Removal) -> dict[str, Any]:
    return {
        "sha256": r.sha256,
        "bytes": r.size,
        "removed": list(r.removed),
        "kept": [{"object": name, "reason": why} for name, why in r.kept],
    }


def sweep(
    *,
    ledger: Ledger,
    inventory: EvidenceInventory,
    now: datetime,
    grace: timedelta,
    actor: str,
    dry_run: bool = False,
    force: bool = False,
) -> SweepReport:
    """Survey, plan, and (unless ``dry_run``) remove the orphans, recording what went.

    ``actor`` is named in the ``evidence.swept`` entry. ``force`` sweeps a store whose
    photos the database names none of (else ``SweepRefusedError``).
    """
    plan = survey(engine=ledger.engine, inventory=inventory, now=now, grace=grace)
    if plan.orphans and plan.referenced == 0 and not force:
        raise SweepRefusedError(plan.photos, plan.store)
    if dry_run or not (plan.orphans or plan.stale_temp):
        return SweepReport(plan, dry_run=dry_run)
    return execute(ledger=ledger, inventory=inventory, plan=plan, actor=actor)


def execute(
    *, ledger: Ledger, inventory: EvidenceInventory, plan: SweepPlan, actor: str
) -> SweepReport:
    """Remove a plan's orphans and stale temp files, re-checked under the write lock.

    What came to be named, or was written again, since the survey is spared; the rest is
    removed and recorded in ``evidence.swept`` entries in the same transaction.
    """
    cutoff = plan.now - plan.grace
    removed: list[Removal] = []
    partial: list[Removal] = []
    spared: list[tuple[str, str]] = []
    temp_removed: list[TempFile] = []
    temp_kept: list[tuple[TempFile, str]] = []
    with ledger.writer() as w:
        # Under the write lock no claim commits: what names an orphan now is final.
        late, _ = find_references(
            w.conn, {p.sha256 for p in plan.orphans}, ledger_after=plan.ledger_checked
        )
        for photo in plan.orphans:
            if photo.sha256 in late:
                spared.append((photo.sha256, "referenced since the survey"))
                continue
            try:
                current = inventory.refresh(photo)
                if current is None:
                    continue  # gone already
                if current.modified > cutoff:
                    spared.append((photo.sha256, "written again since the survey"))
                    continue
                outcome = inventory.remove(current)
            except StorageError as exc:
                outcome = Removal(photo.sha256, photo.size, (), (("*", str(exc)),))
            (removed if outcome.complete else partial).append(outcome)
        for temp in plan.stale_temp:
            if (why := inventory.remove_temp(temp)) is None:
                temp_removed.append(temp)
            else:
                temp_kept.append((temp, why))
        bodies = _bodies(plan, removed, partial, temp_removed, actor)
        entries = w.append_many((SWEPT_KIND, b) for b in bodies)
    return SweepReport(
        plan,
        removed=tuple(removed),
        not_removed=tuple(partial),
        spared=tuple(spared),
        temp_removed=tuple(temp_removed),
        temp_kept=tuple(temp_kept),
        ledger_indices=tuple(e.index for e in entries),
    )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _bodies(
    plan: SweepPlan,
    removed: Sequence[Removal],
    partial: Sequence[Removal],
    temps: Sequence[TempFile],
    actor: str,
) -> list[dict[str, Any]]:
    """The ``evidence.swept`` entries: removed photos by hash and size, in parts."""
    if not (removed or partial or temps):
        return []
    rows = [("removed", {"sha256": r.sha256, "bytes": r.size}) for r in removed] + [
        ("not_removed", _not_removed(r)) for r in partial
    ]
    parts = list(_chunks(rows, _PER_ENTRY)) or [[]]
    bodies = []
    for n, part in enumerate(parts):
        body: dict[str, Any] = {
            "store": plan.store,
            "grace_seconds": int(plan.grace.total_seconds()),
            "swept_by": actor,
            "part": n + 1,
            "parts": len(parts),
            "removed": [row for kind, row in part if kind == "removed"],
            "not_removed": [row for kind, row in part if kind == "not_removed"],
        }
        if n == 0:
            body["temp_files"] = {"removed": len(temps), "bytes": sum(t.size for t in temps)}
        bodies.append(body)
    return bodies
