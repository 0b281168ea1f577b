"""The EPCIS query over HTTP finds an identifier in either of its forms: an EPC URN and its
GS1 Digital Link (on any host), whichever the event was captured with and the query names.

Data: lot LOT1 of GTIN 04012345123456 and its item 77 captured by URN; lot LOT2 and item 78
of the same GTIN captured by Digital Links on a brand's own host; a pallet (an SSCC) packed
by URN; lot LOT1 of another company's GTIN (the same lot number, another lot); and one event
that names lot LOT1 in both forms at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.access import grant

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
SUPPLIER = "urn:epc:id:pgln:4012345.00000"
OTHER_COMPANY = "urn:epc:id:pgln:4099999.00000"
OUTSIDER = "urn:epc:id:pgln:4088888.00000"

GTIN = "04012345123456"  # company prefix 4012345, item reference 012345
LOT1_URN = "urn:epc:class:lgtin:4012345.012345.LOT1"
LOT1_DL = f"https://id.gs1.org/01/{GTIN}/10/LOT1"
ITEM77_URN = "urn:epc:id:sgtin:4012345.012345.77"
ITEM77_DL = f"https://id.gs1.org/01/{GTIN}/21/77"
LOT2_URN = "urn:epc:class:lgtin:4012345.012345.LOT2"
LOT2_BRAND = f"https://brand.example/01/{GTIN}/10/LOT2"  # as printed on the pack
ITEM78_URN = "urn:epc:id:sgtin:4012345.012345.78"
ITEM78_BRAND = f"https://brand.example/01/{GTIN}/21/78"
PALLET_URN = "urn:epc:id:sscc:4012345.0000000017"
PALLET_DL = "https://id.gs1.org/00/040123450000000177"
OTHER_LOT1_URN = "urn:epc:class:lgtin:4099999.000001.LOT1"  # GTIN 04099999000012

BY_URN, BY_LINK, PACKED, OTHER, BOTH = (
    f"urn:uuid:00000000-0000-4000-8000-00000000000{n}" for n in range(1, 6)
)


def _event(event_id: str, prefix: str, party: str, **body: Any) -> dict[str, Any]:
    return {
        "eventID": event_id,
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "eventTime": "2024-05-02T06:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "readPoint": {"id": f"urn:epc:id:sgln:{prefix}.00001.0"},
        "sourceList": [{"type": "possessing_party", "source": party}],
        **body,
    }


def _lot(epc_class: str) -> list[dict[str, Any]]:
    return [{"epcClass": epc_class, "quantity": 10, "uom": "KGM"}]


def _document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": [CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-02T09:31:12Z",
        "epcisBody": {"eventList": list(events)},
    }


class World:
    """The app, its keys, and the events above captured through ``POST /v1/events``."""

    def __init__(self, client: TestClient) -> None:
        app = client.app
        self.client = client
        self.admin = grant(app, "admin")  # type: ignore[arg-type]
        self.supplier = grant(app, "supply_chain", parties=[SUPPLIER])  # type: ignore[arg-type]
        self.other = grant(app, "supply_chain", parties=[OTHER_COMPANY])  # type: ignore[arg-type]
        self.outsider = grant(app, "supply_chain", parties=[OUTSIDER])  # type: ignore[arg-type]

    def capture(self, doc: dict[str, Any], key: dict[str, str]) -> None:
        resp = self.client.post("/v1/events", json=doc, headers=key)
        assert resp.status_code == 201, resp.text

    def ids(self, key: dict[str, str] | None = None, **params: str) -> list[str]:
        """The events' ids, in the order served, over every page."""
        query = "&".join(f"{k}={quote(v, safe='|')}" for k, v in params.items())
        resp = self.client.get(f"/v1/events?{query}", headers=key or self.admin)
        found: list[str] = []
        while True:
            assert resp.status_code == 200, resp.text
            body = resp.json()["epcisBody"]["queryResults"]["resultsBody"]
            found += [e["eventID"] for e in body["eventList"]]
            if (link := resp.headers.get("link")) is None:
                return found
            resp = self.client.get(link.split(";")[0].strip("<>"), headers=key or self.admin)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("epcis-forms") / "var"))
    with TestClient(app, raise_server_exceptions=False) as client:
        w = World(client)
        ours = _document(
            _event(BY_URN, "4012345", SUPPLIER, epcList=[ITEM77_URN], quantityList=_lot(LOT1_URN)),
            _event(
                BY_LINK, "4012345", SUPPLIER, epcList=[ITEM78_BRAND], quantityList=_lot(LOT2_BRAND)
            ),
            {
                **_event(PACKED, "4012345", SUPPLIER, childEPCs=[ITEM77_URN]),
                "type": "AggregationEvent",
                "action": "ADD",
                "bizStep": "packing",
                "parentID": PALLET_URN,
            },
            _event(BOTH, "4012345", SUPPLIER, quantityList=_lot(LOT1_URN) + _lot(LOT1_DL)),
        )
        w.capture(ours, w.supplier)
        other = _event(OTHER, "4099999", OTHER_COMPANY, quantityList=_lot(OTHER_LOT1_URN))
        w.capture(_document(other), w.other)
        yield w


