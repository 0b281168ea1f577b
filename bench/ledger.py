"""Ledger speed: appends/s (single and batched) on SQLite and PostgreSQL, proof generation
time and size at a large tree, and the time of a full audit; every speed figure with its
ratio to a peer measured in the same run on the same machine.

    .venv/bin/python bench/ledger.py [--entries 1000000] [--peer-entries N] [--postgres URL]

The peer is pymerkle (PyPI, the `bench` extra): an RFC 9162-style Merkle tree in Python with
an SQLite backend (`SqliteTree`), configured with SHA-256 and its 0x00/0x01 leaf/node
prefixes on, so its leaf and node hashes are ours. It is given the exact record bytes our
ledger stored, and the bench checks that both sides then compute the same roots and the same
inclusion-proof hashes before it quotes a ratio. Its SQLite connection gets our pragmas (WAL,
synchronous=FULL) so both sides commit with the same durability, and each of its appends
runs right after ours so both see the same disk and CPU. It has no PostgreSQL backend. It is
built alongside ours at --entries unless --peer-entries names a smaller size (its appends
are not slower than ours; its proofs recompute subtrees from leaves, so a smaller size only
shortens the run); then our side is built and measured again at that size, so proof and
audit ratios always compare equal tree sizes. Without pymerkle installed the bench says so
and measures our side alone.

To show where the remaining gap lies, the bench also times our storage format alone: the
rows a batch stores (one entry row per entry and a tree-node row per 8 entries), built
beforehand and only inserted and committed, beside pymerkle's whole append of its one row.

Published peers for context (not measured here): Tessera about 2,900 appends/s on a 12-core
VM with POSIX storage; immudb about 1.2 M entries/s embedded, 1,000-entry batches, 4 cores.
This machine has 2 cores; quote medians.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import Engine, text  # noqa: E402

from ledger.audit import audit  # noqa: E402
from ledger.hashing import canonical_json, leaf_hash  # noqa: E402
from ledger.log import Ledger, _chain, _prepare  # noqa: E402
from ledger.note import Signer, generate_key  # noqa: E402
from ledger.proof import verify_consistency, verify_inclusion  # noqa: E402
from ledger.recompute import default_workers  # noqa: E402
from ledger.record import format_ts, make_record  # noqa: E402
from ledger.schema import LOWEST_NODE_LEVEL, entries_table, nodes_table  # noqa: E402
from ledger.sqlstore import NODE_COLUMNS, insert_rows  # noqa: E402
from ledger.tree import CompactRange  # noqa: E402
from storage.db import make_engine  # noqa: E402

try:
    import pymerkle
except ImportError as exc:  # the peer is optional: the bench then measures our side alone
    pymerkle = None
    PEER_MISSING = f"{type(exc).__name__}: {exc}"
else:
    PEER_MISSING = ""
    if int(pymerkle.__version__.split(".")[0]) < 7:  # 6.x has get_state and other verify_*
        PEER_MISSING = f"pymerkle {pymerkle.__version__} is older than the 7.x API this uses"
        pymerkle = None

BODY = {"type": "ObjectEvent", "lot": "LOT-0001", "celsius": 4.2, "epc": "urn:epc:id:sgtin:1.2.3"}
BUILD_BATCH = 10_000
PROOFS = 200  # inclusion proofs per side
CONSISTENCY = 50  # consistency proofs per side
COLD_PROOFS = 20  # pymerkle proofs with its subtree cache cleared first

STORES = """\
what each side stores (same record bytes on both):
  ours     one ledger_entries row per entry (idx, kind, record = the RFC 8785 canonical JSON
           envelope {body, index, kind, prev, ts, v}, prev_hash, leaf_hash, created_at) plus
           the hashes of the perfect subtrees of 16 leaves and more in ledger_nodes (about
           one row per 8 entries); smaller subtrees are recomputed from the leaf hashes when
           a proof needs them. The timed append includes canonicalising the body, building
           the record, hashing it and the tree's new nodes.
  pymerkle one `leaf` row per entry (id, entry = the record bytes our ledger stored, hash);
           no interior nodes are stored: subtree roots are recomputed from leaf hashes on
           demand and cached in process (subtrees of >= 128 leaves, LRU, 1 GiB). Its timed
           append hashes and inserts ready-made bytes; its SQLite connection gets our
           pragmas (journal_mode=WAL, synchronous=FULL).
  on disk  ours: ledger_entries' idx is the rowid (INTEGER PRIMARY KEY: no index beside it)
           and ledger_nodes is WITHOUT ROWID (its key is the table): about 1.1 B-tree rows
           per entry. pymerkle: 1 row whose id is the rowid (AUTOINCREMENT also rewrites
           sqlite_sequence per insert).
  durable  both: WAL, synchronous=FULL (the WAL is fsynced at every commit), one
           transaction per call (per entry for single appends, per batch for batched)."""


def _p95(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(0.95 * len(values)))]


def _speed(ours: float, peer: float, *, higher_is_faster: bool) -> str:
    """Say how much faster ours is: `ours`/`peer` are rates, or times when not higher_is_faster."""
    ratio = ours / peer if higher_is_faster else peer / ours
    word = f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"
    return f"ours/peer speed {ratio:.3g} (ours {word})"


@dataclass
class Summary:
    """Ratio lines gathered for the closing summary."""

    lines: list[str] = field(default_factory=list)

    def add(self, label: str, ratio: str) -> None:
        self.lines.append(f"  {label:44} {ratio}")
        print(f"    -> {label}: {ratio}")


# --- our side -------------------------------------------------------------------------------


def _rate(
    ledger: Ledger, *, batch: int, batches: int, peer: Any = None
) -> tuple[list[float], list[float]]:
    """Our appends/s per call; with a pymerkle `peer`, each call is followed by its append of
    the record bytes ours just stored, so both sides see the same disk (fsync) conditions."""
    rates: list[float] = []
    peer_rates: list[float] = []
    for _ in range(batches):
        items = [("bench", {**BODY, "i": i}) for i in range(batch)]
        t = time.perf_counter()
        if batch == 1:
            entries = [ledger.append(kind="bench", body=items[0][1])]
        else:
            entries = ledger.append_many(items)
        rates.append(batch / (time.perf_counter() - t))
        if peer is not None:
            records = [entry.record for entry in entries]
            t = time.perf_counter()
            if batch == 1:
                peer.append_entry(records[0])  # one transaction per entry, as ours
            else:
                peer.append_entries(records)  # one transaction, one executemany
            peer_rates.append(batch / (time.perf_counter() - t))
    return rates, peer_rates


def _build(ledger: Ledger, entries: int, peer: Any = None) -> tuple[float, float]:
    """Append `entries` in batches; return our seconds and, with a `peer`, its seconds for
    appending the same record bytes, batch by batch right after ours."""
    ours = theirs = 0.0
    done = 0
    while done < entries:
        n = min(BUILD_BATCH, entries - done)
        items = [("bench", {**BODY, "i": done + i}) for i in range(n)]
        t = time.perf_counter()
        stored = ledger.append_many(items)
        ours += time.perf_counter() - t
        if peer is not None:
            records = [entry.record for entry in stored]
            t = time.perf_counter()
            peer.append_entries(records)
            theirs += time.perf_counter() - t
        done += n
    return ours, theirs


@dataclass
class Measured:
    """One side's proof measurements at one tree size (times in ms, sizes in bytes)."""

    size: int
    incl_ms: list[float]
    incl_bytes: list[int]
    cons_ms: list[float]
    cons_bytes: list[int]
    proofs: list[list[bytes]] = field(default_factory=list)


