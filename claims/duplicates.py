"""Near-duplicate evidence: a claim photo that is another claim's photo filed again.

Re-saved as JPEG, resized or brightened, the same picture gets a new SHA-256, so content
addressing cannot see it; its perceptual hash stays within a few bits. A match does not
change who is responsible (the photo may still show a real defect); it stops automatic
payment so that a person looks at both claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from claims.tables import claims, photo_hashes
from vision.phash import hamming, parse_phash

__all__ = ["MAX_MATCHES", "DuplicateMatch", "find_duplicates"]

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


def find_duplicates(
    *, conn: Connection, phashes: Sequence[int | None], max_distance: int
) -> list[tuple[DuplicateMatch, ...]]:
    """For each hash, the stored photos within ``max_distance`` bits, closest first.

    Only stored photos are searched, and a claim's photos are stored when it is filed, so a
    claim being filed is never matched against itself. ``None`` stands for a photo not to
    look up; it gets no matches.
    """
    wanted = [(n, h) for n, h in enumerate(phashes) if h is not None]
    found: list[dict[tuple[str, str], DuplicateMatch]] = [{} for _ in phashes]
    if not wanted:
        return [() for _ in phashes]
    query = (
        select(photo_hashes.c.claim_id, photo_hashes.c.sha256, photo_hashes.c.phash)
        .add_columns(claims.c.evidence_idx)
        .join(claims, claims.c.id == photo_hashes.c.claim_id)
        .execution_options(yield_per=5000)
    )
    # A linear scan of every stored hash: fine for tens of thousands of photos. It runs under
    # the ledger's write lock (see claims.service), so its time adds to every claim's write.
    # At scale, replace it with multi-index hashing (split the 64 bits into 8 byte-columns,
    # each indexed; a hash within 7 bits of another equals it in at least one byte, so
    # indexed equality lookups find every candidate) or an in-memory BK-tree over the hashes.
    for row in conn.execute(query):
        stored = parse_phash(row.phash)
        for n, h in wanted:
            distance = hamming(h, stored)
            if distance > max_distance:
                continue
            key = (row.claim_id, row.sha256)  # one photo filed twice in a claim counts once
            if key not in found[n] or distance < found[n][key].distance:
                found[n][key] = DuplicateMatch(
                    row.claim_id, row.sha256, distance, int(row.evidence_idx)
                )
    return [
        tuple(sorted(m.values(), key=lambda d: (d.distance, d.evidence_index))[:MAX_MATCHES])
        for m in found
    ]
