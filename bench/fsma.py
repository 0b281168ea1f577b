"""The FSMA 204 export of a lot with many events, against the lot trace of the same lot.

A produce lot (``simulator.fsma.ProduceLot``: harvest, cooling, initial packing, then
``--round-trips`` shipments and receipts of the packed lot, and a transformation) is captured
into a fresh SQLite ledger. Measured in the same run, medians of ``--repeat`` reads:

- ``trace``: ``supplychain.trace.lot_trace`` of the packed lot (the peer: the existing read of
  a lot's events, with custody and temperatures);
- ``rows``: ``supplychain.fsma.fsma_rows`` (the records selected, every lot they name read,
  each event mapped to its CTE row);
- ``csv`` / ``xlsx``: ``supplychain.fsma.export_fsma`` end to end, file bytes included.

    PYTHONPATH=. .venv/bin/python bench/fsma.py [--round-trips 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.services import build_services  # noqa: E402
from api.settings import Settings  # noqa: E402
from simulator.fsma import ProduceLot  # noqa: E402
from supplychain.capture import capture_events, register_party  # noqa: E402
from supplychain.epcis import parse_document  # noqa: E402
from supplychain.epcis.build import EPCIS_CONTEXT, epcis_document  # noqa: E402
from supplychain.fsma import FSMAQuery, export_fsma, fsma_rows  # noqa: E402
from supplychain.trace import lot_trace  # noqa: E402


def _median_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    chain = ProduceLot(start=datetime(2025, 1, 1, tzinfo=UTC), repeat=args.round_trips - 1)
    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(Settings(data_dir=Path(tmp) / "var", anchor_backend="none"))
        try:
            for p in chain.parties:
                register_party(ledger=services.ledger, party_id=p.id, role=p.role, name=p.name)
            events = [e for _, e in chain.events()]
            context = (
                EPCIS_CONTEXT,
                {"fp": "https://freshproof.dev/epcis/", "cbvmda": "urn:epcglobal:cbv:mda"},
            )
            for start in range(0, len(events), 500):
                doc = epcis_document(
                    events[start : start + 500], creation_date=datetime.now(UTC), context=context
                )
                capture_events(ledger=services.ledger, events_in=parse_document(doc))
            ledger, lot = services.ledger, chain.packed_class
            query = FSMAQuery(lot=lot)
            trace_ms, trace = _median_ms(lambda: lot_trace(ledger=ledger, lot=lot), args.repeat)
            rows_ms, (rows, _) = _median_ms(
                lambda: fsma_rows(ledger=ledger, query=query), args.repeat
            )
            csv_ms, csv = _median_ms(lambda: export_fsma(ledger=ledger, query=query), args.repeat)
            xlsx_ms, xlsx = _median_ms(
                lambda: export_fsma(ledger=ledger, query=query, fmt="xlsx"), args.repeat
            )
        finally:
            services.close()
    print(f"lot {lot}: {len(trace['events'])} events on the ledger, {len(rows)} CTE rows")
    print(f"medians of {args.repeat} (SQLite file, a shared 2-core machine):")
    print(f"  trace (peer)  {trace_ms:9.1f} ms")
    print(f"  fsma rows     {rows_ms:9.1f} ms")
    print(f"  fsma csv      {csv_ms:9.1f} ms  {len(csv.content) / 1024:8.0f} KiB")
    print(f"  fsma xlsx     {xlsx_ms:9.1f} ms  {len(xlsx.content) / 1024:8.0f} KiB")
    print(f"  csv / trace   {csv_ms / trace_ms:9.2f}x   xlsx / trace {xlsx_ms / trace_ms:6.2f}x")


if __name__ == "__main__":
    main()
