"""An EPCIS query's cost as the ledger grows: the scope rule (which events a supply-chain key
reads) against the rule's former SQL, measured in the same run on the same database.

    .venv/bin/python bench/epcis_scope.py [--sizes 1000,3000,10000] [--postgres URL]

Seeds a ledger with one farm's lot (2 events) and ``size`` events of another company's lots
(captured as ``POST /v1/events`` captures them, in documents of 1,000), then times the first
page (``perPage=1000``) of ``GET /v1/events`` for three keys: an outsider named nowhere, the
farm (2 events among them all), and the other company (its own ``size``). Ours is
``supplychain.query.search``'s statement; the peer is the same statement with the scope
test written as it was before (the lot keys joined inside the correlated EXISTS). Both must
select the same events, or the bench stops. Medians of ``--reps``; the peer is skipped at a
size once one of its queries took over ``--peer-cap`` seconds.

Measured 2026-12-07 (2 shared cores, 10^4 other events): SQLite outsider 0.037 s against
62.8 s before (1686x), the farm 0.038 against 62.6 s, the other company 0.049 against
0.024 s (0.5x: its set of lot keys is built on every page); PostgreSQL 1.0-1.1x for the
first two and 11.4x for the company (0.095 against 1.090 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import ColumnElement, Engine, and_, exists, or_, text, true  # noqa: E402
from sqlalchemy.orm import aliased  # noqa: E402

from ledger.log import Ledger  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.schema import metadata  # noqa: E402
from supplychain.capture import capture_events  # noqa: E402
from supplychain.epcis import parse_document  # noqa: E402
from supplychain.projections import event_values, events  # noqa: E402
from supplychain.query import search  # noqa: E402
from supplychain.query.index import LOT_KEY, PARTY  # noqa: E402
from supplychain.query.params import read_query  # noqa: E402
from supplychain.query.scope import Scope, visible  # noqa: E402

FARM, OTHER, CARRIER = (
    "urn:epc:id:pgln:4011111.00000",
    "urn:epc:id:pgln:4022222.00000",
    "urn:epc:id:pgln:4033333.00000",
)
OUTSIDER = "urn:epc:id:pgln:4099999.00000"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _event(i: int, lot: str, src: str) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "eventTime": (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+00:00",
        "quantityList": [{"epcClass": lot, "quantity": 1, "uom": "KGM"}],
        "sourceList": [{"type": "possessing_party", "source": src}],
        "destinationList": [{"type": "possessing_party", "destination": CARRIER}],
    }


def _capture(ledger: Ledger, events: list[dict[str, Any]], party: str) -> None:
    for start in range(0, len(events), 1000):
        doc = {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-01-02T00:00:00Z",
            "epcisBody": {"eventList": events[start : start + 1000]},
        }
        capture_events(ledger=ledger, events_in=parse_document(doc), speaks_for=[party])


def seed(engine: Engine, size: int) -> None:
    """The farm's lot, then ``size`` events of the other company's 100 lots."""
    metadata.create_all(engine)
    ledger = Ledger(engine)
    _capture(
        ledger, [_event(i, "urn:epc:class:lgtin:4011111.011111.F1", FARM) for i in range(2)], FARM
    )
    other = [
        _event(10 + i, f"urn:epc:class:lgtin:4022222.022222.L{i % 100}", OTHER) for i in range(size)
    ]
    _capture(ledger, other, OTHER)


def former_visible(scope: Scope, hash_id: ColumnElement[str]) -> ColumnElement[bool]:
    """The scope test as it was written before: the lot keys joined inside the correlated
    EXISTS (the same rule: the events naming the parties, or about a lot one of those is)."""
    if scope.parties is None:
        return true()
    parties = sorted(scope.parties)
    mine, theirs, same, named = (aliased(event_values, name=n) for n in ("m", "t", "s", "n"))
    names_them = exists().where(
        and_(mine.c.hash_id == hash_id, mine.c.field == PARTY, mine.c.value.in_(parties))
    )
    about_their_lot = exists().where(
        and_(
            theirs.c.hash_id == hash_id,
            theirs.c.field == LOT_KEY,
            same.c.field == LOT_KEY,
            same.c.value == theirs.c.value,
            named.c.hash_id == same.c.hash_id,
            named.c.field == PARTY,
            named.c.value.in_(parties),
        )
    )
    return or_(names_them, about_their_lot)


def first_page(engine: Engine, scope: Scope, rule: Callable[..., ColumnElement[bool]]) -> list[int]:
    """The ledger indices of the first page (1,000) the scope reads under ``rule``: the
    statement ``search_events`` runs, its scope test (``true`` for staff) replaced by ``rule``."""
    query = read_query([("perPage", "1000")])
    stmt = (
        search._select(query, Scope.everything())
        .where(rule(scope, events.c.hash_id))
        .order_by(*search._order(query))
        .limit(1000)
    )
    with engine.connect() as conn:
        return [r.ledger_idx for r in conn.execute(stmt)]


def _median(
    engine: Engine, scope: Scope, rule: Callable[..., ColumnElement[bool]], reps: int
) -> tuple[float, list[int]]:
    times, out = [], []
    for _ in range(reps):
        t = time.perf_counter()
        out = first_page(engine, scope, rule)
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


KEYS = (("outsider", [OUTSIDER]), ("farm (2 events)", [FARM]), ("other company", [OTHER]))


def measure(engine: Engine, name: str, size: int, reps: int, peer: bool) -> float:
    """Print one line per key; return the peer's slowest query (0 when it was not run)."""
    slowest = 0.0
    for who, parties in KEYS:
        scope = Scope.of_parties(parties)
        ours, got = _median(engine, scope, visible, reps)
        line = f"{name:<11}{size:>8}  {who:<18}{len(got):>6}{ours:>10.4f}"
        if not peer:
            print(line + f"{'skipped':>10}")
            continue
        before, want = _median(engine, scope, former_visible, 1 if size > 3000 else reps)
        if got != want:
            raise SystemExit(f"the two rules read different events at {size} for {who}")
        slowest = max(slowest, before)
        print(line + f"{before:>10.4f}{before / ours:>12.1f}x")
    return slowest


def _engine(url: str | None, tmp: str) -> Engine:
    if url is None:
        return make_engine(f"sqlite:///{tmp}/scope.db")
    engine = make_engine(url)
    with engine.begin() as conn:  # a fresh schema for each size
        for table in reversed(metadata.sorted_tables):
            conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,3000,10000")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL to run on as well")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--peer-cap", type=float, default=20.0)
    args = parser.parse_args()
    dbs = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    print(
        f"{'database':<11}{'events':>8}  {'key':<18}{'read':>6}{'ours s':>10}{'before s':>10}"
        f"{'speed-up':>13}"
    )
    for name, url in dbs:
        peer = True
        for size in [int(s) for s in args.sizes.split(",")]:
            with tempfile.TemporaryDirectory() as tmp:
                engine = _engine(url, tmp)
                seed(engine, size)
                peer = measure(engine, name, size, args.reps, peer) <= args.peer_cap and peer
                engine.dispose()


if __name__ == "__main__":
    main()