@pytest.mark.parametrize(
    "name",
    [
        LOT1_URN,
        LOT1_DL,
        f"https://brand.example/01/{GTIN}/10/LOT1",  # any host
        "http://example.com/shop/01/4012345123456/10/LOT1?x=1",  # a GTIN-13, a path, a query
        f"https://id.gs1.org/gtin/{GTIN}/lot/LOT1",  # the Digital Link's named keys
    ],
)
def test_a_lot_captured_by_urn_is_found_by_any_of_its_names(world: World, name: str) -> None:
    assert sorted(world.ids(MATCH_epcClass=name)) == [BY_URN, BOTH]
    assert sorted(world.ids(MATCH_anyEPCClass=name)) == [BY_URN, BOTH]


@pytest.mark.parametrize("name", [LOT2_URN, LOT2_BRAND, f"https://id.gs1.org/01/{GTIN}/10/LOT2"])
def test_a_lot_captured_by_digital_link_is_found_by_its_urn(world: World, name: str) -> None:
    assert world.ids(MATCH_epcClass=name) == [BY_LINK]


@pytest.mark.parametrize(
    ("name", "found"),
    [
        (ITEM77_DL, [BY_URN]),
        (f"https://brand.example/01/{GTIN}/10/LOT1/21/77", [BY_URN]),  # the serial decides
        (ITEM78_URN, [BY_LINK]),
        (ITEM78_BRAND, [BY_LINK]),
        (f"https://id.gs1.org/01/{GTIN}/21/79", []),
    ],
)
def test_an_item_is_found_by_its_urn_or_its_digital_link(
    world: World, name: str, found: list[str]
) -> None:
    assert world.ids(MATCH_epc=name, EQ_bizStep="shipping") == found


def test_every_epc_field_reads_both_forms(world: World) -> None:
    assert world.ids(MATCH_parentID=PALLET_DL) == [PACKED]
    assert world.ids(MATCH_epc=ITEM77_DL, EQ_bizStep="packing") == [PACKED]  # childEPCs
    assert sorted(world.ids(MATCH_anyEPC=ITEM77_DL)) == [BY_URN, PACKED]
    assert world.ids(MATCH_anyEPC=PALLET_DL) == [PACKED]
    assert world.ids(MATCH_inputEPCClass=LOT1_DL) == []  # a field is still its own


def test_another_lot_of_the_same_number_is_not_matched(world: World) -> None:
    # Lot LOT1 of another company's GTIN: the lot number is the same, the lot is not.
    assert OTHER not in world.ids(MATCH_epcClass=LOT1_DL)
    assert world.ids(MATCH_epcClass=OTHER_LOT1_URN) == [OTHER]
    assert world.ids(MATCH_epcClass="https://id.gs1.org/01/04099999000012/10/LOT1") == [OTHER]
    assert world.ids(MATCH_epcClass=f"https://id.gs1.org/01/{GTIN}/10/LOT3") == []


def test_an_event_is_served_once_whatever_forms_match_it(world: World) -> None:
    # Both forms in the query, both in the event (BOTH), and the item of the same lot.
    names = f"{LOT1_URN}|{LOT1_DL}|https://brand.example/01/{GTIN}/10/LOT1"
    for params in (
        {"MATCH_epcClass": names},
        {"MATCH_anyEPCClass": names, "perPage": "1"},
        {"MATCH_epcClass": LOT1_DL, "MATCH_epc": ITEM77_URN, "perPage": "1"},
    ):
        found = world.ids(**params)
        assert found and Counter(found).most_common(1)[0][1] == 1, (params, found)
    assert sorted(world.ids(MATCH_epcClass=names, perPage="1")) == [BY_URN, BOTH]


def test_an_epc_pattern_matches_epc_uris_as_before(world: World) -> None:
    # idpat patterns stand for EPC URIs, as captured: there is no Digital Link pattern, so an
    # item captured by its Digital Link (78) is found by its URI or its link, not by these.
    pattern = "urn:epc:idpat:sgtin:4012345.012345.*"
    assert world.ids(MATCH_epc=pattern, EQ_bizStep="shipping") == [BY_URN]
    assert sorted(world.ids(MATCH_epcClass=pattern)) == [BY_URN, BOTH]
    # A pattern without '*' names its one EPC, in either form.
    assert world.ids(MATCH_epc="urn:epc:idpat:sgtin:4012345.012345.78") == [BY_LINK]


def test_either_form_opens_nothing_outside_the_callers_lots(world: World) -> None:
    assert sorted(world.ids(world.supplier, MATCH_epcClass=LOT1_DL)) == [BY_URN, BOTH]
    assert world.ids(world.other, MATCH_epcClass=LOT1_DL) == []
    assert world.ids(world.other, MATCH_epc=ITEM78_URN) == []
    assert world.ids(world.outsider, MATCH_epcClass=LOT1_URN) == []
    assert world.ids(world.supplier, MATCH_epcClass=OTHER_LOT1_URN) == []
