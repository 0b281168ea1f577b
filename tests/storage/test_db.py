"""SQLite engines: opening a database another connection holds locked."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text

from storage.db import make_engine


def test_opening_waits_out_a_lock_held_while_switching_to_wal(tmp_path: Path) -> None:
    # Switching to WAL fails at once while another connection holds a lock, busy timeout or
    # not: two workers starting on one fresh data dir had one die with "database is locked".
    path = tmp_path / "fresh.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.3, holder.execute, args=("COMMIT",))
    release.start()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("SELECT x FROM t")).scalar() == 1  # after the commit
    finally:
        release.join()
        engine.dispose()
        holder.close()
