"""``freshproof events import``: EPCIS files and logger CSVs, all-or-nothing, deduplicated."""

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.services import build_services
from api.settings import Settings
from supplychain.epcis.build import ZULU, ObjectEvent, Quantity, epcis_document

DATA = Path(__file__).resolve().parent / "supplychain" / "data" / "epcis"
LOT = "urn:epc:class:lgtin:4012345.012345.STRAW-0502"
MAY_2_SIX = datetime(2024, 5, 2, 6, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(tmp_path / "var"))
    return tmp_path


def _size() -> int:
    services = build_services(Settings())
    try:
        return services.ledger.size()
    finally:
        services.close()


def test_import_epcis_then_reimport_is_deduplicated(tmp_path: Path) -> None:
    doc = tmp_path / "doc.json"
    shutil.copy(DATA / "object_shipping_inspection.json", doc)
    first = CliRunner().invoke(app, ["events", "import", str(doc)])
    assert first.exit_code == 0, first.output
    assert "2 events appended, 0 already" in first.stdout
    second = CliRunner().invoke(app, ["events", "import", str(doc)])
    assert "0 events appended, 2 already" in second.stdout
    assert _size() == 2


def test_import_logger_csv(tmp_path: Path) -> None:
    csv = tmp_path / "logger.csv"
    csv.write_text(
        "device_id,lot,timestamp,temperature\n"
        f"LOG-7,{LOT},2024-05-02T06:15:00+02:00,4.5\n"
        f"LOG-7,{LOT},2024-05-02T06:45:00+02:00,41.5\n"
        f"LOG-7,{LOT},2024-05-02T08:05:00+02:00,6\n"
    )
    result = CliRunner().invoke(app, ["events", "import", str(csv)])
    assert result.exit_code == 0, result.output
    assert "2 events appended" in result.stdout  # two UTC hours
    services = build_services(Settings())
    from supplychain.trace import lot_trace

    trace = lot_trace(ledger=services.ledger, lot=LOT)
    services.close()
    assert sorted(t["celsius"] for e in trace["events"] for t in e["temperatures"]) == [
        4.5,
        6.0,
        41.5,
    ]


def test_bad_file_imports_nothing(tmp_path: Path) -> None:
    doc = json.loads((DATA / "object_shipping_inspection.json").read_text())
    doc["epcisBody"]["eventList"][1]["eventTime"] = "yesterday"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["events", "import", str(bad)])
    assert result.exit_code == 1 and "nothing imported" in result.stderr
    assert "eventTime" in result.stderr
    assert _size() == 0
    csv = tmp_path / "bad.csv"
    csv.write_text(f"device_id,lot,timestamp,temperature\nL1,{LOT},2024-05-02T06:15:00,4\n")
    result = CliRunner().invoke(app, ["events", "import", str(csv)])
    assert result.exit_code == 1 and _size() == 0


def test_the_logger_csv_format_is_documented_where_users_look() -> None:
    help_text = CliRunner().invoke(app, ["events", "import", "--help"], env={"COLUMNS": "120"})
    for word in ("device_id", "lot", "timestamp", "temperature", "--gtin", "offset", "unit"):
        assert word in help_text.stdout, word


def test_the_readmes_logger_csv_imports_under_the_readmes_lot(tmp_path: Path) -> None:
    from supplychain.trace import lot_trace

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    csv_text = readme.split("```csv\n", 1)[1].split("```", 1)[0]
    command = readme.split("`freshproof events import logger.csv --gtin ", 1)[1].split("`")[0]
    logger = tmp_path / "logger.csv"
    logger.write_text(csv_text)
    doc = tmp_path / "doc.json"
    shutil.copy(DATA / "object_shipping_inspection.json", doc)
    assert CliRunner().invoke(app, ["events", "import", str(doc)]).exit_code == 0
    result = CliRunner().invoke(app, ["events", "import", str(logger), "--gtin", command])
    assert result.exit_code == 0, result.output
    assert "events appended" in result.stdout
    services = build_services(Settings())
    try:
        trace = lot_trace(ledger=services.ledger, lot="STRAW-0502")  # as the README's claim
    finally:
        services.close()
    # The 11.6 °C reading is on the lot's trace: the GTIN and lot code named the same lot.
    text = json.dumps(trace, default=str)
    assert "11.6" in text and "urn:freshproof:logger:LOG-17" in text
    assert "4.5" in text  # the EPCIS example's own reading: one lot


def _inspection(at: datetime, read_point: str) -> dict[str, object]:
    """An inspection naming no party: whoever captures it says they saw the goods."""
    event = ObjectEvent(
        event_time=at,
        biz_step="inspecting",
        disposition="damaged",
        read_point=read_point,
        quantities=(Quantity(LOT, 1, "KGM"),),
        times=ZULU,
    )
    return epcis_document([event], creation_date=at, times=ZULU)


