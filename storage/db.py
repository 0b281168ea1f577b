"""SQLAlchemy engines: SQLite (embedded default) and PostgreSQL, tuned for a single writer."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

__all__ = ["make_engine", "read_snapshot"]

SQLITE_BUSY_SECONDS = 30.0
"""How long a SQLite statement waits for another connection's lock before failing."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers (proof requests) run while the one writer appends.
            _enter_wal(cur)
            # FULL: a power cut must not lose entries a published checkpoint already signed.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _enter_wal(cur: sqlite3.Cursor, *, wait: float = SQLITE_BUSY_SECONDS) -> None:
    """``PRAGMA journal_mode=WAL``, waiting out another connection's lock.

    Switching the journal mode fails at once with "database is locked" while another
    connection holds a lock, whatever the busy timeout: two processes opening one new
    database file together (an API and a worker on a fresh data dir) had one of them die at
    start-up. Retried here until ``wait`` seconds have passed, as any other statement waits.
    """
    deadline = time.monotonic() + wait
    pause = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one committed state, for an answer put together from
    several ``SELECT``s (a claim, its payment, its proposal, its ticket).

    Without it each statement sees what was committed when it ran: SQLite outside a
    transaction and PostgreSQL at READ COMMITTED alike. A claim read while a second person's
    approval committed showed the claim row from before the approval and the payment from
    after it: paid, with no decision (the shop-week simulation caught one). SQLite: a
    deferred ``BEGIN``, whose first read fixes the snapshot in WAL mode (readers take no
    lock a writer waits on). PostgreSQL: REPEATABLE READ, one snapshot for the transaction.
    Read-only: nothing is committed; the transaction ends with the connection.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            dbapi: Any = conn.connection.dbapi_connection
            if dbapi is not None and not dbapi.in_transaction:
                conn.exec_driver_sql("BEGIN")
        else:
            conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn  # closing the connection rolls its transaction back
