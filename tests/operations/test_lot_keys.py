"""Lots by their one name on the dashboard: claims filed by a lot's Digital Link, its LGTIN
URN and its bare number are one lot, and its delivered quantity is found under the URN its
parties recorded; two companies' lots that share a number stay apart (``seed_lot_names``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ledger.log import Ledger
from operations.dashboard import operations_dashboard
from operations.facts import lot_counts
from operations.warning import LotCounts
from storage.db import make_engine
from storage.schema import metadata
from supplychain.quantities import delivered_quantities
from tests.operations.handbuilt import NOW, seed_lot_names

PEAR = "https://id.gs1.org/01/04012345123456/10/PEAR-9"
L1_OURS = "https://id.gs1.org/01/04012345123456/10/L1"
L1_THEIRS = "https://id.gs1.org/01/04098765543210/10/L1"
PEAR_ON_THE_PACK = "https://shop.example.com/01/04012345123456/10/PEAR-9"
PEAR_URN = "urn:epc:class:lgtin:4012345.012345.PEAR-9"


@pytest.fixture
def named(tmp_path: Path) -> Iterator[Ledger]:
    """Claims on PEAR-9 and on two companies' L1 by their several names, on SQLite."""
    engine = make_engine(f"sqlite:///{tmp_path / 'names.db'}")
    metadata.create_all(engine)
    ledger = Ledger(engine)
    seed_lot_names(engine, ledger)
    yield ledger
    engine.dispose()


def test_a_lots_claims_by_each_of_its_names_count_as_one_lot(named: Ledger) -> None:
    with named.engine.connect() as conn:
        rows = lot_counts(
            conn,
            recent_since=NOW - timedelta(days=3),
            baseline_since=NOW - timedelta(days=28),
            until=NOW + timedelta(microseconds=1),
        )
    assert rows == [
        LotCounts("L1", "chilled_produce", 2, 2),  # the shared number: neither company's lot
        LotCounts(L1_OURS, "chilled_produce", 1, 1),
        LotCounts(PEAR, "chilled_produce", 3, 3),  # by QR code, URN and number
        LotCounts(L1_THEIRS, "chilled_produce", 1, 1),
    ]
    board = operations_dashboard(engine=named.engine, ledger=named, now=NOW, days=1)
    assert [(s.key, s.claims) for s in board.by_lot] == [
        (PEAR, 3),
        ("L1", 2),
        (L1_OURS, 1),
        (L1_THEIRS, 1),
    ]
    warned = {w.lot: (w.claims, w.units) for w in board.warnings}
    assert warned == {
        PEAR: (3, 200),  # recorded by the URN, found by the key
        L1_OURS: (1, 300),
        L1_THEIRS: (1, 500),
        "L1": (2, None),  # whose L1 it was is a person's call: no quantity
    }
    assert board.warnings[-1].lot == "L1" and board.warnings[-1].ranked_by_claims_alone


def test_a_lots_delivered_quantity_under_each_of_its_names(named: Ledger) -> None:
    units = delivered_quantities(
        ledger=named, lots=[PEAR_ON_THE_PACK, PEAR, PEAR_URN, "PEAR-9", "L1", L1_THEIRS]
    )
    assert {k: (v.lot, v.quantity, v.biz_step) for k, v in units.items()} == {
        PEAR_ON_THE_PACK: (PEAR_ON_THE_PACK, 200, "receiving"),
        PEAR: (PEAR, 200, "receiving"),
        PEAR_URN: (PEAR_URN, 200, "receiving"),
        "PEAR-9": ("PEAR-9", 200, "receiving"),
        L1_THEIRS: (L1_THEIRS, 500, "receiving"),
    }
    assert len({v.ledger_index for k, v in units.items() if k != L1_THEIRS}) == 1
