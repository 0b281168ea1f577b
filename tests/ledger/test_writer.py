"""Ledger.writer: projections commit and roll back together with the entries."""

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

from ledger.log import Ledger

meta = MetaData()
side = Table(
    "side_projection", meta, Column("idx", Integer, primary_key=True), Column("note", String(50))
)


def _ledger(tmp_path: Path) -> Ledger:
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    meta.create_all(engine)
    return Ledger(engine)


def test_projection_commits_with_entries(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    with ledger.writer() as w:
        first = w.append_many([("a", {"x": 1})])
        second = w.append_many([("b", {"x": 2})])  # several batches in one transaction
        w.conn.execute(insert(side).values(idx=second[0].index, note="b"))
    assert [e.index for e in first + second] == [0, 1]
    assert second[0].prev_hash == first[0].leaf_hash
    with ledger.engine.connect() as conn:
        assert conn.execute(select(side.c.note)).scalars().all() == ["b"]
    assert ledger.size() == 2


def test_failure_rolls_back_entries_and_projection(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.append(kind="a", body={})
    with pytest.raises(RuntimeError), ledger.writer() as w:
        entries = w.append_many([("b", {"x": 2})])
        w.conn.execute(insert(side).values(idx=entries[0].index, note="b"))
        raise RuntimeError("crash before commit")
    assert ledger.size() == 1
    with ledger.engine.connect() as conn:
        assert conn.execute(select(side.c.note)).scalars().all() == []
    assert ledger.append(kind="c", body={}).index == 1
