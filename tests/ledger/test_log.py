"""The Ledger on SQLite and (marked postgres) PostgreSQL: chain, tree, atomicity, locking."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
import rfc8785
import sqlalchemy as sa

from ledger import (
    CanonicalJSONError,
    InvalidEntryError,
    InvalidIndexError,
    Ledger,
    audit,
    leaf_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from ledger.record import GENESIS_PREV
from tests.ledger.reference import failing

REPO = Path(__file__).resolve().parents[2]
Items = list[tuple[str, dict[str, Any]]]


class DbSpec(Protocol):
    """The conftest's database spec, structurally (conftest is not importable by name)."""

    url: str
    connect_args: dict[str, str]

    def engine(self) -> sa.Engine: ...


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Record every SQL statement the engine sends to the driver."""
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_first_entry_links_to_genesis(ledger: Ledger) -> None:
    entry = ledger.append(kind="claim.opened", body={"claim": "c-1"})
    assert (entry.index, entry.kind, entry.body) == (0, "claim.opened", {"claim": "c-1"})
    assert entry.prev_hash == GENESIS_PREV
    assert entry.leaf_hash == leaf_hash(entry.record)
    assert ledger.size() == 1
    assert ledger.root() == entry.leaf_hash


def test_record_is_the_rfc8785_canonical_envelope(ledger: Ledger) -> None:
    body = {"z": 1.5, "a": [None, True], "\u20ac": "\U0001f600", "\ufb33": "é\n"}
    first = ledger.append(kind="k", body={})
    entry = ledger.append(kind="photo.\u00e9valuated", body=body)
    envelope = json.loads(entry.record)
    assert envelope == {
        "body": body,
        "index": 1,
        "kind": "photo.\u00e9valuated",
        "prev": first.leaf_hash.hex(),
        "ts": "2024-05-01T12:00:02.000000Z",
        "v": 1,
    }
    assert entry.record == rfc8785.dumps(envelope)


def test_entries_form_a_hash_chain_and_read_back(
    ledger: Ledger, bodies: Callable[..., Items]
) -> None:
    appended = [*ledger.append_many(bodies(5)), ledger.append(kind="x", body={"y": 1})]
    assert [e.index for e in appended] == list(range(6))
    for previous, entry in itertools.pairwise(appended):
        assert entry.prev_hash == previous.leaf_hash
        assert json.loads(entry.record)["prev"] == previous.leaf_hash.hex()
    assert [ledger.entry(i) for i in range(6)] == appended


def test_roots_and_proofs_for_every_size(ledger: Ledger, bodies: Callable[..., Items]) -> None:
    entries = []
    for start, n in [(0, 1), (1, 6), (7, 9), (16, 1), (17, 20)]:
        entries += ledger.append_many(bodies(n, start=start))
    leaves = [e.leaf_hash for e in entries]
    size = len(leaves)
    roots = [ledger.root(s) for s in range(size + 1)]
    assert roots == [root_from_leaves(leaves[:s]) for s in range(size + 1)]
    assert ledger.root() == roots[-1]
    for tree_size in range(1, size + 1):
        for index in {0, tree_size // 2, tree_size - 1}:
            verify_inclusion(
                leaf_index=index,
                tree_size=tree_size,
                leaf_hash=leaves[index],
                proof=ledger.inclusion_proof(index, tree_size),
                root=roots[tree_size],
            )
        verify_consistency(
            size1=tree_size,
            size2=size,
            proof=ledger.consistency_proof(tree_size, size),
            root1=roots[tree_size],
            root2=roots[-1],
        )
    assert ledger.consistency_proof(5) == ledger.consistency_proof(5, size)
    assert ledger.inclusion_proof(3) == ledger.inclusion_proof(3, size)


def test_out_of_range_reads_raise(ledger: Ledger, bodies: Callable[..., Items]) -> None:
    ledger.append_many(bodies(4))
    for call in [
        lambda: ledger.entry(4),
        lambda: ledger.entry(-1),
        lambda: ledger.root(5),
        lambda: ledger.inclusion_proof(4, 4),
        lambda: ledger.inclusion_proof(0, 5),
        lambda: ledger.consistency_proof(0, 4),
        lambda: ledger.consistency_proof(3, 5),
    ]:
        with pytest.raises(InvalidIndexError):
            call()


def test_empty_ledger(ledger: Ledger) -> None:
    assert ledger.size() == 0
    assert ledger.root() == root_from_leaves([])
    assert ledger.append_many([]) == []


@pytest.mark.parametrize(
    ("kind", "body", "error"),
    [
        ("", {}, InvalidEntryError),
        ("x" * 101, {}, InvalidEntryError),
        ("bad\nkind", {}, InvalidEntryError),
        ("k", ["not", "an", "object"], InvalidEntryError),
        ("k", {"n": float("nan")}, CanonicalJSONError),
        ("k", {"s": {1, 2}}, CanonicalJSONError),
    ],
    ids=["empty-kind", "long-kind", "control-kind", "list-body", "nan", "set"],
)
def test_invalid_entries_are_rejected(
    ledger: Ledger, kind: str, body: Any, error: type[Exception]
) -> None:
    ledger.append(kind="ok", body={})
    with pytest.raises(error):
        ledger.append(kind=kind, body=body)
    assert ledger.size() == 1


def test_bad_item_mid_batch_appends_nothing(ledger: Ledger, bodies: Callable[..., Items]) -> None:
    ledger.append_many(bodies(2))
    batch = [*bodies(2, start=2), ("k", {"when": object()}), *bodies(2, start=4)]
    with pytest.raises(CanonicalJSONError):
        ledger.append_many(batch)
    assert ledger.size() == 2


@pytest.mark.parametrize("table", ["ledger_nodes", "ledger_entries"])
def test_database_failure_mid_append_rolls_back_everything(
    ledger: Ledger, bodies: Callable[..., Items], table: str
) -> None:
    before = ledger.append_many(bodies(3))
    root = ledger.root()
    # The batch's entries 3..32 complete the nodes (4, 0), (4, 1) and (5, 0); the fault is
    # on entry 5, or on node (4, 1), the second of the three.
    idx = 5 if table == "ledger_entries" else 1
    with failing(ledger.engine, table, idx), pytest.raises(sa.exc.DBAPIError, match="injected"):
        ledger.append_many(bodies(30, start=3))
    assert ledger.size() == 3
    assert count(ledger.engine, "ledger_entries") == 3
    assert count(ledger.engine, "ledger_nodes") == 0
    assert ledger.root() == root
    # The log carries on from the same head after the failed batch.
    after = ledger.append_many(bodies(30, start=3))
    assert after[0].index == 3 and after[0].prev_hash == before[-1].leaf_hash
    assert count(ledger.engine, "ledger_nodes") == 3
    assert audit(ledger).size == 33


def test_nothing_is_ever_updated_or_deleted(
    ledger: Ledger, bodies: Callable[..., Items], keys: tuple[str, str]
) -> None:
    with statements(ledger.engine) as seen:
        ledger.append_many(bodies(10))
        ledger.sign_checkpoint(keys[0])
        ledger.append(kind="k", body={})
        ledger.sign_checkpoint(keys[0])
        ledger.inclusion_proof(3)
        ledger.consistency_proof(4)
        audit(ledger, verifier_key=keys[1])
    verbs = {s.lstrip().split(None, 1)[0].upper() for s in seen}
    assert "INSERT" in verbs
    assert not verbs & {"UPDATE", "DELETE", "DROP", "TRUNCATE", "ALTER"}


def test_a_second_ledger_object_continues_the_chain(db: sa.Engine) -> None:
    first = Ledger(db).append(kind="a", body={})
    second = Ledger(db).append(kind="b", body={})
    assert (second.index, second.prev_hash) == (1, first.leaf_hash)


def test_threads_appending_concurrently_keep_one_chain(
    ledger: Ledger, bodies: Callable[..., Items]
) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for batch in range(10):
                ledger.append_many(bodies(3, start=1000 * n + 10 * batch))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert audit(ledger).size == 120


_WORKER = """
import json, sys
import sqlalchemy as sa
from ledger import Ledger
url, connect_args, worker = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
engine = sa.create_engine(url, connect_args=connect_args)
ledger = Ledger(engine, create_tables=False)
for batch in range(10):
    ledger.append_many([("proc", {"w": worker, "b": batch, "i": i}) for i in range(4)])
