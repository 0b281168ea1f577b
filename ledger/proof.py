"""RFC 9162 inclusion and consistency proofs: generation from a HashStore and verification.

Verification returns None or raises a `ProofError` / `InvalidIndexError`; it never
returns False, so a forgotten check cannot pass silently.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.errors import (
    InvalidIndexError,
    MalformedHashError,
    ProofSizeError,
    RootMismatchError,
)
from ledger.hashing import HASH_SIZE, node_hash
from ledger.tree import HashStore, range_hashes

__all__ = [
    "consistency_proof",
    "consistency_proof_ranges",
    "inclusion_proof",
    "inclusion_proof_ranges",
    "verify_consistency",
    "verify_inclusion",
]


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2): the RFC's k."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof_ranges(*, leaf_index: int, tree_size: int) -> list[tuple[int, int]]:
    """Return the leaf ranges whose MTH form PATH(leaf_index, D[tree_size]), in proof order."""
    if not 0 <= leaf_index < tree_size:
        raise InvalidIndexError("leaf_index", leaf_index, f"need 0 <= index < {tree_size}")
    ranges: list[tuple[int, int]] = []
    start, m, n = 0, leaf_index, tree_size
    # RFC 9162 §2.1.3.1, unrolled: walk down from the root, collect siblings, then
    # reverse because the proof lists them leaf-side first.
    while n > 1:
        k = _split(n)
        if m < k:
            ranges.append((start + k, start + n))
            n = k
        else:
            ranges.append((start, start + k))
            start, m, n = start + k, m - k, n - k
    ranges.reverse()
    return ranges


def consistency_proof_ranges(*, size1: int, size2: int) -> list[tuple[int, int]]:
    """Return the leaf ranges whose MTH form PROOF(size1, D[size2]), in proof order."""
    if not 0 < size1 <= size2:
        raise InvalidIndexError("size1", size1, f"need 0 < size1 <= size2={size2}")
    ranges: list[tuple[int, int]] = []
    start, m, n, whole = 0, size1, size2, True
    # RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b), unrolled the same way as PATH.
    while m != n:
        k = _split(n)
        if m <= k:
            ranges.append((start + k, start + n))
            n = k
        else:
            ranges.append((start, start + k))
            start, m, n, whole = start + k, m - k, n - k, False
    if not whole:
        ranges.append((start, start + n))
    ranges.reverse()
    return ranges


def inclusion_proof(*, store: HashStore, leaf_index: int, tree_size: int) -> list[bytes]:
    """Return the inclusion proof for `leaf_index` in the tree of `tree_size` leaves."""
    return range_hashes(store, inclusion_proof_ranges(leaf_index=leaf_index, tree_size=tree_size))


def consistency_proof(*, store: HashStore, size1: int, size2: int) -> list[bytes]:
    """Return the consistency proof between tree sizes `size1` and `size2`."""
    return range_hashes(store, consistency_proof_ranges(size1=size1, size2=size2))


def _check_hashes(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        if len(h) != HASH_SIZE:
            raise MalformedHashError(f"proof[{i}]", len(h))


def _inclusion_size(index: int, size: int) -> int:
    # Hashes below the point where the paths to `index` and `size - 1` diverge, plus
    # one left-sibling hash per 1-bit above it.
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def verify_inclusion(
    *, leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify an RFC 9162 §2.1.3.2 inclusion proof; raise a LedgerError if it fails."""
    # 1. leaf_index must be below tree_size.
    if not 0 <= leaf_index < tree_size:
        raise InvalidIndexError("leaf_index", leaf_index, f"need 0 <= index < {tree_size}")
    if len(leaf_hash) != HASH_SIZE:
        raise MalformedHashError("leaf_hash", len(leaf_hash))
    # Checking the length up front names the fault; step 4 and 5 would also catch it.
    expected = _inclusion_size(leaf_index, tree_size)
    if len(proof) != expected:
        raise ProofSizeError(expected, len(proof))
    _check_hashes(proof)
    # 2. fn = leaf_index, sn = tree_size - 1.
    fn, sn = leaf_index, tree_size - 1
    # 3. r = hash.
    r = leaf_hash
    # 4. Fold each proof hash in on the side fn's low bit says.
    for p in proof:
        if sn == 0:
            raise ProofSizeError(expected, len(proof))
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # 5. sn must be 0 and r must equal the root.
    if sn != 0:
        raise ProofSizeError(expected, len(proof))
    if r != root:
        raise RootMismatchError(expected=root, calculated=r)


def _consistency_size(size1: int, size2: int) -> int:
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    shift = (size1 & -size1).bit_length() - 1
    # When size1 is a power of two its root is a node of the new tree and is not sent.
    seed = 0 if size1 == 1 << shift else 1
    return seed + inner - shift + border


def verify_consistency(
    *, size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Verify an RFC 9162 §2.1.4.2 consistency proof; raise a LedgerError if it fails."""
    # Preconditions the RFC states in prose (§2.1.4): an append-only log never shrinks,
    # an empty tree proves nothing, and equal sizes need an empty proof and equal roots.
    if size1 > size2:
        raise InvalidIndexError("size1", size1, f"larger than size2={size2}")
    if size1 <= 0:
        raise InvalidIndexError("size1", size1, "consistency with an empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ProofSizeError(0, len(proof))
        if root1 != root2:
            raise RootMismatchError(expected=root2, calculated=root1)
        return
    # 1. An empty consistency_path fails.
    expected = _consistency_size(size1, size2)
    if not proof or len(proof) != expected:
        raise ProofSizeError(expected, len(proof))
    _check_hashes(proof)
    # 2. If first is an exact power of 2, prepend first_hash to the path.
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = size1 - 1, size2 - 1
    # 4. If LSB(fn) is set, right-shift fn and sn until it is not.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = first hash in the path.
    fr = sr = path[0]
    # 6. Fold each further hash into both roots, or only into the second one.
    for c in path[1:]:
        if sn == 0:
            raise ProofSizeError(expected, len(proof))
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7. fr must equal first_hash, sr must equal second_hash, and sn must be 0.
    if sn != 0:
        raise ProofSizeError(expected, len(proof))
    if fr != root1:
        raise RootMismatchError(expected=root1, calculated=fr)
    if sr != root2:
        raise RootMismatchError(expected=root2, calculated=sr)