def _challenges(size: int) -> tuple[list[int], list[int]]:
    """The leaf indices (0-based) and older sizes both sides are asked to prove."""
    rng = random.Random(1)
    return [rng.randrange(size) for _ in range(PROOFS)], [
        rng.randrange(1, size) for _ in range(CONSISTENCY)
    ]


def _ours_proofs(ledger: Ledger, size: int) -> Measured:
    root = ledger.root(size)
    indices, firsts = _challenges(size)
    m = Measured(size, [], [], [], [])
    for idx in indices:
        t = time.perf_counter()
        proof = ledger.inclusion_proof(idx, size)
        m.incl_ms.append((time.perf_counter() - t) * 1e3)
        m.incl_bytes.append(len(proof) * 32)
        m.proofs.append(proof)
        verify_inclusion(
            leaf_index=idx,
            tree_size=size,
            leaf_hash=ledger.entry(idx).leaf_hash,
            proof=proof,
            root=root,
        )
    for first in firsts:
        t = time.perf_counter()
        cproof = ledger.consistency_proof(first, size)
        m.cons_ms.append((time.perf_counter() - t) * 1e3)
        m.cons_bytes.append(len(cproof) * 32)
        verify_consistency(
            size1=first, size2=size, proof=cproof, root1=ledger.root(first), root2=root
        )
    return m


