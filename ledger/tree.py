"""Merkle tree storage as perfect subtrees: every full subtree hash is kept at (level, index).

A node at (level, index) is the hash of leaves [index * 2**level, (index + 1) * 2**level).
Appending a leaf writes O(log n) such nodes, and the root of (or any proof over) any
tree size up to the current one is assembled from at most O(log n) stored nodes per
hash it needs, so nothing is ever recomputed from all the leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from itertools import count, repeat
from typing import Protocol

from ledger.errors import InvalidIndexError, MissingNodeError
from ledger.hashing import EMPTY_ROOT, NODE_PREFIX, node_hash

__all__ = [
    "CompactRange",
    "HashStore",
    "InMemoryHashStore",
    "NodeID",
    "append_leaves",
    "frontier_ids",
    "node_count",
    "perfect_subtrees",
    "range_hashes",
    "tree_root",
]

_sha256 = hashlib.sha256

# From this many leaves, `CompactRange.extend_rows` hashes a level at a time (measured on
# a tree of 12,345: below about 64 its per-level setup costs more than it saves).
_LEVELWISE_FROM = 64

NodeID = tuple[int, int]
"""(level, index) of a perfect subtree; level 0 holds the leaf hashes."""


class HashStore(Protocol):
    """Where perfect-subtree hashes live; a dict in tests, a table in production."""

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        """Return the hashes for `ids` in order; raise MissingNodeError if one is absent."""
        ...

    def put_nodes(self, nodes: Sequence[tuple[NodeID, bytes]]) -> None:
        """Store new nodes; nodes are write-once, so an existing id is never rewritten."""
        ...


class InMemoryHashStore:
    """A dict-backed HashStore for tests and for recomputation during audits."""

    def __init__(self) -> None:
        self._nodes: dict[NodeID, bytes] = {}

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        """Return the hashes for `ids` in order; raise MissingNodeError if one is absent."""
        try:
            return [self._nodes[node_id] for node_id in ids]
        except KeyError as exc:
            level, index = exc.args[0]
            raise MissingNodeError(level, index) from None

    def put_nodes(self, nodes: Sequence[tuple[NodeID, bytes]]) -> None:
        """Store new nodes."""
        self._nodes.update(nodes)

    def nodes(self) -> dict[NodeID, bytes]:
        """Return a copy of every stored node."""
        return dict(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)


def perfect_subtrees(start: int, end: int) -> list[NodeID]:
    """Return the maximal aligned perfect subtrees covering leaves [start, end), left to right."""
    if not 0 <= start <= end:
        raise InvalidIndexError("range", start, f"need 0 <= start <= end, got end={end}")
    ids: list[NodeID] = []
    while start < end:
        # Largest power of two that start is aligned to and that still fits before end.
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while (1 << level) > end - start:
            level -= 1
        ids.append((level, start >> level))
        start += 1 << level
    return ids


def node_count(size: int, *, min_level: int = 0) -> int:
    """How many perfect subtrees of `min_level` and above a tree of `size` leaves has."""
    return sum(size >> level for level in range(min_level, size.bit_length()))


def frontier_ids(size: int) -> list[NodeID]:
    """Return the perfect subtrees that make up a tree of `size` leaves, largest first."""
    return perfect_subtrees(0, size)


def _fold(hashes: Sequence[bytes]) -> bytes:
    # In the RFC's left-full tree the subtrees nest to the right, so fold right to left.
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def range_hashes(store: HashStore, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """Return MTH of each leaf range [start, end) with one batched store read.

    Each range must be one the RFC's recursive split produces (start aligned to the
    range's enclosing power of two), which holds for roots and for every proof hash.
    """
    plans = [perfect_subtrees(start, end) for start, end in ranges]
    wanted = list(dict.fromkeys(node_id for plan in plans for node_id in plan))
    fetched = dict(zip(wanted, store.get_nodes(wanted), strict=True)) if wanted else {}
    return [_fold([fetched[node_id] for node_id in plan]) if plan else EMPTY_ROOT for plan in plans]


def tree_root(store: HashStore, size: int) -> bytes:
    """Return the root hash MTH(D[size]) of the first `size` leaves."""
    return range_hashes(store, [(0, size)])[0]


class CompactRange:
    """The right edge of a tree: one perfect-subtree hash per set bit of its size."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise InvalidIndexError("size", size, f"needs {size.bit_count()} frontier hashes")
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def load(cls, store: HashStore, size: int) -> CompactRange:
        """Read the frontier of a tree of `size` leaves from `store`."""
        ids = frontier_ids(size)
        return cls(size, store.get_nodes(ids) if ids else [])

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> list[tuple[NodeID, bytes]]:
        """Add one leaf hash; return every new perfect-subtree node it completes."""
        index = self._size
        new = [((0, index), leaf)]
        acc, level = leaf, 0
        # Each trailing 1-bit of the old size is a left sibling that the new leaf completes.
        while index & 1:
            acc = node_hash(self._hashes.pop(), acc)
            index >>= 1
            level += 1
            new.append(((level, index), acc))
        self._hashes.append(acc)
        self._size += 1
        return new

    def extend(self, leaves: Iterable[bytes]) -> list[tuple[NodeID, bytes]]:
        """Add many leaf hashes; return all new nodes, level by level, left to right."""
        return [((level, index), digest) for level, index, digest in self.extend_rows(leaves)]

    def extend_rows(
        self, leaves: Iterable[bytes], *, min_level: int = 0
    ) -> list[tuple[int, int, bytes]]:
        """As `extend`, with each node as a flat (level, index, hash) row, ready to insert;
        only the nodes at `min_level` and above are returned (all are still computed).

        Rows come level by level, left to right: the order of ledger_nodes' key.
        """
        level_nodes = list(leaves)
        if len(level_nodes) < _LEVELWISE_FROM:
            return self._append_rows(level_nodes, min_level)
        # The writer's hot loop, a level at a time: each level's new nodes are one list
        # comprehension over the pairs below it instead of a Python loop step per node.
        rows: list[tuple[int, int, bytes]] = []
        sha256, prefix, edge = _sha256, NODE_PREFIX, self._hashes
        old, size = self._size, self._size + len(level_nodes)
        lefts: list[bytes] = []  # the new right edge's nodes, lowest level first
        level = 0
        while True:
            first = old >> level  # index of level_nodes[0]
            if level >= min_level and level_nodes:
                rows.extend(zip(repeat(level), count(first), level_nodes))
            if first & 1:  # its left sibling is the old edge's node at this level
                level_nodes.insert(0, edge.pop())
            if len(level_nodes) & 1:  # an unpaired right end: on the new edge
                lefts.append(level_nodes[-1])
            if len(level_nodes) < 2:
                break
            level_nodes = [
                sha256(prefix + left + right).digest()
                # strict=False: an odd last node has no right partner and waits on the edge.
                for left, right in zip(level_nodes[::2], level_nodes[1::2], strict=False)
            ]
            level += 1
        edge.extend(reversed(lefts))
        self._size = size
        return rows

    def _append_rows(self, leaves: list[bytes], min_level: int) -> list[tuple[int, int, bytes]]:
        """`extend_rows` one leaf at a time (for a few leaves, cheaper than its per-level
        setup), its rows sorted into the same level-by-level order."""
        rows: list[tuple[int, int, bytes]] = []
        add, edge, sha256, prefix = rows.append, self._hashes, _sha256, NODE_PREFIX
        pop, push = edge.pop, edge.append
        size = self._size
        for leaf in leaves:
            if not min_level:
                add((0, size, leaf))
            acc, index, level = leaf, size, 0
            while index & 1:
                acc = sha256(prefix + pop() + acc).digest()
                index >>= 1
                level += 1
                if level >= min_level:
                    add((level, index, acc))
            push(acc)
            size += 1
        self._size = size
        rows.sort()
        return rows

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The frontier: one perfect-subtree hash per set bit of the size, largest first."""
        return tuple(self._hashes)

    def root(self) -> bytes:
        """Return the root hash of the tree this range describes."""
        return _fold(self._hashes) if self._hashes else EMPTY_ROOT


def append_leaves(*, store: HashStore, size: int, leaf_hashes: Sequence[bytes]) -> CompactRange:
    """Append leaves to the tree of `size` leaves in `store`; return the new frontier."""
    frontier = CompactRange.load(store, size)
    store.put_nodes(frontier.extend(leaf_hashes))
    return frontier
