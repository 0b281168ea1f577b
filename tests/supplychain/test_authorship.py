"""The authorship rule (supplychain/authorship.py): who may add events about which part of a lot.

Pure: histories as ``LotEvent`` tuples, documents parsed by the EPCIS reader, decisions out.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supplychain.authorship import (
    Allowed,
    NotYourCustodyError,
    Refused,
    check_authorship,
    decide_authorship,
    issued_by,
    owns_location,
)
from supplychain.custody import LotEvent
from supplychain.epcis import CaptureEvent, parse_document
from supplychain.epcis.build import SensorElement, SensorReport
from tests.epcis_events import document, lot_event

LOT = "urn:epc:class:lgtin:4012345.012345.AUTH1"
FARM, TRUCK, DC, OUTSIDER = (
    f"urn:epc:id:pgln:{p}.00000" for p in ("4011111", "4022222", "4033333", "4099999")
)
T0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _record(
    index: int, at: datetime, step: str, src: str | None = None, dst: str | None = None
) -> LotEvent:
    return LotEvent(index, "", f"ni:{index}", "ObjectEvent", at, step, None, None, src, dst)


# On the ledger: the farm packs and ships to the truck (2 h), the truck to the DC (5 h).
CHAIN = (
    _record(0, h(0), "packing", FARM),
    _record(1, h(2), "shipping", FARM, TRUCK),
    _record(2, h(2.05), "receiving", FARM, TRUCK),
    _record(3, h(5), "shipping", TRUCK, DC),
    _record(4, h(5.05), "receiving", TRUCK, DC),
)


def _events(*events: dict[str, Any]) -> tuple[CaptureEvent, ...]:
    return parse_document(document(*events)).events


def _shock(at: datetime, **kw: Any) -> dict[str, Any]:
    """An inspection naming no party with a 310 m/s² acceleration: the forged report."""
    e = lot_event(LOT, at, "inspecting", **kw)
    shock = SensorReport("gs1:Acceleration", value=310, uom="MSK")
    e["sensorElementList"] = [SensorElement((shock,)).to_json()]
    return e


def _decide(parties: list[str], *events: dict[str, Any], history: Any = CHAIN) -> list[Any]:
    parsed = _events(*events)
    known = {LOT: history, "AUTH1": history} if history else {}
    return list(decide_authorship(parties=parties, events_in=parsed, history=known))


def test_an_outsiders_observation_inside_another_custody_is_refused_for_every_key() -> None:
    decided = _decide([OUTSIDER], _shock(h(3)))
    assert decided and all(isinstance(d, Refused) for d in decided)
    first = decided[0]
    # Named nowhere in the lot's history, the outsider is not told who held it then.
    assert (first.lot, first.rule, first.needs, first.caller, first.withheld) == (
        LOT,
        "not-your-custody",
        (),
        (OUTSIDER,),
        True,
    )
    with pytest.raises(NotYourCustodyError) as raised:
        check_authorship(parties=[OUTSIDER], events_in=_events(_shock(h(3))), history={LOT: CHAIN})
    assert raised.value.refused.event_index == 0 and "not-your-custody" in raised.value.reason


def test_a_refusal_names_who_took_part_only_to_a_party_of_the_lots_history() -> None:
    """An outsider probing times would read the custody chain from the refusals' names, which
    the trace and the EPCIS query keep from it; a party the history names reads it anyway."""
    for at in (h(-24), h(1), h(3), h(6), h(48)):
        for probe in (_shock(at), lot_event(LOT, at, "receiving", src=TRUCK, dst=OUTSIDER)):
            (refused, *_) = _decide([OUTSIDER], probe)
            assert isinstance(refused, Refused) and refused.needs == () and refused.withheld
            assert not any(p in refused.reason for p in (FARM, TRUCK, DC))
            assert "named only to a party on record" in refused.reason
    # The farm, named in the history, is told who holds the lot after it handed it over.
    (late, *_) = _decide([FARM], _shock(h(3)))
    assert isinstance(late, Refused) and late.needs == (TRUCK,) and not late.withheld
    assert f"only {TRUCK} took part then" in late.reason
    # A lot with no history at all: nobody to withhold.
    (new, *_) = _decide([OUTSIDER], _shock(h(3)), history=())
    assert isinstance(new, Refused) and not new.withheld
    assert "no party is on record then" in new.reason


def test_naming_oneself_does_not_put_an_outsider_into_the_history() -> None:
    decided = _decide([OUTSIDER], lot_event(LOT, h(3), "inspecting", src=OUTSIDER))
    assert {type(d) for d in decided} == {Refused}


def test_an_event_naming_only_another_partys_possession_is_refused_by_the_same_rule() -> None:
    # The truck holds the lot at 3 h, but cannot record the DC's possession.
    (first, *_) = _decide([TRUCK], lot_event(LOT, h(3), "receiving", src=FARM, dst=DC))
    assert isinstance(first, Refused) and first.rule == "names-another-party"
    assert first.needs == (FARM, DC)  # sorted: 4011111 before 4033333


def test_the_custodians_own_readings_inside_its_custody_are_allowed() -> None:
    decided = _decide([TRUCK], lot_event(LOT, h(3), "transporting", temps=(4, 4)))
    assert all(isinstance(d, Allowed) and d.basis == "holder" for d in decided)
    # ...but not after it handed the goods over.
    assert all(
        isinstance(d, Refused) for d in _decide([TRUCK], lot_event(LOT, h(7), "transporting"))
    )


def test_the_sender_may_record_around_its_handover_and_the_receiver_its_inspection() -> None:
    sender = _decide([FARM], lot_event(LOT, h(2.07), "inspecting", disposition="damaged"))
    assert all(isinstance(d, Allowed) and d.basis == "handover" for d in sender)
    receipt = _decide([DC], lot_event(LOT, h(5.3), "inspecting", src=DC, disposition="damaged"))
    assert all(isinstance(d, Allowed) and d.basis == "holder" for d in receipt)


def test_a_receipt_from_the_holder_needs_the_holders_side_on_record() -> None:
    # The truck holds the lot and never recorded shipping: a receipt naming it as the sender
    # is the receiver's word alone. An outsider could otherwise write itself into any lot
    # (read its history, and inspect "at receipt" against the party it named).
    history = CHAIN[:3]
    receipt = lot_event(LOT, h(5.05), "receiving", src=TRUCK, dst=DC)
    alone = _decide([DC], receipt, history=history)
    # The DC is named nowhere in that history yet: it is not told who holds the lot.
    assert alone and all(isinstance(d, Refused) and d.needs == () for d in alone)
    outsider = lot_event(LOT, h(3), "receiving", src=TRUCK, dst=OUTSIDER)
    assert all(isinstance(d, Refused) for d in _decide([OUTSIDER], outsider))
    # The truck ships naming no receiver: the DC's receipt confirms the open stretch.
    released = (*history, _record(3, h(5), "shipping", TRUCK))
    took = _decide([DC], receipt, history=released)
    assert all(isinstance(d, Allowed) and d.basis == "taking_over" for d in took)
    # The truck's own readings on the road, a minute before, hand nothing over.
    road = (*history, _record(3, h(5.04), "transporting", TRUCK))
    assert all(isinstance(d, Refused) for d in _decide([DC], receipt, history=road))
    # The truck ships to someone else: its record does not hand the goods to the DC.
    elsewhere = (*history, _record(3, h(5), "shipping", TRUCK, OUTSIDER))
    assert all(isinstance(d, Refused) for d in _decide([DC], receipt, history=elsewhere))
    # Not from a party that did not hold the goods then.
    fake = lot_event(LOT, h(5.05), "receiving", src=FARM, dst=DC)
    assert all(isinstance(d, Refused) for d in _decide([DC], fake, history=history))
    # A key speaking for both sides writes both in one document.
    shipped = lot_event(LOT, h(5), "shipping", src=TRUCK, dst=DC)
    both = _decide([TRUCK, DC], shipped, receipt, history=history)
    assert both and all(isinstance(d, Allowed) for d in both)


def test_a_carrier_that_records_nothing_delivers_under_the_receivers_own_order() -> None:
    # The farm ships to the truck under the DC's purchase order (issued under the DC's GLN);
    # the truck records nothing; the DC's receipt from the truck is the order's delivery.
    order = "urn:epcglobal:cbv:bt:4033333000003:PO-77"
    shipped = replace(CHAIN[1], transactions=(order,))
    history = (CHAIN[0], shipped, CHAIN[2])
    receipt = lot_event(LOT, h(5.05), "receiving", src=TRUCK, dst=DC)
    took = _decide([DC], receipt, history=history)
    assert took and all(isinstance(d, Allowed) and d.basis == "taking_over" for d in took)
    # The order is the DC's, not anyone's who names it: an outsider is still refused.
    other = lot_event(LOT, h(5.05), "receiving", src=TRUCK, dst=OUTSIDER)
    assert all(isinstance(d, Refused) for d in _decide([OUTSIDER], other, history=history))
    assert issued_by(DC, order) and not issued_by(OUTSIDER, order)
    assert not issued_by(DC, "urn:epcglobal:cbv:bt:4033333:PO-77")  # no GLN in it


def test_nobody_enters_the_history_by_a_record_dated_before_it() -> None:
    # An outsider's own "commissioning" a day before the farm packed, naming itself or at
    # its own site, would make it a holder and let it read the lot's whole history.
    named = lot_event(LOT, h(-24), "commissioning", src=OUTSIDER)
    # The refusal names nobody: where the recorded custody begins is the lot's history.
    assert all(isinstance(d, Refused) and d.needs == () for d in _decide([OUTSIDER], named))
    sited = _shock(h(-24))
    sited["readPoint"] = {"id": "urn:epc:id:sgln:4099999.00001.0"}
    assert all(isinstance(d, Refused) for d in _decide([OUTSIDER], sited))
    # An earlier sender joins once the history names it: the truck's records arrive first,
    # the farm is refused until the truck's receipt names the farm, then allowed.
    truck_first = (_record(0, h(2.05), "receiving", None, TRUCK),)
    farm = lot_event(LOT, h(1), "packing", src=FARM)
    assert all(isinstance(d, Refused) for d in _decide([FARM], farm, history=truck_first))
    named_by_truck = (_record(0, h(2.05), "receiving", FARM, TRUCK),)
    ok = _decide([FARM], farm, history=named_by_truck)
    assert ok and all(isinstance(d, Allowed) and d.basis == "before_history" for d in ok)
    # ...and may hand the goods to a party the history names (its receiver, 35 min later).
    shipped = lot_event(LOT, h(1.5), "shipping", src=FARM, dst=TRUCK)
    sent = _decide([FARM], shipped, history=named_by_truck)
    assert sent and all(isinstance(d, Allowed) for d in sent)
    given = lot_event(LOT, h(1.5), "shipping", src=FARM, dst=OUTSIDER)
    assert all(isinstance(d, Refused) for d in _decide([FARM], given, history=named_by_truck))


def test_a_receipt_from_nobody_dated_before_the_history_puts_nobody_into_it() -> None:
    # Before the farm packed, nobody holds the lot on record, but that is no stretch a
    # handover left open: the outsider's receipt would make it the lot's first holder.
    early = lot_event(LOT, h(-24), "receiving", dst=OUTSIDER)
    decided = _decide([OUTSIDER], early)
    assert decided and all(isinstance(d, Refused) for d in decided)
    # ...while in a stretch the farm's shipment left open a receipt from nobody still counts.
    unconfirmed = (*CHAIN[:1], _record(1, h(2), "shipping", FARM))
    late = _decide([OUTSIDER], lot_event(LOT, h(3), "receiving", dst=OUTSIDER), history=unconfirmed)
    assert late and all(isinstance(d, Allowed) and d.basis == "taking_over" for d in late)


def test_a_new_lot_is_started_by_the_party_its_first_events_name() -> None:
    ok = _decide([FARM], lot_event(LOT, h(0), "commissioning", src=FARM), history=())
    assert all(isinstance(d, Allowed) and d.basis == "before_history" for d in ok)
    anonymous = _decide([FARM], _shock(h(0)), history=())
    assert all(isinstance(d, Refused) for d in anonymous)


def test_records_before_the_history_may_not_hand_the_goods_to_someone_else() -> None:
    # The farm's own earlier record is fine; an outsider giving the lot to the truck is not.
    farm = _decide([FARM], lot_event(LOT, h(-2), "commissioning", src=FARM))
    assert all(isinstance(d, Allowed) for d in farm)
    given = _decide([OUTSIDER], lot_event(LOT, h(-1), "shipping", src=OUTSIDER, dst=TRUCK))
    assert all(isinstance(d, Refused) for d in given)


def test_a_documents_earlier_events_count_as_history_for_its_later_ones() -> None:
    # A new lot in one document: the farm packs and ships to the truck; the truck's key
    # alone could not have started it, the farm's key may write all of it.
    doc = (
        lot_event(LOT, h(2.1), "transporting", src=TRUCK, temps=(4,)),
        lot_event(LOT, h(0), "packing", src=FARM),
        lot_event(LOT, h(2), "shipping", src=FARM, dst=TRUCK),
    )
    both = _decide([FARM, TRUCK], *doc, history=())
    assert all(isinstance(d, Allowed) for d in both)
    assert any(d.basis == "holder" and d.party == TRUCK for d in both)


def test_an_event_at_the_partys_own_read_point_counts_only_where_nobody_holds_the_lot() -> None:
    e = _shock(h(3))
    e["readPoint"] = {"id": "urn:epc:id:sgln:4099999.00001.0"}
    # The truck holds the lot then: the outsider's own site is its word against the record.
    held = _decide([OUTSIDER], e)
    assert all(isinstance(d, Refused) and d.withheld and d.needs == () for d in held)
    # Shipped naming no receiver, nobody holds it on record: a sighting at one's own site.
    unconfirmed = (*CHAIN[:1], _record(1, h(2), "shipping", FARM))
    decided = _decide([OUTSIDER], e, history=unconfirmed)
    assert all(isinstance(d, Allowed) and d.basis == "read_point" for d in decided)
    elsewhere = _shock(h(3))
    elsewhere["bizLocation"] = {"id": "urn:epc:id:sgln:4022222.00001.0"}
    assert all(isinstance(d, Refused) for d in _decide([OUTSIDER], elsewhere))


def test_every_lot_of_an_event_must_pass() -> None:
    e = lot_event(LOT, h(3), "transporting")
    other = "urn:epc:class:lgtin:4012345.012345.OTHER"
    e["quantityList"].append({"epcClass": other, "quantity": 1})
    parsed = _events(e)
    history = {LOT: CHAIN, "AUTH1": CHAIN, other: (_record(9, h(0), "packing", FARM),)}
    decided = decide_authorship(parties=[TRUCK], events_in=parsed, history=history)
    assert {d.lot for d in decided if isinstance(d, Refused)} == {other}  # not bare "OTHER"


def test_two_companies_lot_l1_are_two_lots_and_one_lot_is_one_in_any_form() -> None:
    # Another company's lot "AUTH1" (another GTIN): the farm's history says nothing about it.
    theirs = "urn:epc:class:lgtin:4099999.000001.AUTH1"
    own = _decide([OUTSIDER], lot_event(theirs, h(3), "packing", src=OUTSIDER))
    assert own and all(isinstance(d, Allowed) and d.lot == theirs for d in own)
    # The farm's lot written as a Digital Link is the same lot: the outsider is refused.
    link = "https://id.gs1.org/01/04012345123456/10/AUTH1"
    forged = _decide([OUTSIDER], lot_event(link, h(3), "receiving", src=None, dst=OUTSIDER))
    assert forged and all(isinstance(d, Refused) and d.needs == () and d.withheld for d in forged)


@pytest.mark.parametrize(
    ("party", "location", "owned"),
    [
        (OUTSIDER, "urn:epc:id:sgln:4099999.00001.0", True),
        (OUTSIDER, "urn:epc:id:sgln:409999.900001.0", False),  # same digits, other prefix
        (OUTSIDER, "urn:epc:id:sgln:4022222.00001.0", False),
        ("https://id.gs1.org/417/4099999000004", "https://id.gs1.org/414/4099999000004", True),
        ("https://id.gs1.org/417/4099999000004", "https://id.gs1.org/414/4099999000011", False),
        (OUTSIDER, "https://example.com/dock", False),
    ],
)
def test_a_location_is_owned_by_its_company_prefix(party: str, location: str, owned: bool) -> None:
    assert owns_location(party, location) is owned


def test_the_allowed_decisions_name_every_party_of_the_key_that_took_part() -> None:
    """What the event is captured for: a key for several parties, each one that took part."""
    # The truck holds the lot at 3 h; the DC took no part then.
    (held,) = _decide([TRUCK, DC], _shock(h(3)))
    assert held == Allowed(0, LOT, TRUCK, "holder")
    # Within the clocks' slack of the truck's handover to the DC both sides took part: the
    # key's decision names the truck (the handover), then the DC is decided alone (it holds).
    near = _decide([TRUCK, DC], _shock(h(5.03)))
    assert [(d.party, d.basis) for d in near] == [(TRUCK, "handover"), (DC, "holder")]
    # A key speaking for one party has one decision per (event, lot), as before.
    assert len(_decide([DC], _shock(h(5.03)))) == 1
    # A new lot: the farm's packing is the farm's, whoever else its key speaks for.
    packed = _decide([FARM, DC], lot_event(LOT, h(0), "packing", src=FARM), history=())
    assert [d.party for d in packed] == [FARM]


def test_a_refusal_says_when_the_key_named_its_party_as_an_owner_not_a_possessor() -> None:
    """An ERP that writes its handover with ``owning_party`` source and destination is told
    that custody reads ``possessing_party``: the careless key's own records do not count."""
    event = lot_event(LOT, h(5.05), "receiving")
    event["sourceList"] = [{"type": "owning_party", "source": TRUCK}]
    event["destinationList"] = [{"type": "owning_party", "destination": OUTSIDER}]
    (refused,) = _decide([OUTSIDER], event)
    assert isinstance(refused, Refused)
    assert refused.misnamed == (("destination", "owning_party", OUTSIDER),)
    assert f"names {OUTSIDER} as its owning_party destination" in refused.reason
    assert "possessing_party destinations" in refused.reason
    # A refusal of an event naming the possession properly says nothing of it.
    (plain,) = _decide([OUTSIDER], lot_event(LOT, h(5.05), "receiving", src=TRUCK, dst=OUTSIDER))
    assert isinstance(plain, Refused) and "owning_party" not in plain.reason
