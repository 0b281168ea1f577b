"""A pack's public page: server time per request, against the lot's JSON trace in the same run.

The lot of the page's tests (tests/web/pack_seed.py: ten records, 70 temperature readings,
claims filed on it) is built through the API, then more ledger entries are appended (other
lots' records) so the proofs are against a tree of ``--entries`` leaves. Timed in-process
through the ASGI app (``TestClient``: no network), interleaved, medians of ``--repeat``:

- ``trace``: ``GET /v1/lots/{lot}/trace`` with a key (the JSON the API already served);
- ``page en`` / ``page zh``: ``GET /01/{gtin}/10/{lot}`` (story, chart, one inclusion proof
  per record against a signed checkpoint, the template in the reader's language);
- ``qr.svg``: the QR code;
- and the page's parts alone: ``public_story`` and the proofs (``pack_view``).

    PYTHONPATH=. .venv/bin/python bench/pack_page.py [--repeat 40] [--entries 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402
from api.web.pack import pack_view  # noqa: E402
from supplychain.capture import capture_events  # noqa: E402
from supplychain.epcis import parse_document  # noqa: E402
from supplychain.epcis.build import ZULU, ObjectEvent, Quantity, epcis_document  # noqa: E402
from supplychain.identifiers.digital_link import PackLink  # noqa: E402
from supplychain.public_story import public_story  # noqa: E402
from tests.api.access import grant  # noqa: E402
from tests.web.pack_seed import GTIN, LOT, seed_pack  # noqa: E402
from tests.web.test_pack_page import pack_settings  # noqa: E402


def _filler(app: Any, entries: int) -> None:
    """Other lots' records until the log holds ``entries`` leaves."""
    from datetime import UTC, datetime, timedelta

    ledger = app.state.services.ledger
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    n = 0
    while ledger.size() < entries:
        batch = [
            ObjectEvent(
                event_time=t0 + timedelta(minutes=n + i),
                biz_step="storing",
                quantities=(Quantity(f"urn:epc:class:lgtin:4000001.012345.FILL-{n + i}", 1),),
                times=ZULU,
            ).to_json()
            for i in range(min(200, entries - ledger.size()))
        ]
        n += len(batch)
        doc = epcis_document(batch, creation_date=t0, times=ZULU)
        capture_events(ledger=ledger, events_in=parse_document(doc), actor="cli:bench")


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    """Seed, warm up, time, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--entries", type=int, default=2000)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pack-bench-"))
    app = create_app(pack_settings(tmp))
    page = f"/01/{GTIN}/10/{LOT}"
    lgtin = f"urn:epc:class:lgtin:4000001.012345.{LOT}"
    with TestClient(app) as client:
        seed_pack(app, client)
        _filler(app, args.entries)
        key = grant(app, "auditor")
        services = app.state.services
        link = PackLink(GTIN, lot=LOT)
        calls: dict[str, Callable[[], object]] = {
            "trace (JSON, key)": lambda: client.get(f"/v1/lots/{lgtin}/trace", headers=key),
            "page en": lambda: client.get(page, headers={"Accept-Language": "en"}),
            "page zh": lambda: client.get(page, headers={"Accept-Language": "zh-CN"}),
            "qr.svg": lambda: client.get(f"{page}/qr.svg"),
        }
        for call in calls.values():  # warm up; every answer is a 200
            resp = call()
            assert getattr(resp, "status_code", 200) == 200
        story = public_story(ledger=services.ledger, link=link, policy=services.story_policy)
        parts: dict[str, Callable[[], object]] = {
            "  public_story alone": lambda: public_story(
                ledger=services.ledger, link=link, policy=services.story_policy
            ),
            "  story -> view (chart, proofs)": lambda: pack_view(
                services, story, lang="en", resolver="http://bench"
            ),
        }
        rounds: dict[str, list[float]] = {name: [] for name in [*calls, *parts]}
        for _ in range(args.repeat):  # interleaved: the machine's noise falls on all alike
            for name, call in [*calls.items(), *parts.items()]:
                rounds[name].append(_median_ms(call, 1))
        size = services.ledger.size()
        html = client.get(page).text
        trace = client.get(f"/v1/lots/{lgtin}/trace", headers=key).text
    medians = {name: statistics.median(v) for name, v in rounds.items()}
    peer = medians["trace (JSON, key)"]
    print(
        f"pack page bench: {len(story.steps)} records, {len(story.readings)} readings, "
        f"ledger of {size} entries, {args.repeat} rounds (median ms; a shared 2-core machine)"
    )
    for name, ms in medians.items():
        print(f"  {name:34s} {ms:8.2f} ms   x{ms / peer:5.2f} of the JSON trace")
    print(f"  bytes: page {len(html.encode()):,}, trace {len(trace.encode()):,}")
    print(json.dumps({k: round(v, 2) for k, v in medians.items()}))


if __name__ == "__main__":
    main()
