"""Fixtures for the supply-chain tests: the log's engines, clock and ledger (tests.ledger)."""

from __future__ import annotations

from tests.ledger.conftest import clock, db, db_spec, ledger, sqlite_db, sqlite_ledger

__all__ = ["clock", "db", "db_spec", "ledger", "sqlite_db", "sqlite_ledger"]
