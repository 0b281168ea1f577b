"""Which documents wait for a sender's record (``supplychain.held.awaits_senders``): read
from the refusals' shapes, pure."""

from __future__ import annotations

from typing import Any

from supplychain.authorship import Refused, awaits_sender, decide_authorship
from supplychain.epcis import CaptureEvent
from supplychain.held import awaits_senders
from tests.epcis_events import lot_event
from tests.supplychain.test_authorship import CHAIN, DC, LOT, OUTSIDER, TRUCK, _events, h


def _refusals(
    parties: list[str], *events: dict[str, Any]
) -> tuple[list[Refused], tuple[CaptureEvent, ...]]:
    parsed = _events(*events)
    decided = decide_authorship(parties=parties, events_in=parsed, history={LOT: CHAIN})
    return [d for d in decided if isinstance(d, Refused)], parsed


def test_a_receipt_from_a_named_sender_and_what_stands_on_it_wait() -> None:
    receipt = lot_event(LOT, h(4.5), "receiving", src=TRUCK, dst=OUTSIDER)
    later = lot_event(LOT, h(4.6), "inspecting", src=OUTSIDER, disposition="damaged")
    refused, parsed = _refusals([OUTSIDER], receipt, later)
    assert [r.event_index for r in refused] == [0, 1]
    assert awaits_sender(parsed[0], [OUTSIDER]) and not awaits_sender(parsed[1], [OUTSIDER])
    assert awaits_senders(parsed, refused, [OUTSIDER])


def test_other_refusals_do_not_wait() -> None:
    # An event before the receipt does not stand on it; a receipt from nobody names no sender.
    before = lot_event(LOT, h(4.4), "inspecting", src=OUTSIDER, disposition="damaged")
    receipt = lot_event(LOT, h(4.5), "receiving", src=TRUCK, dst=OUTSIDER)
    refused, parsed = _refusals([OUTSIDER], before, receipt)
    assert not awaits_senders(parsed, refused, [OUTSIDER])
    nobody = lot_event(LOT, h(4.5), "receiving", dst=OUTSIDER)
    refused, parsed = _refusals([OUTSIDER], nobody)
    assert refused and not awaits_senders(parsed, refused, [OUTSIDER])
    # Naming only another party's possession never waits.
    other = lot_event(LOT, h(4.5), "receiving", src=TRUCK, dst=DC)
    refused, parsed = _refusals([OUTSIDER], other)
    assert refused[0].rule == "names-another-party"
    assert not awaits_senders(parsed, refused, [OUTSIDER])
