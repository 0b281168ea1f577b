"""Lots by their one name on the dashboard: claims filed by a lot's Digital Link, its LGTIN
URN and its bare number are one lot, and its delivered quantity is found under the URN its
parties recorded; two companies' lots that share a number stay apart (``seed_lot_names``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.log import Ledger
from storage.db import make_engine
from storage.schema import metadata
from supplychain.quantities import delivered_quantities
from tests.operations.handbuilt import seed_lot_names

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