def test_speaks_for_binds_an_import_as_the_partys_key_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "olga")
    doc = tmp_path / "doc.json"
    shutil.copy(DATA / "object_shipping_inspection.json", doc)
    outsider = "urn:epc:id:pgln:4099999.00000"
    # The lot's own records, on behalf of the parties that hold it: an outsider may not.
    refused = CliRunner().invoke(app, ["events", "import", str(doc), "--speaks-for", outsider])
    assert refused.exit_code == 1 and "names-another-party" in refused.stderr
    assert _size() == 0
    assert CliRunner().invoke(app, ["events", "import", str(doc)]).exit_code == 0
    # An outsider's inspection inside the carrier's custody, at the outsider's own site
    # neither: refused, nothing written; the carrier's own read point: accepted.
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(_inspection(MAY_2_SIX, "urn:epc:id:sgln:4099999.00001.0")))
    result = CliRunner().invoke(app, ["events", "import", str(forged), "--speaks-for", outsider])
    assert result.exit_code == 1 and "not-your-custody" in result.stderr
    assert _size() == 2
    carrier = "urn:epc:id:pgln:4023333.00000"
    own = tmp_path / "own.json"
    own.write_text(json.dumps(_inspection(MAY_2_SIX, "urn:epc:id:sgln:4023333.00001.0")))
    ok = CliRunner().invoke(app, ["events", "import", str(own), "--speaks-for", carrier])
    assert ok.exit_code == 0, ok.output
    services = build_services(Settings())
    try:
        entry = services.ledger.entry(services.ledger.size() - 1).body
    finally:
        services.close()
    assert entry["captured_by"] == "cli:olga" and entry["captured_for"] == [carrier]


def test_speaks_for_stamps_an_import_as_the_partys_key_would(tmp_path: Path) -> None:
    """--speaks-for for several parties: each event is captured for those of them that took
    part in it, as with their API key; without it, for no party (the operator's own)."""
    supplier, retailer = "urn:epc:id:pgln:4012345.00000", "urn:epc:id:pgln:4000001.00000"
    raw = json.loads((DATA / "object_shipping_inspection.json").read_text())
    del raw["epcisBody"]["eventList"][1]  # the supplier's shipment of a new lot
    doc = tmp_path / "shipment.json"
    doc.write_text(json.dumps(raw))
    args = ["events", "import", str(doc), "--speaks-for", retailer, "--speaks-for", supplier]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    raw["epcisBody"]["eventList"][0]["eventTime"] = "2024-05-02T06:16:00.000+02:00"
    doc.write_text(json.dumps(raw))
    assert CliRunner().invoke(app, ["events", "import", str(doc)]).exit_code == 0
    services = build_services(Settings())
    try:
        bound, own = (services.ledger.entry(i).body for i in (0, 1))
    finally:
        services.close()
    assert bound["captured_for"] == [supplier]
    assert own["captured_by"].startswith("cli:") and "captured_for" not in own


def test_an_import_releases_the_receipts_held_for_it(tmp_path: Path) -> None:
    """The operator records the handover of a carrier that records nothing: the receiver's
    receipt, held for that carrier's record (``supplychain.held``), is appended with it."""
    from datetime import timedelta

    from supplychain.epcis import parse_document
    from supplychain.held import Capturer, HeldCapture, capture_or_hold, get_held
    from tests.epcis_events import document, lot_event

    farm, truck, dc = (f"urn:epc:id:pgln:40{n}.00000" for n in (11111, 22222, 33333))
    lot = "urn:epc:class:lgtin:4011111.012345.HELD-CLI"
    at = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    first = tmp_path / "farm.json"
    first.write_text(
        json.dumps(
            document(
                lot_event(lot, at, "packing", src=farm),
                lot_event(lot, at + timedelta(hours=2), "shipping", src=farm, dst=truck),
            )
        )
    )
    assert CliRunner().invoke(app, ["events", "import", str(first)]).exit_code == 0
    services = build_services(Settings())
    try:
        token, _ = services.keys.create(
            role="supply_chain", name="DC", created_by="tests", parties=(dc,)
        )
        key_id = token.split("_")[1]
        raw = json.dumps(
            document(lot_event(lot, at + timedelta(hours=5), "receiving", src=truck, dst=dc))
        ).encode()
        held = capture_or_hold(
            ledger=services.ledger,
            document=parse_document(raw),
            raw=raw,
            capturer=Capturer(key_id, f"key:{key_id}", (dc,)),
            policy=Settings().hold_policy,
            now=datetime.now(UTC),
        )
        assert isinstance(held, HeldCapture)
    finally:
        services.close()
    # The truck's receipt and shipment, as the operator records them (no party's key).
    second = tmp_path / "truck.json"
    second.write_text(
        json.dumps(
            document(
                lot_event(
                    lot, at + timedelta(hours=2, minutes=3), "receiving", src=farm, dst=truck
                ),
                lot_event(lot, at + timedelta(hours=4, minutes=58), "shipping", src=truck, dst=dc),
            )
        )
    )
    result = CliRunner().invoke(app, ["events", "import", str(second)])
    assert result.exit_code == 0, result.output
    assert f"held capture {held.id} released" in result.stdout
    services = build_services(Settings())
    try:
        released = get_held(services.engine, held.id)
        (index,) = released.ledger_indices
        entry = services.ledger.entry(index).body
    finally:
        services.close()
    assert released.status == "released"
    assert entry["view"]["biz_step"] == "receiving" and entry["captured_for"] == [dc]
