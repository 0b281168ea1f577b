"""The EPCIS query at 10^4 (and 10^5) events: latency p50/p95, and today's way as the peer.

Seeds a SQLite ledger with ``--events`` events over lots of ten (commissioning, shipping,
receiving, transporting with a temperature aggregate, inspecting) captured in documents of
1,000 through ``supplychain.capture.capture_events``, then measures, in the same run:

1. **one lot's inspections**: ``search_events`` with
   ``MATCH_epcClass=<lot>&EQ_bizStep=inspecting`` (a supply-chain key's scope), against the
   peer ``lot_trace`` (today's way: every event of the lot read and parsed from the ledger)
   filtered to its inspections;
2. **a warm transport anywhere**: the first page (``perPage=100``) of
   ``EQ_bizStep=transporting&GE_maxValue_CEL=8``, against the peer that has no index: the
   trace of every lot, filtered (run fewer times; it reads the whole ledger).

Both sides answer the same events (checked). Figures are medians over the runs on whatever
machine runs it (shared: quote several runs).

    PYTHONPATH=. .venv/bin/python bench/epcis_query.py [--events 10000] [--runs 200]
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

from api.database import load_tables  # noqa: E402
from ledger.log import Ledger  # noqa: E402
from storage.db import make_engine  # noqa: E402
from supplychain.capture import capture_events  # noqa: E402
from supplychain.epcis import parse_document  # noqa: E402
from supplychain.query import Scope, search_events  # noqa: E402
from supplychain.trace import lot_trace  # noqa: E402

SUPPLIER = "urn:epc:id:pgln:4012345.00000"
CARRIER = "urn:epc:id:pgln:4023333.00000"
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
STEPS = ("commissioning", "shipping", "receiving", "transporting", "inspecting")
START = datetime(2024, 1, 1, tzinfo=UTC)


def lot_uri(n: int) -> str:
    return f"urn:epc:class:lgtin:4012345.012345.L{n:06d}"


def _event(i: int) -> dict[str, Any]:
    lot, k = divmod(i, 10)
    step = STEPS[k % len(STEPS)]
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "action": "ADD" if step == "commissioning" else "OBSERVE",
        "bizStep": step,
        "epcList": [f"urn:epc:id:sscc:4012345.{lot:010d}"],
        "quantityList": [{"epcClass": lot_uri(lot), "quantity": 10, "uom": "KGM"}],
        "eventTime": (START + timedelta(minutes=i)).isoformat(),
        "eventTimeZoneOffset": "+00:00",
        "readPoint": {"id": f"urn:epc:id:sgln:4012345.00001.{k}"},
    }
    if step == "shipping":
        event["sourceList"] = [{"type": "possessing_party", "source": SUPPLIER}]
        event["destinationList"] = [{"type": "possessing_party", "destination": CARRIER}]
    if step == "transporting":
        peak = 4.0 + (lot * 7919 % 100) / 10  # 4.0 .. 13.9 °C
        event["sensorElementList"] = [
            {
                "sensorMetadata": {"startTime": event["eventTime"], "endTime": event["eventTime"]},
                "sensorReport": [
                    {"type": "gs1:Temperature", "minValue": 2.0, "maxValue": peak, "uom": "CEL"}
                ],
            }
        ]
    return event


def seed(ledger: Ledger, n: int) -> None:
    for start in range(0, n, 1000):
        doc = {
            "@context": [CONTEXT],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2025-01-01T00:00:00Z",
            "epcisBody": {"eventList": [_event(i) for i in range(start, min(start + 1000, n))]},
        }
        capture_events(ledger=ledger, events_in=parse_document(doc), speaks_for=[SUPPLIER])


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    out, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out, result


def pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1] if len(samples) > 1 else samples[0]


def line(name: str, samples: list[float]) -> str:
    return f"  {name:<42} p50 {pct(samples, 50):8.2f} ms   p95 {pct(samples, 95):8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        load_tables().create_all(engine)
        ledger = Ledger(engine, create_tables=False)
        t0 = time.perf_counter()
        seed(ledger, args.events)
        print(f"seeded {args.events} events in {time.perf_counter() - t0:.1f} s")
        lots = args.events // 10
        scope = Scope.of_parties([SUPPLIER])
        secret = b"bench" * 8
        picks = [lot_uri(i * 7919 % lots) for i in range(args.runs)]
        cycle = iter(picks * 2)

        def query_lot() -> list[str]:
            page = search_events(
                engine=engine,
                params=[("MATCH_epcClass", next(cycle)), ("EQ_bizStep", "inspecting")],
                scope=scope,
                secret=secret,
            )
            return [e["bizStep"] for e in page.events]

        def trace_lot() -> list[str]:
            found = lot_trace(ledger=ledger, lot=next(cycle))
            return [e["biz_step"] for e in found["events"] if e["biz_step"] == "inspecting"]

        print(f"1. one lot's inspections ({args.runs} runs, {lots} lots)")
        ours, a = timed(query_lot, args.runs)
        cycle = iter(picks * 2)
        peer, b = timed(trace_lot, args.runs)
        assert a == b, (a, b)
        print(line("GET /v1/events (search_events)", ours))
        print(line("peer: lot trace, filtered", peer))
        print(f"  ratio peer/ours at p50: {pct(peer, 50) / pct(ours, 50):.1f}x")

        def query_warm() -> int:
            params = [("EQ_bizStep", "transporting"), ("GE_maxValue_CEL", "8"), ("perPage", "100")]
            page = search_events(engine=engine, params=params, scope=scope, secret=secret)
            return len(page.events)

        def trace_all() -> int:
            warm = 0
            for n in range(lots):
                for e in lot_trace(ledger=ledger, lot=lot_uri(n))["events"]:
                    temps = e["temperatures"]
                    hot = any((t.get("max_celsius") or t["celsius"]) >= 8 for t in temps)
                    warm += e["biz_step"] == "transporting" and hot
                if warm >= 100:
                    return 100
            return warm

        peer_runs = 3
        print(f"2. first 100 warm transports ({args.runs} runs; peer {peer_runs})")
        ours, a = timed(query_warm, args.runs)
        peer, b = timed(trace_all, peer_runs)
        assert a == b, (a, b)
        print(line("GET /v1/events (search_events)", ours))
        print(line("peer: every lot's trace, filtered", peer))
        print(f"  ratio peer/ours at p50: {pct(peer, 50) / pct(ours, 50):.1f}x")
        engine.dispose()


if __name__ == "__main__":
    main()
