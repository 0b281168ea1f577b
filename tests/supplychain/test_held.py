"""Which documents wait for a sender's record (``supplychain.held.awaits_senders``): read
from the refusals' shapes, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from supplychain.authorship import Refused, awaits_sender, decide_authorship
from supplychain.epcis import CaptureEvent
from supplychain.held import Capturer, HeldCapture, arrivals, awaits_senders, may_release
from supplychain.lot_names import identity
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


def test_only_the_senders_records_for_this_receiver_retry_a_held_receipt() -> None:
    """A key holding forged receipts "from" a busy holder must not make each of the holder's
    records retry them: only the sender's handing to the document's parties (or to no one
    named) and a record giving the sender the goods (it may cite the receiver's order) do."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    held = HeldCapture(
        "h1", "0" * 64, Capturer("k1", "key:k1", (OUTSIDER,)), (identity(LOT),), (TRUCK,),
        at, at + timedelta(days=7), "held",
    )  # fmt: skip

    def releases(event: dict[str, Any]) -> bool:
        return may_release(held, arrivals(_events(event)))

    assert not releases(lot_event(LOT, h(5), "shipping", src=TRUCK, dst=DC))
    assert releases(lot_event(LOT, h(5), "shipping", src=TRUCK, dst=OUTSIDER))
    assert releases(lot_event(LOT, h(5), "shipping", src=TRUCK))
    assert releases(lot_event(LOT, h(1), "shipping", src=DC, dst=TRUCK))
    other = "urn:epc:class:lgtin:4012345.012345.OTHER"
    assert not releases(lot_event(other, h(5), "shipping", src=TRUCK, dst=OUTSIDER))