"""


def test_processes_appending_concurrently_keep_one_chain(db_spec: DbSpec) -> None:
    # Separate processes share no threading lock: only BEGIN IMMEDIATE (SQLite) or the
    # advisory lock (PostgreSQL) stands between them and a forked chain.
    engine = db_spec.engine()
    try:
        ledger = Ledger(engine)
        args = [db_spec.url, json.dumps(db_spec.connect_args)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, *args, str(n)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(3)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        report = audit(ledger)
        assert report.size == 3 * 10 * 4
        workers = [json.loads(ledger.entry(i).record)["body"]["w"] for i in range(report.size)]
        assert sorted(workers) == sorted([0, 1, 2] * 40)
    finally:
        engine.dispose()


def test_batched_append_is_one_transaction_of_bulk_statements(
    sqlite_ledger: Ledger, bodies: Callable[..., Items]
) -> None:
    # The append rate is measured in bench/ledger.py. What makes it fast is structural: a
    # batch is one transaction of executemany statements, not a commit or a tree walk per row.
    sqlite_ledger.append_many(bodies(10))  # table creation, first pages
    statements: list[str] = []
    commits: list[int] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = sqlite_ledger.engine
    sa.event.listen(engine, "before_cursor_execute", on_execute)
    sa.event.listen(engine, "commit", lambda conn: commits.append(1))
    try:
        sqlite_ledger.append_many(bodies(1000, start=10))
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_execute)
    assert len(commits) == 1
    assert len(statements) < 20, statements
    assert sqlite_ledger.size() == 1010


def test_record_timestamps_are_strftimes_text() -> None:
    # format_ts builds the text from isoformat (cheaper); it must stay strftime's, byte for
    # byte, whatever the offset or the microseconds.
    import random
    from datetime import UTC, datetime, timedelta, timezone

    from ledger.record import format_ts

    rng = random.Random(3)
    for _ in range(2000):
        moment = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(0, 60 * 366 * 24 * 3600), microseconds=rng.randrange(10**6)
        )
        zone = timezone(timedelta(minutes=rng.randrange(-14 * 60, 14 * 60 + 1)))
        local = moment.astimezone(zone)
        assert format_ts(local) == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert format_ts(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"
