"""Perfect-subtree storage: roots and proofs from stored nodes equal the RFC definitions."""

from __future__ import annotations

import random

import pytest

from ledger import (
    InvalidIndexError,
    MissingNodeError,
    RootMismatchError,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from ledger.hashing import EMPTY_ROOT, leaf_hash, node_hash, root_from_leaves
from ledger.tree import (
    CompactRange,
    InMemoryHashStore,
    append_leaves,
    frontier_ids,
    perfect_subtrees,
    tree_root,
)

# --- RFC 9162 §2.1 definitions, written recursively over all the leaves -------------


def _k(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def naive_path(m: int, hashes: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) from §2.1.3.1."""
    n = len(hashes)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*naive_path(m, hashes[:k]), root_from_leaves(hashes[k:])]
    return [*naive_path(m - k, hashes[k:]), root_from_leaves(hashes[:k])]


def naive_subproof(m: int, hashes: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) from §2.1.4.1."""
    n = len(hashes)
    if m == n:
        return [] if whole else [root_from_leaves(hashes)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof(m, hashes[:k], whole), root_from_leaves(hashes[k:])]
    return [*naive_subproof(m - k, hashes[k:], False), root_from_leaves(hashes[:k])]


# --- fixtures -----------------------------------------------------------------------

MAX = 300
HASHES = [leaf_hash(f"leaf-{i}".encode()) for i in range(MAX)]


@pytest.fixture(scope="module")
def store() -> InMemoryHashStore:
    """A store holding a tree of MAX leaves, built one append at a time."""
    store = InMemoryHashStore()
    frontier = CompactRange()
    for leaf in HASHES:
        store.put_nodes(frontier.append(leaf))
    return store


# --- tests --------------------------------------------------------------------------


def test_compact_range_root_tracks_every_size() -> None:
    frontier = CompactRange()
    assert frontier.root() == EMPTY_ROOT
    for size, leaf in enumerate(HASHES, start=1):
        frontier.append(leaf)
        assert frontier.size == size
        assert frontier.root() == root_from_leaves(HASHES[:size])


def test_append_writes_only_log_n_nodes(store: InMemoryHashStore) -> None:
    # A tree of n leaves has exactly 2n - popcount(n) perfect subtrees.
    assert len(store) == 2 * MAX - MAX.bit_count()
    frontier = CompactRange.load(store, 255)
    new = frontier.append(HASHES[255])
    # Leaf 255 completes subtrees at levels 1..8, so 9 nodes in all.
    assert [node_id for node_id, _ in new] == [(level, 255 >> level) for level in range(9)]
    assert new[-1][1] == root_from_leaves(HASHES[:256])


def test_stored_nodes_are_the_perfect_subtree_hashes(store: InMemoryHashStore) -> None:
    for (level, index), value in store.nodes().items():
        width = 1 << level
        assert value == root_from_leaves(HASHES[index * width : (index + 1) * width])


def test_tree_root_from_store_for_every_size(store: InMemoryHashStore) -> None:
    for size in range(MAX + 1):
        assert tree_root(store, size) == root_from_leaves(HASHES[:size])


def test_perfect_subtrees_decompose_into_aligned_powers_of_two() -> None:
    assert perfect_subtrees(0, 0) == []
    assert frontier_ids(13) == [(3, 0), (2, 2), (0, 12)]
    assert perfect_subtrees(8, 13) == [(2, 2), (0, 12)]
    assert perfect_subtrees(6, 16) == [(1, 3), (3, 1)]
    with pytest.raises(InvalidIndexError):
        perfect_subtrees(5, 4)


def test_inclusion_proofs_match_naive_for_all_small_trees(store: InMemoryHashStore) -> None:
    for size in range(1, 34):
        root = tree_root(store, size)
        for index in range(size):
            proof = inclusion_proof(store=store, leaf_index=index, tree_size=size)
            assert proof == naive_path(index, HASHES[:size]), (index, size)
            verify_inclusion(
                leaf_index=index, tree_size=size, leaf_hash=HASHES[index], proof=proof, root=root
            )


def test_consistency_proofs_match_naive_for_all_small_trees(store: InMemoryHashStore) -> None:
    for size2 in range(1, 34):
        for size1 in range(1, size2 + 1):
            proof = consistency_proof(store=store, size1=size1, size2=size2)
            assert proof == naive_subproof(size1, HASHES[:size2], True), (size1, size2)
            verify_consistency(
                size1=size1,
                size2=size2,
                proof=proof,
                root1=tree_root(store, size1),
                root2=tree_root(store, size2),
            )


def test_random_proofs_match_naive_and_verify(store: InMemoryHashStore) -> None:
    rng = random.Random(9162)
    for _ in range(400):
        size2 = rng.randint(1, MAX)
        size1 = rng.randint(1, size2)
        index = rng.randrange(size1)
        root1, root2 = tree_root(store, size1), tree_root(store, size2)

        proof = inclusion_proof(store=store, leaf_index=index, tree_size=size1)
        assert proof == naive_path(index, HASHES[:size1])
        verify_inclusion(
            leaf_index=index, tree_size=size1, leaf_hash=HASHES[index], proof=proof, root=root1
        )

        proof = consistency_proof(store=store, size1=size1, size2=size2)
        assert proof == naive_subproof(size1, HASHES[:size2], True)
        verify_consistency(size1=size1, size2=size2, proof=proof, root1=root1, root2=root2)


def test_corrupted_proof_hashes_are_rejected(store: InMemoryHashStore) -> None:
    proof = inclusion_proof(store=store, leaf_index=77, tree_size=201)
    root = tree_root(store, 201)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(RootMismatchError):
            verify_inclusion(
                leaf_index=77, tree_size=201, leaf_hash=HASHES[77], proof=bad, root=root
            )
    proof = consistency_proof(store=store, size1=77, size2=201)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = node_hash(bad[i], bad[i])
        with pytest.raises(RootMismatchError):
            verify_consistency(
                size1=77, size2=201, proof=bad, root1=tree_root(store, 77), root2=root
            )


def test_out_of_range_requests_raise(store: InMemoryHashStore) -> None:
    with pytest.raises(InvalidIndexError):
        inclusion_proof(store=store, leaf_index=5, tree_size=5)
    with pytest.raises(InvalidIndexError):
        consistency_proof(store=store, size1=0, size2=5)
    with pytest.raises(InvalidIndexError):
        consistency_proof(store=store, size1=6, size2=5)
    with pytest.raises(MissingNodeError) as caught:
        tree_root(store, MAX + 1)
    assert (caught.value.level, caught.value.index) == (0, MAX)


def test_append_leaves_extends_a_stored_tree() -> None:
    store = InMemoryHashStore()
    append_leaves(store=store, size=0, leaf_hashes=HASHES[:10])
    frontier = append_leaves(store=store, size=10, leaf_hashes=HASHES[10:37])
    assert frontier.size == 37
    assert frontier.root() == tree_root(store, 37) == root_from_leaves(HASHES[:37])
    with pytest.raises(InvalidIndexError):
        CompactRange(3, [HASHES[0]])


def test_extend_rows_gives_the_nodes_appends_give_level_by_level() -> None:
    # extend_rows hashes a level at a time from _LEVELWISE_FROM leaves, one leaf at a time
    # below; either way it must complete exactly the nodes (and leave the same right edge)
    # as one append per leaf, from any old size, for any min_level.
    rng = random.Random(7)
    for _ in range(300):
        old, new, min_level = rng.randrange(MAX - 150), rng.randrange(150), rng.randrange(6)
        one_by_one, batched = CompactRange(), CompactRange()
        for leaf in HASHES[:old]:
            one_by_one.append(leaf)
        batched.extend_rows(HASHES[:old])
        expected = [
            (level, index, digest)
            for leaf in HASHES[old : old + new]
            for (level, index), digest in one_by_one.append(leaf)
            if level >= min_level
        ]
        rows = batched.extend_rows(HASHES[old : old + new], min_level=min_level)
        assert rows == sorted(expected)
        assert (batched.size, batched.hashes) == (one_by_one.size, one_by_one.hashes)