def _print_ours(m: Measured) -> None:
    print(
        f"inclusion proof at {m.size}: median {statistics.median(m.incl_ms):.3f} ms, "
        f"p95 {_p95(m.incl_ms):.3f} ms, "
        f"{statistics.median(m.incl_bytes):.0f} bytes ({statistics.median(m.incl_bytes) / 32:.0f} hashes)"
    )
    print(
        f"consistency proof: median {statistics.median(m.cons_ms):.3f} ms, "
        f"{statistics.median(m.cons_bytes):.0f} bytes"
    )


def _cpu_s() -> float:
    """CPU seconds used so far by this process and its finished children (the audit workers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _audit(engine: Engine, verifier: str) -> tuple[float, str]:
    """Time the full audit as shipped (workers on every CPU), then the reference single pass.

    CPU seconds are printed beside wall time: on a shared machine the wall time says how
    busy the other tenants were, the CPU time what the audit itself costs. The build's dirty
    pages (ours and, built beside it, pymerkle's few hundred MB) are written out first, untimed:
    otherwise the audit's reads queue behind the kernel's writeback of them and its wall time
    says more about the disk than about the audit (10-17 s against 3 s, same CPU time).
    """
    os.sync()
    cpu, t = _cpu_s(), time.perf_counter()
    report = audit(engine, verifier_key=verifier)
    took, took_cpu = time.perf_counter() - t, _cpu_s() - cpu
    cpu, t = _cpu_s(), time.perf_counter()
    single = audit(engine, verifier_key=verifier, workers=1)
    single_s, single_cpu = time.perf_counter() - t, _cpu_s() - cpu
    assert single == report
    workers = default_workers()
    return took, (
        f"full audit of {report.size} entries ({report.nodes_checked} nodes, "
        f"{report.checkpoints_checked} checkpoint): {took:.2f} s on {workers} worker processes "
        f"({took_cpu:.2f} CPU-s in all, {took_cpu / workers:.2f} per worker); the reference "
        f"single pass (workers=1): {single_s:.2f} s ({single_cpu:.2f} CPU-s), same report"
    )


# --- the peer -------------------------------------------------------------------------------


def _peer_tree(path: str) -> Any:
    """A pymerkle SqliteTree hashing as RFC 9162 does, with our SQLite durability pragmas."""
    assert pymerkle is not None
    tree = pymerkle.SqliteTree(path, algorithm="sha256", disable_security=False)
    tree.con.execute("PRAGMA journal_mode=WAL")
    tree.con.execute("PRAGMA synchronous=FULL")
    # The connection's row factory returns the first column.
    assert tree.con.execute("PRAGMA journal_mode").fetchone() == "wal"
    assert tree.con.execute("PRAGMA synchronous").fetchone() == 2  # FULL
    assert (tree.algorithm, tree.leaf_prefix, tree.node_prefix) == ("sha256", b"\x00", b"\x01")
    return tree


def _peer_compare(
    tree: Any,
    build: float,
    ledger: Ledger,
    ours: Measured,
    ours_build_s: float,
    ours_audit_s: float,
    summary: Summary,
) -> None:
    """Check that pymerkle, built from our records, hashes as ours; time it like ours."""
    assert pymerkle is not None
    size = ours.size
    try:
        assert tree.get_size() == size
        ours_rate = size / ours_build_s
        print(
            f"pymerkle built {size} entries in {build:.1f} s ({size / build:.0f} appends/s, "
            f"batches of {BUILD_BATCH:,}, each right after ours; ours {ours_rate:.0f} "
            "appends/s at this size)"
        )
        summary.add(
            f"build of {size} in batches of {BUILD_BATCH:,}",
            _speed(ours_rate, size / build, higher_is_faster=True),
        )

        # Same hashing: same roots (at a few sizes) and the same inclusion-proof hashes.
        checks = sorted({1, 2, 3, max(1, size // 3), size - 1 or 1, size})
        for n in checks:
            mine, theirs = ledger.root(n), tree.get_root(n)
            if mine != theirs:
                raise SystemExit(
                    f"ROOT MISMATCH at size {n}: ours {mine.hex()} pymerkle {theirs.hex()}; "
                    "its hashing is not RFC 9162's, so no ratio would compare like with like"
                )
        root = ledger.root(size)
        print(
            f"roots match at sizes {checks}: {root.hex()} "
            "(SHA-256, 0x00 leaf / 0x01 node prefixes on both sides)"
        )

        indices, firsts = _challenges(size)
        leaf_hashes = [tree.get_leaf(idx + 1) for idx in indices]  # pymerkle counts from 1

        # Cold: its subtree cache cleared before each proof, as after opening the tree.
        cold = []
        for idx in indices[:COLD_PROOFS]:
            tree.cache_clear()
            t = time.perf_counter()
            tree.prove_inclusion(idx + 1, size)
            cold.append((time.perf_counter() - t) * 1e3)
        # In sequence: the same challenges as ours, its cache on and kept (its normal use).
        tree.cache_clear()
        warm, sizes = [], []
        for k, idx in enumerate(indices):
            t = time.perf_counter()
            proof = tree.prove_inclusion(idx + 1, size)
            warm.append((time.perf_counter() - t) * 1e3)
            sizes.append(len(proof.path) * 32)
            pymerkle.verify_inclusion(
                leaf_hashes[k], root, proof, index=idx + 1, size=size, algorithm="sha256"
            )
            if proof.path[0] != leaf_hashes[k] or proof.path[1:] != ours.proofs[k]:
                raise SystemExit(f"inclusion proof of {idx} differs from ours")
        # Hot: the same challenges again, every subtree they need now cached.
        hot = []
        for idx in indices:
            t = time.perf_counter()
            tree.prove_inclusion(idx + 1, size)
            hot.append((time.perf_counter() - t) * 1e3)
        print(
            f"inclusion proofs at {size}: hashes identical to ours after pymerkle's leading leaf "
            f"hash, all {len(indices)} verified by pymerkle against our root"
        )
        om, op95 = statistics.median(ours.incl_ms), _p95(ours.incl_ms)
        for label, times in (
            (f"cold, cache cleared before each ({len(cold)})", cold),
            (f"in sequence, cache on ({len(warm)}, as ours)", warm),
            (f"hot, same {len(hot)} again, all cached", hot),
        ):
            print(
                f"  pymerkle inclusion, {label}: median {statistics.median(times):.3f} ms, "
                f"p95 {_p95(times):.3f} ms   (ours median {om:.3f} ms, p95 {op95:.3f} ms)"
            )
            short = label.split(",")[0]
            summary.add(
                f"inclusion proof median at {size}, {short}",
                _speed(om, statistics.median(times), higher_is_faster=False),
            )
            summary.add(
                f"inclusion proof p95 at {size}, {short}",
                _speed(op95, _p95(times), higher_is_faster=False),
            )
        peer_bytes = statistics.median(sizes)
        ours_bytes = statistics.median(ours.incl_bytes)
        print(
            f"  proof size: pymerkle median {peer_bytes:.0f} bytes ({peer_bytes / 32:.0f} hashes: "
            f"the leaf hash + its siblings, plus one rule bit per hash); "
            f"ours {ours_bytes:.0f} bytes (siblings only)"
        )
        print(f"    -> ours/peer size {ours_bytes / peer_bytes:.3g}")

        tree.cache_clear()
        ctimes, cbytes = [], []
        for first in firsts:
            t = time.perf_counter()
            cproof = tree.prove_consistency(first, size)
            ctimes.append((time.perf_counter() - t) * 1e3)
            cbytes.append(len(cproof.path) * 32)
            pymerkle.verify_consistency(
                ledger.root(first),
                root,
                cproof,
                prior_size=first,
                later_size=size,
                algorithm="sha256",
            )
        oc = statistics.median(ours.cons_ms)
        print(
            f"  pymerkle consistency proof ({len(firsts)} in sequence, cache on): median "
            f"{statistics.median(ctimes):.3f} ms, {statistics.median(cbytes):.0f} bytes "
            f"(ours median {oc:.3f} ms, {statistics.median(ours.cons_bytes):.0f} bytes); "
            "its path layout is its own, not RFC 9162 §2.1.4, "
            "but every proof verified against our roots"
        )
        summary.add(
            f"consistency proof median at {size}",
            _speed(oc, statistics.median(ctimes), higher_is_faster=False),
        )

        # pymerkle has no audit. Its own full recomputation: the root from every stored leaf
        # hash (cache cleared); it does not re-hash entries.
        tree.cache_clear()
        t = time.perf_counter()
        recomputed = tree.get_root()
        api_s = time.perf_counter() - t
        assert recomputed == root
        # Closest analogue to our audit, bench code over its table with its hasher: re-hash
        # every stored entry, compare with the stored leaf hash, then recompute the root.
        tree.cache_clear()
        t = time.perf_counter()
        con = sqlite3.connect(tree.dbfile)
        cur = con.execute("SELECT id, entry, hash FROM leaf ORDER BY id")
        hash_buff, expect = tree.hash_buff, 1
        while rows := cur.fetchmany(5000):
            for leaf_id, entry, stored in rows:
                if leaf_id != expect or hash_buff(entry) != stored:
                    raise SystemExit(f"pymerkle leaf {leaf_id} does not re-hash to its hash")
                expect += 1
        con.close()
        rehashed = tree.get_root()
        rehash_s = time.perf_counter() - t
        assert rehashed == root and expect == size + 1
        print(
            f"  pymerkle get_root() from all {size} stored leaf hashes, cache cleared "
            f"(its own API; no entry re-hash, no chain, no signature): {api_s:.3f} s"
        )
        print(
            f"  pymerkle re-hash of every entry + get_root() (bench code with its hasher; "
            f"it has no audit): {rehash_s:.3f} s   (our full audit: {ours_audit_s:.3f} s, which "
            "also parses every record, checks the hash chain, every stored node and the "
            "checkpoint signature)"
        )
        summary.add(
            "our audit vs its re-hash + root (analogue)",
            _speed(ours_audit_s, rehash_s, higher_is_faster=False),
        )
        summary.add(
            "our audit vs its get_root() recomputation",
            _speed(ours_audit_s, api_s, higher_is_faster=False),
        )
    finally:
        tree.close()


# --- the runs -------------------------------------------------------------------------------


def _compute_floor(*, batch: int = 1000, batches: int = 20) -> list[float]:
    """Entries/s of an append's work outside the database: canonicalising the bodies,
    building and hashing the records, the Entry objects and the tree's new nodes, exactly
    as the writer does them, with nothing stored."""
    frontier, prev, rates = CompactRange(), bytes(32), []
    for b in range(batches):
        items = [("bench", {**BODY, "i": i}) for i in range(b * batch, (b + 1) * batch)]
        t = time.perf_counter()
        now = datetime.now(UTC)
        entries, _ = _chain(_prepare(items), size=b * batch, prev=prev, ts=format_ts(now), now=now)
        frontier.extend_rows([e.leaf_hash for e in entries], min_level=LOWEST_NODE_LEVEL)
        rates.append(batch / (time.perf_counter() - t))
        prev = entries[-1].leaf_hash
    return rates


def _storage_floor(path: str, *, batch: int = 1000, batches: int = 20) -> list[float]:
    """Entries/s of our storage format alone: each batch's rows (entries and tree nodes) built
    beforehand, then only inserted and committed, as the ledger does, with nothing else timed.
    """
    engine = make_engine(f"sqlite:///{path}")
    Ledger(engine)  # creates the tables
    frontier, prev, now = CompactRange(), bytes(32), datetime.now(UTC)
    columns = ("idx", "kind", "record", "prev_hash", "leaf_hash", "created_at")
    rates = []
    for b in range(batches):
        rows, leaves = [], []
        for i in range(b * batch, (b + 1) * batch):
            body = canonical_json({**BODY, "i": i})
            record = make_record(
                index=i, kind="bench", body_json=body, prev=prev, ts=format_ts(now)
            )
            leaf = leaf_hash(record)
            rows.append((i, "bench", record, prev, leaf, now))
            leaves.append(leaf)
            prev = leaf
        nodes = frontier.extend_rows(leaves, min_level=LOWEST_NODE_LEVEL)
        t = time.perf_counter()
        with engine.connect() as conn, conn.begin():
            insert_rows(conn, entries_table, columns, rows)
            insert_rows(conn, nodes_table, NODE_COLUMNS, nodes)
        rates.append(batch / (time.perf_counter() - t))
    engine.dispose()
    return rates


def _appends(
    name: str,
    engine: Engine,
    *,
    peer_path: str | None = None,
    floor_path: str | None = None,
    summary: Summary | None = None,
) -> None:
    ledger = Ledger(engine)
    peer = _peer_tree(peer_path) if peer_path else None
    try:
        single, peer_single = _rate(ledger, batch=1, batches=300, peer=peer)
        batched, peer_batched = _rate(ledger, batch=1000, batches=20, peer=peer)
        if peer is not None:
            assert peer.get_size() == ledger.size()
    finally:
        if peer is not None:
            peer.close()
    print(
        f"{name:10} single appends/s: median {statistics.median(single):9.0f}   "
        f"batched (1000) appends/s: median {statistics.median(batched):9.0f}, "
        f"best {max(batched):9.0f}"
    )
    if peer is None or summary is None:
        return
    print(
        f"{'pymerkle':10} single appends/s: median {statistics.median(peer_single):9.0f}   "
        f"batched (1000) appends/s: median {statistics.median(peer_batched):9.0f}, "
        f"best {max(peer_batched):9.0f}   (append_entry / append_entries of the same record "
        "bytes, each call right after ours)"
    )
    print(
        "    (single appends wait for one fsync per commit on both sides, synchronous=FULL; "
        "where fsync latency varies, as on shared VMs, this ratio moves from run to run)"
    )
    summary.add(
        "single appends/s, SQLite, median",
        _speed(statistics.median(single), statistics.median(peer_single), higher_is_faster=True),
    )
    summary.add(
        "batched (1000) appends/s, SQLite, median",
        _speed(statistics.median(batched), statistics.median(peer_batched), higher_is_faster=True),
    )
    if floor_path is None:
        return
    floor = _storage_floor(floor_path)
    print(
        f"storage floor: our rows alone (1 entry row per entry, 1 node row per ~8), "
        f"prebuilt, inserted and committed in batches of 1000: median "
        f"{statistics.median(floor):.0f} entries/s (pymerkle's whole append of 1 row above: "
        f"{statistics.median(peer_batched):.0f}/s)"
    )
    summary.add(
        "batched: our rows alone (no JSON, no hashing)",
        _speed(statistics.median(floor), statistics.median(peer_batched), higher_is_faster=True),
    )
    compute = _compute_floor()
    print(
        f"compute floor: our work outside the database alone (canonical JSON, records, leaf and "
        f"node hashes, Entry objects), batches of 1000: median {statistics.median(compute):.0f} "
        f"entries/s (pymerkle's whole append: {statistics.median(peer_batched):.0f}/s); an "
        "append costs about the sum of the two floors' times"
    )
    summary.add(
        "batched: our work outside the database alone",
        _speed(statistics.median(compute), statistics.median(peer_batched), higher_is_faster=True),
    )


def _large(
    entries: int, signer: Signer, verifier: str, *, peer_entries: int, summary: Summary
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/large.db")
        ledger = Ledger(engine)
        # The peer is built alongside only when it is compared at this size.
        peer = _peer_tree(f"{tmp}/pymerkle.db") if peer_entries == entries else None
        build, peer_build = _build(ledger, entries, peer)
        ledger.sign_checkpoint(signer)
        size = ledger.size()
        ours = _ours_proofs(ledger, size)
        print(
            f"built {size} entries in {build:.1f} s ({size / build:.0f} appends/s, "
            f"batches of {BUILD_BATCH:,})"
        )
        _print_ours(ours)
        audit_s, line = _audit(engine, verifier)
        print(line)
        if peer is not None:
            print(f"\n== pymerkle at {size} entries, same run, same record bytes ==")
            _peer_compare(peer, peer_build, ledger, ours, build, audit_s, summary)
        engine.dispose()
    if 0 < peer_entries < entries:
        print(
            f"\n== pymerkle at {peer_entries} entries (--peer-entries, below --entries "
            f"{entries}); ours built again at {peer_entries} for equal-size ratios, same "
            "record bytes =="
        )
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/peer-size.db")
            ledger = Ledger(engine)
            peer = _peer_tree(f"{tmp}/pymerkle.db")
            build, peer_build = _build(ledger, peer_entries, peer)
            ledger.sign_checkpoint(signer)
            ours = _ours_proofs(ledger, peer_entries)
            print(
                f"ours: built {peer_entries} entries in {build:.1f} s "
                f"({peer_entries / build:.0f} appends/s)"
            )
            _print_ours(ours)
            audit_s, line = _audit(engine, verifier)
            print(line)
            _peer_compare(peer, peer_build, ledger, ours, build, audit_s, summary)
            engine.dispose()


def main() -> None:
    """Run the measurements and print them."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument(
        "--peer-entries",
        type=int,
        default=None,
        help="tree size for the pymerkle comparison (default and cap: --entries; 0 skips it)",
    )
    ap.add_argument(
        "--postgres",
        default=os.environ.get(
            "FRESHPROOF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = ap.parse_args()
    peer_entries = (
        args.entries if args.peer_entries is None else min(args.peer_entries, args.entries)
    )
    print(f"{os.cpu_count()} CPUs")
    if pymerkle is None:
        print(
            f"peer: pymerkle is not usable ({PEER_MISSING}); install the bench extra "
            "(pip install -e '.[bench]') for same-run ratios. Peer skipped: our figures below "
            "have NO same-run ratio."
        )
        peer_entries = 0
    elif peer_entries <= 0:
        print("peer: skipped (--peer-entries 0); our figures below have NO same-run ratio.")
    else:
        print(
            f"peer: pymerkle {pymerkle.__version__} SqliteTree, sha256, "
            "0x00/0x01 prefixes (disable_security=False)"
        )
        print(STORES)
    summary = Summary()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        peer_path = f"{tmp}/pymerkle-rates.db" if peer_entries else None
        floor_path = f"{tmp}/floor.db" if peer_entries else None
        _appends("SQLite", engine, peer_path=peer_path, floor_path=floor_path, summary=summary)
        engine.dispose()
    try:
        engine = make_engine(args.postgres)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS fp_bench CASCADE"))
            conn.execute(text("CREATE SCHEMA fp_bench"))
        engine.dispose()
        engine = make_engine(args.postgres, connect_args={"options": "-csearch_path=fp_bench"})
        _appends("PostgreSQL", engine)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA fp_bench CASCADE"))
        engine.dispose()
        if peer_entries:
            print("PostgreSQL: pymerkle has no PostgreSQL backend, so these have no peer ratio")
    except Exception as exc:  # a bench reports what it could not measure and goes on
        print(f"PostgreSQL: not measured ({type(exc).__name__}: {exc})")
    signer_text, verifier = generate_key("bench.local/ledger")
    _large(
        args.entries,
        Signer.from_string(signer_text),
        verifier,
        peer_entries=peer_entries,
        summary=summary,
    )
    if summary.lines:
        print("\nours vs pymerkle, measured in this run on this machine:")
        print("\n".join(summary.lines))


if __name__ == "__main__":
    main()
