"""The FDA FSMA 204 export of a lot built through the API: every row, every cell.

A romaine lot goes harvest → cooling → initial packing → shipping (through a carrier) →
receiving → transformation into a salad, each party posting its own records with its own
key, with some KDEs deliberately left out of the records (``OMIT``). The export must give
every KDE the records hold, name each one they lack, never fill one in, and carry the ledger
entry of each row.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from api.app import create_app
from api.settings import Settings
from simulator.builder import REGISTRY, Gen
from simulator.chain import document
from simulator.fsma import CARRIER, COOLER, FARM, PACKER, PROCESSOR, ProduceLot
from simulator.spec import PartySpec
from supplychain.fsma import COLUMNS, REQUIRED, Cte
from tests.api.access import grant
from tests.epcis_events import lot_event

START = datetime(2026, 5, 1, 14, 0, tzinfo=UTC)
OMIT = frozenset(
    {"harvest.field", "cooling.reference", "receiving.reference", "transformation.product"}
)
CHAIN = ProduceLot(start=START, omit=OMIT)
NO_CONTACT = " [not on record: physical address, phone number]"
LACKING = " (lacking physical address, phone number)"
NO_REFERENCE = "MISSING: the event lists no business transaction (bizTransactionList)"
NO_FIELD = "MISSING: no record of the lot names its field or growing area (ILMD fieldName)"
ROMAINE = "Romaine hearts, 3 count, 12 bags a case"


def place(party: PartySpec, site: str | None = None) -> str:
    """A location description as the export writes it: name, party id, GLN; no address."""
    prefix = party.id.removeprefix("urn:epc:id:pgln:").split(".")[0]
    at = f" at urn:epc:id:sgln:{prefix}.00000.{site}" if site else ""
    return f"{party.name} ({party.id}){at}{NO_CONTACT}"


def partial(*columns: str) -> str:
    return "; ".join(f"{c}{LACKING}" for c in columns)


EVENT = "Location Description of the Event"
SOURCE = "Traceability Lot Code Source (Location Description) or TLC Source Reference"
NEXT = "Immediate Subsequent Recipient (Location Description)"
PREVIOUS = "Immediate Previous Source (Location Description)"
FARM_AT = "Farm Where Harvested (Location Description)"
COOLED_AT = "Where Cooled (Location Description)"

HARVESTING = {
    "Critical Tracking Event (CTE)": "Harvesting",
    "CFR Section": "21 CFR 1.1325(a)",
    "Event Time (UTC)": "2026-05-01T14:00:00Z",
    "Event Date": "2026-05-01",
    "Traceability Lot Code (TLC)": "H-0501",
    "Product Identifier (GTIN)": "04100001123459",
    "Product Description": "Romaine lettuce, Green Towers",
    "Quantity": "900",
    "Unit of Measure": "KGM",
    EVENT: place(FARM, "1"),
    NEXT: place(COOLER),
    "Field or Growing Area Name": NO_FIELD,
    "Reference Document Type": "Despatch Advice (ASN)",
    "Reference Document Number": "urn:epcglobal:cbv:bt:4100001000006:FT-771",
    "Missing KDEs": "Field or Growing Area Name",
    "Partial KDEs": partial(NEXT, EVENT),
}
COOLING = {
    "Critical Tracking Event (CTE)": "Cooling",
    "CFR Section": "21 CFR 1.1325(b)",
    "Event Time (UTC)": "2026-05-01T16:00:00Z",
    "Event Date": "2026-05-01",
    "Traceability Lot Code (TLC)": "H-0501",
    "Product Identifier (GTIN)": "04100001123459",
    "Product Description": "Romaine lettuce, Green Towers",
    "Quantity": "880",
    "Unit of Measure": "KGM",
    EVENT: place(COOLER, "1"),
    NEXT: place(PACKER),
    FARM_AT: place(FARM, "1"),
    "Reference Document Type": NO_REFERENCE,
    "Reference Document Number": NO_REFERENCE,
    "Missing KDEs": "Reference Document Type; Reference Document Number",
    "Partial KDEs": partial(NEXT, EVENT, FARM_AT),
}
INITIAL_PACKING = {
    "Critical Tracking Event (CTE)": "Initial Packing",
    "CFR Section": "21 CFR 1.1330(a)",
    "Event Time (UTC)": "2026-05-01T20:00:00Z",
    "Event Date": "2026-05-01",
    "Traceability Lot Code (TLC)": "ROM-0501",
    "Product Identifier (GTIN)": "04100003246804",
    SOURCE: place(PACKER, "1"),
    "Product Description": ROMAINE,
    "Quantity": "80",
    "Unit of Measure": "CS",
    EVENT: place(PACKER, "1"),
    FARM_AT: place(FARM, "1"),
    "Field or Growing Area Name": NO_FIELD,
    "Harvester Business Name and Phone Number": "Salinas Valley Farm [not on record: phone number]",
    "Date of Harvesting": "2026-05-01",
    COOLED_AT: place(COOLER, "1"),
    "Date of Cooling": "2026-05-01",
    "Commodity and Variety Received": "Romaine lettuce, Green Towers",
    "Date Received": "2026-05-01",
    "Quantity Received": "880",
    "Unit of Measure Received": "KGM",
    "Reference Document Type": "Production Order",
    "Reference Document Number": "urn:epcglobal:cbv:bt:4100003000004:WO-5501",
    "Missing KDEs": "Field or Growing Area Name",
    "Partial KDEs": "; ".join(
        [
            f"{FARM_AT}{LACKING}",
            "Harvester Business Name and Phone Number (lacking phone number)",
            f"{COOLED_AT}{LACKING}",
            f"{EVENT}{LACKING}",
            f"{SOURCE}{LACKING}",
        ]
    ),
}
SHIPPING = {
    "Critical Tracking Event (CTE)": "Shipping",
    "CFR Section": "21 CFR 1.1340(a)",
    "Event Time (UTC)": "2026-05-01T22:00:00Z",
    "Event Date": "2026-05-01",
    "Traceability Lot Code (TLC)": "ROM-0501",
    "Product Identifier (GTIN)": "04100003246804",
    SOURCE: place(PACKER, "1"),
    "Product Description": ROMAINE,
    "Quantity": "40",
    "Unit of Measure": "CS",
    EVENT: place(PACKER, "2"),
    # The shipment names the carrier; FSMA asks for the recipient other than a transporter:
    # the processor, whose receipt names it.
    NEXT: place(PROCESSOR, "1"),
    "Reference Document Type": "Bill of Lading; Purchase Order",
    "Reference Document Number": "urn:epcglobal:cbv:bt:4100003000004:BOL-9001; "
    "urn:epcglobal:cbv:bt:4100005000002:PO-3001",
    "Missing KDEs": "",
    "Partial KDEs": partial(NEXT, EVENT, SOURCE),
}
RECEIVING = {
    "Critical Tracking Event (CTE)": "Receiving",
    "CFR Section": "21 CFR 1.1345(a)",
    "Event Time (UTC)": "2026-05-02T00:00:00Z",
    "Event Date": "2026-05-01",  # 17:00 at the processor (-07:00)
    "Traceability Lot Code (TLC)": "ROM-0501",
    "Product Identifier (GTIN)": "04100003246804",
    SOURCE: place(PACKER, "1"),
    "Product Description": ROMAINE,
    "Quantity": "40",
    "Unit of Measure": "CS",
    EVENT: place(PROCESSOR, "1"),
    PREVIOUS: place(PACKER, "2"),  # the carrier named, the packer who tendered it
    "Reference Document Type": NO_REFERENCE,
    "Reference Document Number": NO_REFERENCE,
    "Missing KDEs": "Reference Document Type; Reference Document Number",
    "Partial KDEs": partial(PREVIOUS, EVENT, SOURCE),
}
TRANSFORMATION = {
    "Critical Tracking Event (CTE)": "Transformation",
    "CFR Section": "21 CFR 1.1350(a)",
    "Event Time (UTC)": "2026-05-02T04:00:00Z",
    "Event Date": "2026-05-01",
    "Traceability Lot Code (TLC)": "SAL-0503",
    "Product Identifier (GTIN)": "04100005369129",
    SOURCE: place(PROCESSOR, "1"),
    "Product Description": "MISSING: no record of lot SAL-0503 gives a product description "
    "(ILMD productDescription or productName)",
    "Quantity": "1200",
    "Unit of Measure": "EA",
    EVENT: place(PROCESSOR, "1"),
    "Input Traceability Lot Codes": "ROM-0501; TOM-0430",
    "Input Product Descriptions": f"ROM-0501: {ROMAINE}; TOM-0430 "
    "[not on record: product description of TOM-0430]",
    "Input Quantities and Units of Measure": "ROM-0501: 40 CS; TOM-0430: 100 KGM",
    "Reference Document Type": "Production Order",
    "Reference Document Number": "urn:epcglobal:cbv:bt:4100005000002:BATCH-88",
    "Missing KDEs": "Product Description",
    "Partial KDEs": "; ".join(
        [
            "Input Product Descriptions (lacking product description of TOM-0430)",
            f"{EVENT}{LACKING}",
            f"{SOURCE}{LACKING}",
        ]
    ),
}


def build_lot(app: FastAPI, client: TestClient, chain: ProduceLot = CHAIN) -> None:
    """Each party registers itself and posts its own records with its own key."""
    for p in chain.parties:
        key = grant(app, "supply_chain", parties=[p.id])
        r = client.post(
            "/v1/parties", json={"id": p.id, "role": p.role, "name": p.name}, headers=key
        )
        assert r.status_code == 201, r.text
    for party, doc in chain.documents():
        r = client.post(
            "/v1/events", json=doc, headers=grant(app, "supply_chain", parties=[party.id])
        )
        assert r.status_code == 201, r.text


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    # The data dir the CLI reads too (FRESHPROOF_DATA_DIR), so one lot serves both.
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FRESHPROOF_ANCHOR_BACKEND", "none")
    return create_app(Settings())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        build_lot(app, c)
        yield c


def _csv(client: TestClient, lot: str, key: dict[str, str]) -> list[dict[str, str]]:
    r = client.get(f"/v1/lots/{lot}/fsma", params={"format": "csv"}, headers=key)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith(b"\xef\xbb\xbf")  # a BOM: spreadsheet programs read UTF-8
    reader = csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline=""))
    header, *body = list(reader)
    assert tuple(header) == COLUMNS  # one header row, every column, nothing merged
    return [dict(zip(header, line, strict=True)) for line in body]


def _check(app: FastAPI, got: list[dict[str, str]], expected: list[dict[str, str]]) -> None:
    """Every cell: the expected ones as written, all others empty, each row's entry real."""
    assert [g["Critical Tracking Event (CTE)"] for g in got] == [
        e["Critical Tracking Event (CTE)"] for e in expected
    ]
    ledger = app.state.services.ledger
    proof = ("Ledger Index", "Ledger Leaf Hash", "EPCIS Event Hash ID")
    for row, want in zip(got, expected, strict=True):
        for column in COLUMNS:
            if column not in proof:
                assert row[column] == want.get(column, ""), (want["CFR Section"], column)
        entry = ledger.entry(int(row["Ledger Index"]))
        assert entry.kind == "epcis.event"
        assert row["Ledger Leaf Hash"] == entry.leaf_hash.hex()
        assert row["EPCIS Event Hash ID"] == entry.body["hash_id"]


