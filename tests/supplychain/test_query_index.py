"""The query index's identity rows: beside each identifier of the EPC and class fields, its
canonical Digital Link when it was captured in another form; nothing else gets one."""

from __future__ import annotations

from supplychain.query.index import index_rows

GTIN = "04012345123456"
LOT_DL = f"https://id.gs1.org/01/{GTIN}/10/LOT1"


def _identities(event: dict[str, object], view: dict[str, object] | None = None) -> set[tuple]:
    rows = index_rows({"event": event, "view": view or {}, "hash_id": "h"})
    return {(f, v) for f, v in rows.values if f.endswith(":identity")}


def test_each_identifier_field_gets_the_identity_of_what_was_captured_in_another_form() -> None:
    event = {
        "epcList": ["urn:epc:id:sgtin:4012345.012345.77", f"https://id.gs1.org/01/{GTIN}/21/78"],
        "childEPCs": [f"https://brand.example/01/{GTIN}/21/79"],
        "inputEPCList": ["urn:epc:id:sscc:4012345.0000000017"],
        "outputEPCList": ["urn:x:tag:1"],  # no GS1 identifier: no identity row
        "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.LOT1"}],
        "inputQuantityList": [{"epcClass": f"http://shop.example/01/{GTIN[1:]}/10/LOT2?x=1"}],
        "outputQuantityList": [{"epcClass": "urn:epc:idpat:sgtin:4012345.012345.*"}],
    }
    view = {
        "parent_id": "urn:epc:id:sscc:4012345.0000000024",
        "lots": ["urn:epc:class:lgtin:4012345.012345.LOT1"],
        "epcs": ["urn:epc:id:sgtin:4012345.012345.77"],
    }
    assert _identities(event, view) == {
        ("epc:identity", f"https://id.gs1.org/01/{GTIN}/21/77"),
        ("epc:identity", f"https://id.gs1.org/01/{GTIN}/21/79"),  # 78 was captured canonical
        ("inputEPC:identity", "https://id.gs1.org/00/040123450000000177"),
        ("parentID:identity", "https://id.gs1.org/00/040123450000000245"),
        ("epcClass:identity", LOT_DL),
        ("inputEPCClass:identity", f"https://id.gs1.org/01/{GTIN}/10/LOT2"),
        ("outputEPCClass:identity", f"https://id.gs1.org/01/{GTIN}"),  # the GTIN's class
    }


def test_the_raw_rows_and_the_lot_keys_stay_as_captured() -> None:
    view = {"lots": ["urn:epc:class:lgtin:4012345.012345.LOT1"]}
    rows = index_rows(
        {"event": {"quantityList": [{"epcClass": view["lots"][0]}]}, "view": view, "hash_id": "h"}
    ).values
    assert ("epcClass", view["lots"][0]) in rows and ("lotKey", view["lots"][0]) in rows
    # Visibility joins lot keys by value (supplychain.query.scope): no identities there.
    assert {v for f, v in rows if f.startswith("lotKey")} == {view["lots"][0]}
