"""Migrations reach domain functions through registered backfills, never by importing up."""

from __future__ import annotations

import pytest

from api.database import load_tables
from storage.backfills import MissingBackfillError, backfill


def test_loading_the_tables_registers_the_review_queue_backfill() -> None:
    load_tables()
    from claims.queue_index import refresh_queue

    assert backfill("review_queue") is refresh_queue


def test_a_backfill_nobody_registered_is_a_clear_error() -> None:
    with pytest.raises(MissingBackfillError) as raised:
        backfill("no-such-backfill")
    assert raised.value.name == "no-such-backfill"
    assert "api.database.load_tables" in str(raised.value)