def test_every_cell_of_the_packed_lot(app: FastAPI, client: TestClient) -> None:
    rows = _csv(client, CHAIN.packed_class, grant(app, "auditor"))
    _check(app, rows, [INITIAL_PACKING, SHIPPING, RECEIVING, TRANSFORMATION])


def test_every_cell_of_the_harvested_lot(app: FastAPI, client: TestClient) -> None:
    # The packer's receipt before packing is the packing's record (§1.1345(c)), not a row.
    rows = _csv(client, CHAIN.harvest_class, grant(app, "admin"))
    _check(app, rows, [HARVESTING, COOLING, INITIAL_PACKING])


def test_every_required_kde_has_a_column_and_a_value_or_a_reason(
    app: FastAPI, client: TestClient
) -> None:
    rows = _csv(client, CHAIN.packed_class, grant(app, "auditor"))
    rows += _csv(client, CHAIN.harvest_class, grant(app, "auditor"))
    for row in rows:
        cte = Cte(row["Critical Tracking Event (CTE)"])
        required = {k.value for k, _ in REQUIRED[cte]}
        missing = {c for c in COLUMNS if row[c].startswith("MISSING: ")}
        assert all(row[k] for k in required), cte
        assert missing <= required
        listed = set(filter(None, row["Missing KDEs"].split("; ")))
        assert listed == missing


