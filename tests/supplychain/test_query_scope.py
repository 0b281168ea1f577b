"""Which events a supply-chain key reads (``supplychain.query.scope``), on SQLite and PostgreSQL.

A party reads every event about a lot it took part in, whoever captured it, and nothing of
another company's lot; an outsider reads nothing. Checked on both databases through the same
``search_events`` the API calls, with ledgers where the other company's events far outnumber
the party's (the rule's SQL once cost a scan of every lot key per event walked).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from ledger.log import Ledger
from supplychain.capture import capture_events
from supplychain.epcis import parse_document
from supplychain.query.scope import Scope
from supplychain.query.search import search_events
from tests.epcis_events import document, lot_event

FARM, CARRIER, OTHER = (
    "urn:epc:id:pgln:4011111.00000",
    "urn:epc:id:pgln:4033333.00000",
    "urn:epc:id:pgln:4022222.00000",
)
OUTSIDER = "urn:epc:id:pgln:4099999.00000"
LOT, OTHER_LOT = (
    "urn:epc:class:lgtin:4011111.011111.S1",
    "urn:epc:class:lgtin:4022222.022222.S2",
)
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _seeded(engine: Engine) -> Ledger:
    """The farm's lot: its shipment to the carrier, then a reading captured by nobody of the
    chain (an admin's import); the other company's lot: 300 events the farm is named in none of."""
    ledger = Ledger(engine)
    ours = document(
        lot_event(LOT, T0, "shipping", src=FARM, dst=CARRIER),
        lot_event(LOT, T0 + timedelta(hours=3), "inspecting", temps=(4.0, 4.5)),
    )
    capture_events(ledger=ledger, events_in=parse_document(ours), speaks_for=[FARM])
    theirs = document(
        *(
            lot_event(OTHER_LOT, T0 + timedelta(minutes=n), "shipping", src=OTHER, dst=CARRIER)
            for n in range(300)
        )
    )
    capture_events(ledger=ledger, events_in=parse_document(theirs), speaks_for=[OTHER])
    return ledger


def _read(engine: Engine, parties: list[str] | None) -> list[str]:
    scope = Scope.everything() if parties is None else Scope.of_parties(parties)
    page = search_events(engine=engine, params=[("perPage", "1000")], scope=scope, secret=b"s")
    lots = []
    for event in page.events:
        (quantity,) = event["quantityList"]
        lots.append(quantity["epcClass"])
    return lots


def test_each_party_reads_the_lots_it_took_part_in_and_an_outsider_none(store_db: Engine) -> None:
    _seeded(store_db)
    # The farm: both events of its lot, the reading it did not capture included.
    assert _read(store_db, [FARM]) == [LOT, LOT]
    # The other company: its own 300, nothing of the farm's.
    assert _read(store_db, [OTHER]) == [OTHER_LOT] * 300
    # The carrier took part in both lots: it reads both.
    assert sorted(set(_read(store_db, [CARRIER]))) == sorted({LOT, OTHER_LOT})
    assert len(_read(store_db, [CARRIER])) == 302
    # Named nowhere: nothing, however many events the ledger holds; staff: everything.
    assert _read(store_db, [OUTSIDER]) == []
    assert _read(store_db, []) == []
    assert len(_read(store_db, None)) == 302
