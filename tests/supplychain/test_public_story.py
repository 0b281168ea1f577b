"""A pack's public story: Digital Link paths, and what the policy lets out of the ledger.

The page's own tests (tests/web/test_pack_page.py) build a lot through the API with claims
on it; these drive ``public_story`` on a ledger directly, one rule at a time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.log import Ledger
from supplychain.capture import capture_events, create_projection_tables, register_party
from supplychain.epcis import parse_document
from supplychain.epcis.build import (
    EPCIS_CONTEXT,
    ZULU,
    ObjectEvent,
    Quantity,
    SensorElement,
    SensorReport,
    SourceDestination,
    epcis_document,
)
from supplychain.identifiers.digital_link import DigitalLinkError, PackLink, parse_pack_link
from supplychain.public_story import UnknownLotError, public_story
from supplychain.story_policy import (
    DEFAULT_STORY_POLICY,
    InvalidStoryPolicyError,
    load_story_policy,
    parse_story_policy,
)

GTIN = "04000001123452"  # company prefix 4000001, indicator 0, item reference 12345
T0 = datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
FARM, DC, TRUCK, SHOPPER = (f"urn:epc:id:pgln:400000{i}.00000" for i in (1, 2, 3, 4))


# ---------------------------------------------------------------------------- links


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/01/{GTIN}/10/STRAW-0502", PackLink(GTIN, lot="STRAW-0502")),
        # GTIN-13 padded to 14 digits; a '/' in the lot arrives percent-encoded.
        (f"/01/{GTIN[1:]}/10/A%2FB", PackLink(GTIN, lot="A/B")),
        (f"/01/{GTIN}/21/SN%21001", PackLink(GTIN, serial="SN!001")),
        # A serial identifies the item: the lot beside it is kept, the item is what is shown.
        (f"/01/{GTIN}/10/L1/21/S1", PackLink(GTIN, lot="L1", serial="S1")),
        (f"/01/{GTIN}/22/V2/10/L1", PackLink(GTIN, lot="L1", cpv="V2")),
    ],
)
def test_digital_link_paths_read(path: str, expected: PackLink) -> None:
    assert parse_pack_link(path) == expected


@pytest.mark.parametrize(
    ("path", "why"),
    [
        (f"/01/{GTIN[:-1]}9/10/L1", "check digit should be 2"),
        ("/01/12345/10/L1", "8, 12, 13 or 14 digits"),
        (f"/01/{GTIN}/10", "needs a value"),
        (f"/01/{GTIN}", "needs a lot"),
        (f"/01/{GTIN}/17/240501", "does not qualify"),
        (f"/01/{GTIN}/21/S1/10/L1", "in the order 22, 10, 21"),
        (f"/01/{GTIN}/10/" + "L" * 21, "1 to 20 characters"),
        (f"/01/{GTIN}/10/caf%C3%A9", "set 82"),
        (f"/01/{GTIN}/10/%FF", "set 82"),
        (f"/01/{GTIN}/10/100%", "stray '%'"),
        ("/00/340123450000000000", "starts /01/"),
    ],
)
def test_malformed_links_say_what_is_wrong(path: str, why: str) -> None:
    with pytest.raises(DigitalLinkError) as caught:
        parse_pack_link(path)
    assert why in caught.value.reason


def test_the_canonical_link_and_the_keys_a_lot_is_found_by() -> None:
    link = PackLink(GTIN, lot="A/B:C")
    assert link.uri("https://trace.example.com/") == (
        f"https://trace.example.com/01/{GTIN}/10/A%2FB%3AC"
    )
    keys = link.epc_candidates()
    # One LGTIN URN per company prefix length, the true one among them, and never the bare
    # lot number (another GTIN's lot may share it).
    assert "urn:epc:class:lgtin:4000001.012345.A%2FB:C" in keys
    assert len(keys) == 8 and "A/B:C" not in keys
    assert parse_pack_link(link.path) == link
    assert PackLink(GTIN, serial="7").epc_candidates()[1] == "urn:epc:id:sgtin:4000001.012345.7"


# ---------------------------------------------------------------------------- the story


def _event(hours: float, step: str, **kw: Any) -> dict[str, Any]:
    temps = kw.pop("temps", ())
    sensors = (
        SensorElement(
            tuple(
                SensorReport("gs1:Temperature", value=c, uom="CEL", time=T0 + timedelta(hours=h))
                for h, c in temps
            )
        ),
    )
    extra = kw.pop("raw", {})
    event = ObjectEvent(
        event_time=T0 + timedelta(hours=hours),
        biz_step=step,
        disposition=kw.pop("disposition", None),
        quantities=kw.pop("quantities", (Quantity("urn:epc:class:lgtin:4000001.012345.L1", 5),)),
        sources=tuple(SourceDestination(p) for p in kw.pop("src", ())),
        destinations=tuple(SourceDestination(p) for p in kw.pop("dst", ())),
        sensors=sensors if temps else (),
        extensions=kw.pop("ext", {}),
        times=ZULU,
    ).to_json()
    event.update(extra)
    assert not kw
    return event


@pytest.fixture
def chain(sqlite_ledger: Ledger) -> Ledger:
    """FARM packs (in Spain) → DC inspects → TRUCK → a customer, with what must stay hidden."""
    ledger = sqlite_ledger
    create_projection_tables(ledger.engine)
    for pid, role, name in (
        (FARM, "supplier", "Green Farm"),
        (DC, "warehouse", "North DC"),
        (TRUCK, "carrier", "FastVan"),
        (SHOPPER, "customer", "Jane Secretperson"),
    ):
        register_party(ledger=ledger, party_id=pid, role=role, name=name)
    events = [
        _event(
            0,
            "packing",
            src=[FARM],
            temps=[(0, 3.0), (1, 3.5)],
            raw={"ilmd": {"cbvmda:countryOfOrigin": "ES", "example:grade": "A"}},
        ),
        _event(2, "shipping", src=[FARM], dst=[DC]),
        _event(2.1, "inspecting", src=[DC], disposition="conformant", temps=[(2.1, 4.0)]),
        _event(3, "storing", src=[DC], ext={"fp:private": True, "example:note": "SECRET"}),
        _event(4, "shipping", src=[DC], dst=[TRUCK], ext={"example:price": "12.34"}),
        _event(
            5, "inspecting", src=[TRUCK], disposition="damaged", ext={"fp:private": ["disposition"]}
        ),
        _event(6, "shipping", src=[TRUCK], dst=[SHOPPER]),
        _event(7, "receiving", src=[SHOPPER], dst=[SHOPPER], temps=[(7, 21.0)]),
        # The same lot number under another GTIN: never part of this lot's story.
        _event(
            1,
            "packing",
            src=[FARM],
            quantities=(Quantity("urn:epc:class:lgtin:4000001.054321.L1", 9),),
            raw={"ilmd": {"cbvmda:countryOfOrigin": "PE"}},
        ),
    ]
    doc = epcis_document(
        events,
        creation_date=T0,
        times=ZULU,
        context=(EPCIS_CONTEXT, {"example": "https://example.com/", "fp": "https://fp.example/"}),
    )
    capture_events(
        ledger=ledger, events_in=parse_document(doc), actor="key:fpk_0000 (supply_chain)"
    )
    return ledger


def test_the_story_tells_the_route_inspections_and_origin(chain: Ledger) -> None:
    story = public_story(ledger=chain, link=PackLink(GTIN, lot="L1"), policy=DEFAULT_STORY_POLICY)
    assert [(s.party.name if s.party else None) for s in story.route] == [
        "Green Farm",
        "North DC",
        "FastVan",
    ]
    assert story.route[-1].end == T0 + timedelta(hours=6)  # handed to the customer: the end
    assert story.producer is not None and story.producer.name == "Green Farm"
    assert [(i.outcome, i.disposition) for i in story.inspections] == [
        ("passed", "conformant"),
        ("recorded", None),  # the disposition its supplier marked private is not told
    ]
    # Only the origin fields of the policy; this lot's country, not the other GTIN's.
    assert [(f.key, f.value) for f in story.origin] == [("cbvmda:countryOfOrigin", "ES")]
    assert [r.celsius for r in story.readings] == [3.0, 3.5, 4.0]


def test_nothing_private_nothing_of_a_customer_nor_another_gtin(chain: Ledger) -> None:
    story = public_story(ledger=chain, link=PackLink(GTIN, lot="L1"), policy=DEFAULT_STORY_POLICY)
    told = repr(story)
    for secret in ("SECRET", "Jane", SHOPPER, "12.34", "PE", "054321", "damaged", "21.0"):
        assert secret not in told
    steps = [(s.biz_step, s.time - T0) for s in story.steps]
    assert ("storing", timedelta(hours=3)) not in steps  # the event marked private whole
    assert all(s.time < T0 + timedelta(hours=6) for s in story.steps)  # not the customer's


def test_a_record_is_sent_whole_only_when_all_of_it_is_public(chain: Ledger) -> None:
    story = public_story(ledger=chain, link=PackLink(GTIN, lot="L1"), policy=DEFAULT_STORY_POLICY)
    published = {(s.biz_step, (s.time - T0) / timedelta(hours=1)): s.record for s in story.steps}
    # ILMD with a non-origin key, a price extension, a field marked private: withheld.
    assert published[("packing", 0)] is None
    assert published[("shipping", 4)] is None
    assert published[("inspecting", 5)] is None
    # A plain handover and a clean inspection: whole, and what the page shows is in them.
    for key in (("shipping", 2), ("inspecting", 2.1)):
        record = published[key]
        assert record is not None
        step = next(s for s in story.steps if s.record == record)
        view = json.loads(record)["body"]["view"]
        assert all(view[k] == v for k, v in step.shown.items()) and step.shown
    # A policy that makes the grade and the price public publishes them.
    open_policy = parse_story_policy(
        {
            "origin_fields": ["cbvmda:countryOfOrigin", "example:grade"],
            "extension_fields": ["example:price"],
        }
    )
    story = public_story(ledger=chain, link=PackLink(GTIN, lot="L1"), policy=open_policy)
    assert all(s.record is not None for s in story.steps if s.biz_step in ("packing", "shipping"))


def test_a_shell_users_capture_is_not_sent_whole(sqlite_ledger: Ledger) -> None:
    create_projection_tables(sqlite_ledger.engine)
    register_party(ledger=sqlite_ledger, party_id=FARM, role="supplier", name="Green Farm")
    doc = epcis_document([_event(0, "packing", src=[FARM])], creation_date=T0, times=ZULU)
    capture_events(ledger=sqlite_ledger, events_in=parse_document(doc), actor="cli:alice")
    story = public_story(
        ledger=sqlite_ledger, link=PackLink(GTIN, lot="L1"), policy=DEFAULT_STORY_POLICY
    )
    assert [s.record for s in story.steps] == [None]


def test_unknown_lots_and_gtins_are_unknown(chain: Ledger) -> None:
    for link in (PackLink(GTIN, lot="L2"), PackLink("04000001999996", lot="L1")):
        with pytest.raises(UnknownLotError):
            public_story(ledger=chain, link=link, policy=DEFAULT_STORY_POLICY)


def test_an_item_is_told_by_its_lot(sqlite_ledger: Ledger) -> None:
    create_projection_tables(sqlite_ledger.engine)
    register_party(ledger=sqlite_ledger, party_id=FARM, role="supplier", name="Green Farm")
    item = _event(0, "commissioning", src=[FARM])
    item["epcList"] = ["urn:epc:id:sgtin:4000001.012345.SN1"]
    doc = epcis_document(
        [item, _event(1, "shipping", src=[FARM], dst=[DC])], creation_date=T0, times=ZULU
    )
    capture_events(ledger=sqlite_ledger, events_in=parse_document(doc), actor="key:fpk_1 (x)")
    story = public_story(
        ledger=sqlite_ledger, link=PackLink(GTIN, serial="SN1"), policy=DEFAULT_STORY_POLICY
    )
    assert story.lot == "L1" and [s.biz_step for s in story.steps] == ["commissioning", "shipping"]
    with pytest.raises(UnknownLotError):
        public_story(
            ledger=sqlite_ledger, link=PackLink(GTIN, serial="SN2"), policy=DEFAULT_STORY_POLICY
        )


# ---------------------------------------------------------------------------- the policy


def test_the_policy_file_is_checked_whole(tmp_path: Path) -> None:
    path = tmp_path / "story.json"
    path.write_text(
        json.dumps(
            {
                "products": {
                    GTIN: {"category": "chilled", "names": {"en": "Berries", "zh": "浆果"}}
                },
                "default_category": "chilled_produce",
            }
        )
    )
    policy = load_story_policy(path)
    assert (
        policy.product(GTIN).name("zh") == "浆果" and policy.product(GTIN).name("fr") == "Berries"
    )
    assert policy.product("04000001999996").category == "chilled_produce"
    assert "bizTransactionList" not in policy.event_fields and policy.hidden_roles == {"customer"}
    for bad, key in (
        ({"prodcts": {}}, "prodcts"),
        ({"products": {"123": {}}}, "products.123"),
        ({"show_returns": "no"}, "show_returns"),
        ({"extension_fields": "example:price"}, "extension_fields"),
    ):
        with pytest.raises(InvalidStoryPolicyError) as caught:
            parse_story_policy(bad)
        assert caught.value.key == key