def test_xlsx_reads_back_sortable_and_typed(app: FastAPI, client: TestClient) -> None:
    csv_rows = _csv(client, CHAIN.packed_class, grant(app, "auditor"))
    r = client.get(
        f"/v1/lots/{CHAIN.packed_class}/fsma",
        params={"format": "xlsx"},
        headers=grant(app, "auditor"),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert (
        'filename="fsma204-urn_epc_class_lgtin_4100003.024680.ROM-0501.xlsx"'
        in (r.headers["content-disposition"])
    )
    book = load_workbook(io.BytesIO(r.content))
    sheet = book["FSMA 204 records"]
    assert not sheet.merged_cells.ranges
    assert sheet.auto_filter.ref == f"A1:{get_column_letter(len(COLUMNS))}{len(csv_rows) + 1}"
    assert sheet.freeze_panes == "A2"
    table = [list(line) for line in sheet.iter_rows(values_only=True)]
    assert tuple(table[0]) == COLUMNS
    for line, want in zip(table[1:], csv_rows, strict=True):
        got = dict(zip(COLUMNS, line, strict=True))
        assert isinstance(got["Event Date"], datetime)  # a date cell, shown yyyy-mm-dd
        assert got["Event Date"].date().isoformat() == want["Event Date"]
        assert got["Event Time (UTC)"] == datetime.fromisoformat(want["Event Time (UTC)"][:-1])
        assert (
            isinstance(got["Quantity"], int | float) and f"{got['Quantity']:g}" == want["Quantity"]
        )
        assert got["Ledger Index"] == int(want["Ledger Index"])
        for column in COLUMNS:
            if isinstance(got[column], str) or got[column] is None:
                assert (got[column] or "") == want[column], column
    about = {row[0]: row[1] for row in book["About"].iter_rows(values_only=True)}
    assert about["Query"] == f"lot {CHAIN.packed_class}"
    assert about["Read from ledger size"] == app.state.services.ledger.size()


def test_supply_chain_key_exports_only_its_parties_lots(app: FastAPI, client: TestClient) -> None:
    processor = grant(app, "supply_chain", parties=[PROCESSOR.id])
    assert client.get(f"/v1/lots/{CHAIN.packed_class}/fsma", headers=processor).status_code == 200
    farm = grant(app, "supply_chain", parties=[FARM.id])
    assert client.get(f"/v1/lots/{CHAIN.harvest_class}/fsma", headers=farm).status_code == 200
    refused = client.get(f"/v1/lots/{CHAIN.packed_class}/fsma", headers=farm)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/not-your-lot")
    carrier = grant(app, "supply_chain", parties=[CARRIER.id])  # named by the shipment
    assert client.get(f"/v1/lots/{CHAIN.packed_class}/fsma", headers=carrier).status_code == 200


def test_a_lot_code_two_companies_share_exports_only_the_callers_lot(
    app: FastAPI, client: TestClient
) -> None:
    """Another company's lot ROM-0501 (its own GTIN): by the bare code, each supply-chain key
    gets its own lot's rows; staff get both, each row naming its lot."""
    rival = PartySpec("urn:epc:id:pgln:4199999.00000", "supplier", "Rival Greens")
    key = grant(app, "supply_chain", parties=[rival.id])
    body = {"id": rival.id, "role": rival.role, "name": rival.name}
    assert client.post("/v1/parties", json=body, headers=key).status_code == 201
    theirs = "urn:epc:class:lgtin:4199999.011111.ROM-0501"
    event = lot_event(theirs, datetime(2026, 5, 1, tzinfo=UTC), "shipping", src=rival.id)
    assert client.post("/v1/events", json=document([event]), headers=key).status_code == 201
    processor = grant(app, "supply_chain", parties=[PROCESSOR.id])
    own = _csv(client, CHAIN.packed_lot, processor)
    assert own == _csv(client, CHAIN.packed_class, processor)  # its lot, as by its URI
    rivals = _csv(client, CHAIN.packed_lot, key)
    assert rivals == _csv(client, theirs, key) and len(rivals) == 1
    staff = _csv(client, CHAIN.packed_lot, grant(app, "auditor"))
    assert len(staff) == len(own) + 1 and rivals[0] in staff


@pytest.mark.parametrize("role", ["customer_app", "station", "adjudicator", "ml_engineer"])
def test_other_roles_may_not_export(app: FastAPI, client: TestClient, role: str) -> None:
    bindings: dict[str, Any] = {
        "customer_app": {"customer_id": "C-1"},
        "station": {"station_id": "ST-1", "read_point": "urn:epc:id:sgln:4000001.00001.0"},
    }.get(role, {})
    r = client.get(f"/v1/lots/{CHAIN.packed_class}/fsma", headers=grant(app, role, **bindings))
    assert r.status_code == 403


def test_unknown_lot_is_a_clear_404(app: FastAPI, client: TestClient) -> None:
    r = client.get(
        "/v1/lots/urn:epc:class:lgtin:4100003.024680.NOPE/fsma", headers=grant(app, "auditor")
    )
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/unknown-lot")
    assert "NOPE" in r.json()["detail"]
    bad = client.get(
        f"/v1/lots/{CHAIN.packed_class}/fsma",
        params={"format": "pdf"},
        headers=grant(app, "auditor"),
    )
    assert bad.status_code == 422


def test_a_lot_from_the_claims_simulator_names_each_missing_value(tmp_path: Path) -> None:
    """The claims simulator's standard chain (supplier → carrier → warehouse → carrier) records
    no product description, no location and no reference document but the warehouse's
    purchase order on the two shipments to it: every missing one is named."""
    app = create_app(Settings(data_dir=tmp_path / "sim", anchor_backend="none"))
    now = datetime.now(UTC).replace(microsecond=0)
    gen = Gen(rng=random.Random(5), now=now, lot="SIM-204")
    chain = gen.chain("chilled_produce", now - timedelta(hours=2))
    events = chain.events()
    with TestClient(app) as c:
        key = grant(app, "supply_chain", parties=[p.id for p in REGISTRY])
        for p in REGISTRY:
            c.post("/v1/parties", json={"id": p.id, "role": p.role, "name": p.name}, headers=key)
        assert c.post("/v1/events", json=document(events), headers=key).status_code == 201
        rows = _csv(c, "urn:epc:class:lgtin:4000001.012345.SIM-204", grant(app, "auditor"))
    steps = [e["bizStep"] for e in events if e["bizStep"] in ("packing", "shipping", "receiving")]
    assert len(rows) == len(steps)  # storing, transporting, inspecting: no CTE, no row
    assert rows[0]["Critical Tracking Event (CTE)"] == "Initial Packing"
    for row in rows:
        cte = Cte(row["Critical Tracking Event (CTE)"])
        for kde, _ in REQUIRED[cte]:
            assert row[kde.value], (cte, kde)  # every required KDE: a value or a reason
        assert row["Product Description"].startswith("MISSING: ")
        assert row["Quantity"] == "10" and row["Unit of Measure"] == "KGM"
        assert "Product Description" in row["Missing KDEs"].split("; ")
    # The two shipments up to the warehouse cite its purchase order; nothing else cites one.
    cited = [r for r in rows if r["Reference Document Type"] != NO_REFERENCE]
    assert [(r["Critical Tracking Event (CTE)"], r["Reference Document Type"]) for r in cited] == [
        ("Shipping", "Purchase Order")
    ] * 2
    packing = rows[0]
    for kde in (
        "Date of Harvesting",
        "Farm Where Harvested (Location Description)",
        "Date Received",
    ):
        assert packing[kde].startswith("MISSING: ")
