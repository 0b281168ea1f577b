"""Near-duplicate evidence: a claim photo that is another claim's photo filed again.

Re-saved as JPEG, resized or brightened, the same picture gets a new SHA-256, so content
addressing cannot see it; its perceptual hash stays within a few bits. A match does not
change who is responsible (the photo may still show a real defect); it stops automatic
payment so that a person looks at both claims.

The search looks hashes up in ``claim_photo_bands``, the database's multi-index on them
(``claims.hash_bands``), so its time hardly grows with the photos stored and every API
process shares it. A claim searches in two steps: ``search_duplicates`` before the ledger's
write lock, among the photos stored so far, then ``DuplicateSearch.complete`` under it,
among the few stored since (ids above the highest one the search saw), so no claim waits
on another's search. ``find_duplicates`` does both at once; ``scan_duplicates``, the old
linear scan over every stored hash, is the reference it must agree with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Connection, bindparam, func, insert, select, union_all

from claims.hash_bands import probe_plan, to_bands, to_signed
from claims.tables import claims, photo_bands, photo_hashes
from vision.phash import HASH_BITS, format_phash, hamming, parse_phash

__all__ = [
    "MAX_MATCHES",
    "DuplicateMatch",
    "DuplicateSearch",
    "find_duplicates",
    "remember_photos",
    "scan_duplicates",
    "search_duplicates",
]

MAX_MATCHES = 10
"""Matches kept per photo, closest first: enough for a person to follow, bounded in size."""


@dataclass(frozen=True)
class DuplicateMatch:
    """A photo of an earlier claim whose perceptual hash is within the threshold."""

    claim_id: str
    photo_sha256: str
    distance: int
    # The earlier claim's claim.evidence entry, which records that photo's phash: with this
    # photo's own entry, anyone can recompute the distance from the ledger alone.
    evidence_index: int

    def as_dict(self) -> dict[str, object]:
        """JSON form, as in the claim response and the evidence ledger entry."""
        return {
            "claim_id": self.claim_id,
            "photo_sha256": self.photo_sha256,
            "distance": self.distance,
            "evidence_index": self.evidence_index,
        }


_BANDS = (photo_bands.c.band0, photo_bands.c.band1, photo_bands.c.band2)
_HASH_MASK = (1 << HASH_BITS) - 1
_IN_LIST = 2000  # values per IN (...): far below SQLite's 32,766 bound parameters
_T = TypeVar("_T")
# A stored photo (its claim_photo_bands.id), and per looked-up photo its distance in bits.
_Hits = dict[int, dict[int, int]]
# One photo filed twice in a claim counts once: matches are keyed (claim_id, sha256).
_Key = tuple[str, str]


@dataclass(frozen=True)
class DuplicateSearch:
    """Near-copies among the photos stored up to ``seen``, waiting for ``complete``."""

    phashes: tuple[int | None, ...]
    max_distance: int
    seen: int
    """The highest ``claim_photo_bands.id`` when the search began (0: none stored)."""
    found: tuple[Mapping[_Key, DuplicateMatch], ...] = field(repr=False)

    def complete(self, conn: Connection) -> list[tuple[DuplicateMatch, ...]]:
        """Add the photos stored since the search, then per photo the closest matches.

        Run under the ledger's write lock, which every claim takes to store its photos:
        of two copies filed at the same instant, the second to get the lock sees the
        first's here.
        """
        later = conn.execute(_band_rows().where(photo_bands.c.id > self.seen))
        hits = _verify(later, _wanted(self.phashes), self.max_distance)
        added = _resolve(conn, hits, len(self.phashes))
        for mine, new in zip(self.found, added, strict=True):
            for match in mine.values():
                _keep(new, match)
        return [_closest(new) for new in added]


def search_duplicates(
    *, conn: Connection, phashes: Sequence[int | None], max_distance: int
) -> DuplicateSearch:
    """For each hash, the stored photos within ``max_distance`` bits, as far as stored now.

    ``None`` stands for a photo not to look up; it gets no matches. Needs no lock: what is
    stored while it runs is looked at again by ``DuplicateSearch.complete``.
    """
    wanted = _wanted(phashes)
    # Read first: every row at or below it has committed (ids are given out under the
    # write lock), so the lookups below see it; anything later, complete() looks at.
    seen = int(conn.execute(select(func.coalesce(func.max(photo_bands.c.id), 0))).scalar_one())
    plan = probe_plan([h for _, h in wanted], max_distance) if wanted else []
    if plan is None:  # a threshold too wide for the index: every stored hash is a candidate
        rows: Iterable[Any] = conn.execute(_band_rows().execution_options(yield_per=5000))
    else:
        rows = [row for lookup in _lookups(plan) for row in conn.execute(lookup).all()]
    found = _resolve(conn, _verify(rows, wanted, max_distance), len(phashes))
    return DuplicateSearch(tuple(phashes), max_distance, seen, tuple(found))


def find_duplicates(
    *, conn: Connection, phashes: Sequence[int | None], max_distance: int
) -> list[tuple[DuplicateMatch, ...]]:
    """For each hash, the stored photos within ``max_distance`` bits, closest first.

    Only stored photos are searched, and a claim's photos are stored when it is filed, so a
    claim being filed is never matched against itself. ``None`` stands for a photo not to
    look up; it gets no matches.
    """
    search = search_duplicates(conn=conn, phashes=phashes, max_distance=max_distance)
    return search.complete(conn)


def remember_photos(*, conn: Connection, claim_id: str, photos: Sequence[tuple[str, int]]) -> None:
    """Store a claim's photos' hashes, (sha256, phash) in order, for later claims' searches.

    Call it in the ledger's write transaction: the index's ids must be given out in the
    order claims commit (``DuplicateSearch.complete`` relies on it).
    """
    if not photos:
        return
    conn.execute(
        insert(photo_hashes),
        [
            {"claim_id": claim_id, "position": n, "sha256": sha, "phash": format_phash(h)}
            for n, (sha, h) in enumerate(photos)
        ],
    )
    conn.execute(
        insert(photo_bands),
        [
            {
                "claim_id": claim_id,
                "position": n,
                "phash": to_signed(h),
                **{band.name: value for band, value in zip(_BANDS, to_bands(h), strict=True)},
            }
            for n, (_, h) in enumerate(photos)
        ],
    )


def scan_duplicates(
    *, conn: Connection, phashes: Sequence[int | None], max_distance: int
) -> list[tuple[DuplicateMatch, ...]]:
    """``find_duplicates`` by reading every stored hash: the reference it must agree with,
    and the peer its bench measures. Its time grows with the photos stored."""
    wanted = _wanted(phashes)
    found: list[dict[_Key, DuplicateMatch]] = [{} for _ in phashes]
    if not wanted:
        return [() for _ in phashes]
    query = (
        select(photo_hashes.c.claim_id, photo_hashes.c.sha256, photo_hashes.c.phash)
        .add_columns(claims.c.evidence_idx)
        .join(claims, claims.c.id == photo_hashes.c.claim_id)
        .execution_options(yield_per=5000)
    )
    for row in conn.execute(query):
        stored = parse_phash(row.phash)
        for n, h in wanted:
            distance = hamming(h, stored)
            if distance > max_distance:
                continue
            match = DuplicateMatch(row.claim_id, row.sha256, distance, int(row.evidence_idx))
            _keep(found[n], match)
    return [_closest(m) for m in found]


def _wanted(phashes: Sequence[int | None]) -> list[tuple[int, int]]:
    return [(n, h) for n, h in enumerate(phashes) if h is not None]


def _band_rows() -> Any:
    # Only what the band indexes hold: the lookups read no table rows (an index-only scan).
    return select(photo_bands.c.id, photo_bands.c.phash)


def _lookups(plan: list[set[int]]) -> Iterable[Any]:
    """The plan's band lookups as few statements as can be (one at the usual threshold:
    each is a round trip), none with more than ``_IN_LIST`` values.

    One SELECT per band joined by UNION ALL, not one SELECT with OR: PostgreSQL answers an
    OR of index conditions with a bitmap scan, which reads every candidate's table page;
    each SELECT alone is an index-only scan (SQLite: a covering index search) either way.
    A photo found through two bands comes twice and counts once.
    """
    selects: list[Any] = []
    size = 0
    for band, values in zip(_BANDS, plan, strict=True):
        for chunk in _chunks(sorted(values)):
            if selects and size + len(chunk) > _IN_LIST:
                yield union_all(*selects)
                selects, size = [], 0
            # The values written into the SQL, not bound one by one: binding ~300 parameters
            # cost PostgreSQL 1.2 ms a lookup, the statement itself 0.25 ms. They are ints
            # this module computed, so nothing a client sent reaches the SQL text.
            written: BindParameter[int] = bindparam(
                f"{band.name}_{len(selects)}", chunk, literal_execute=True
            )
            selects.append(_band_rows().where(band.in_(written)))
            size += len(chunk)
    if selects:
        yield union_all(*selects)


def _chunks(values: list[_T]) -> Iterable[list[_T]]:
    for start in range(0, len(values), _IN_LIST):
        yield values[start : start + _IN_LIST]


def _verify(rows: Iterable[Any], wanted: list[tuple[int, int]], max_distance: int) -> _Hits:
    """The candidate rows truly within ``max_distance`` bits of a looked-up photo."""
    hits: _Hits = {}
    for row in rows:
        stored = row.phash & _HASH_MASK  # from_signed, inlined: it runs for every candidate
        for n, h in wanted:
            if (distance := (h ^ stored).bit_count()) <= max_distance:
                hits.setdefault(row.id, {})[n] = distance
    return hits


def _resolve(conn: Connection, hits: _Hits, photos: int) -> list[dict[_Key, DuplicateMatch]]:
    """The hits as matches, per looked-up photo, keyed (claim, photo sha256)."""
    found: list[dict[_Key, DuplicateMatch]] = [{} for _ in range(photos)]
    if not hits:
        return found
    query = (
        select(photo_bands.c.id, photo_hashes.c.claim_id, photo_hashes.c.sha256)
        .add_columns(claims.c.evidence_idx)
        .join(
            photo_hashes,
            (photo_hashes.c.claim_id == photo_bands.c.claim_id)
            & (photo_hashes.c.position == photo_bands.c.position),
        )
        .join(claims, claims.c.id == photo_bands.c.claim_id)
    )
    for chunk in _chunks(sorted(hits)):
        for row in conn.execute(query.where(photo_bands.c.id.in_(chunk))):
            for n, distance in hits[row.id].items():
                _keep(
                    found[n],
                    DuplicateMatch(row.claim_id, row.sha256, distance, int(row.evidence_idx)),
                )
    return found


def _keep(found: dict[_Key, DuplicateMatch], match: DuplicateMatch) -> None:
    """Add ``match`` unless the same photo of that claim is already there at most as far."""
    key = (match.claim_id, match.photo_sha256)
    if key not in found or match.distance < found[key].distance:
        found[key] = match


def _closest(found: Mapping[_Key, DuplicateMatch]) -> tuple[DuplicateMatch, ...]:
    """The closest ``MAX_MATCHES``, the earliest claim first among equals; the photo's
    SHA-256 breaks what ties remain, so the order never depends on how rows were read."""
    ranked = sorted(found.values(), key=lambda m: (m.distance, m.evidence_index, m.photo_sha256))
    return tuple(ranked[:MAX_MATCHES])
