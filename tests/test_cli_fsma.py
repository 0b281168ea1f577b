"""``freshproof export fsma``: the FSMA 204 spreadsheet from the command line, on a real database
filled through the API (the lot of ``tests/api/test_fsma_export.py``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from api.cli import app as cli
from supplychain.fsma import COLUMNS
from tests.api.test_fsma_export import (
    CHAIN,
    COOLING,
    HARVESTING,
    INITIAL_PACKING,
    RECEIVING,
    SHIPPING,
    TRANSFORMATION,
    app,  # noqa: F401  (the fixture: an app on FRESHPROOF_DATA_DIR)
    client,  # noqa: F401  (the fixture: the lot built through the API)
)

PROOF = ("Ledger Index", "Ledger Leaf Hash", "EPCIS Event Hash ID")


def _rows(text: str) -> list[dict[str, str]]:
    header, *body = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(header) == COLUMNS
    return [dict(zip(header, line, strict=True)) for line in body]


def _same(got: list[dict[str, str]], expected: list[dict[str, str]]) -> None:
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        assert {c: row[c] for c in COLUMNS if c not in PROOF} == {
            c: want.get(c, "") for c in COLUMNS if c not in PROOF
        }


@pytest.mark.usefixtures("client")
def test_lot_to_a_csv_file_and_to_stdout(tmp_path: Path) -> None:
    out = tmp_path / "romaine.csv"
    result = CliRunner().invoke(
        cli, ["export", "fsma", "--lot", CHAIN.packed_class, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stdout and "4 rows, 4 missing key data elements named" in result.stdout
    _same(
        _rows(out.read_bytes().decode("utf-8-sig")),
        [INITIAL_PACKING, SHIPPING, RECEIVING, TRANSFORMATION],
    )
    printed = CliRunner().invoke(cli, ["export", "fsma", "--lot", CHAIN.packed_class])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout_bytes == out.read_bytes()


@pytest.mark.usefixtures("client")
def test_lot_to_xlsx(tmp_path: Path) -> None:
    out = tmp_path / "harvest.xlsx"
    result = CliRunner().invoke(
        cli, ["export", "fsma", "--lot", CHAIN.harvest_class, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out)["FSMA 204 records"]
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert tuple(cells[0]) == COLUMNS
    assert [r[0] for r in cells[1:]] == ["Harvesting", "Cooling", "Initial Packing"]


@pytest.mark.usefixtures("client")
def test_date_range_and_product_filters(tmp_path: Path) -> None:
    runner = CliRunner()
    # The first day (UTC) holds the harvest, cooling, packing and shipment.
    day = runner.invoke(cli, ["export", "fsma", "--from", "2026-05-01", "--to", "2026-05-01"])
    assert day.exit_code == 0, day.output
    _same(
        _rows(day.stdout_bytes.decode("utf-8-sig")),
        [HARVESTING, COOLING, INITIAL_PACKING, SHIPPING],
    )
    night = runner.invoke(cli, ["export", "fsma", "--from", "2026-05-01T23:00:00Z"])
    assert night.exit_code == 0, night.output
    _same(_rows(night.stdout_bytes.decode("utf-8-sig")), [RECEIVING, TRANSFORMATION])
    # A product by GTIN (the packed romaine's): its rows, and the salad made of it.
    gtin = runner.invoke(
        cli, ["export", "fsma", "--product", "04100003246804", "--from", "2026-01-01"]
    )
    assert gtin.exit_code == 0, gtin.output
    _same(
        _rows(gtin.stdout_bytes.decode("utf-8-sig")),
        [INITIAL_PACKING, SHIPPING, RECEIVING, TRANSFORMATION],
    )
    words = runner.invoke(
        cli, ["export", "fsma", "--product", "romaine LETTUCE", "--to", "2027-01-01"]
    )
    assert words.exit_code == 0, words.output
    _same(_rows(words.stdout_bytes.decode("utf-8-sig")), [HARVESTING, COOLING])


@pytest.mark.usefixtures("client")
def test_unknown_lot_and_bad_queries_are_clear_errors() -> None:
    runner = CliRunner()
    unknown = runner.invoke(
        cli, ["export", "fsma", "--lot", "urn:epc:class:lgtin:4100003.024680.NOPE"]
    )
    assert unknown.exit_code == 1
    assert (
        "no events are recorded for lot 'urn:epc:class:lgtin:4100003.024680.NOPE'" in unknown.output
    )
    nothing = runner.invoke(cli, ["export", "fsma"])
    assert nothing.exit_code == 1 and "name a lot, a date range or a product" in nothing.output
    backwards = runner.invoke(cli, ["export", "fsma", "--from", "2026-05-02", "--to", "2026-05-01"])
    assert backwards.exit_code == 1 and "ends before it starts" in backwards.output
    xlsx = runner.invoke(cli, ["export", "fsma", "--lot", CHAIN.packed_class, "--format", "xlsx"])
    assert xlsx.exit_code == 2 and "needs --output" in xlsx.output


def test_fixture_app_is_the_cli_database(app: FastAPI, client: TestClient) -> None:  # noqa: F811
    """The lot the API built is what the CLI reads: the same ledger size in both."""
    size = app.state.services.ledger.size()
    result = CliRunner().invoke(
        cli, ["export", "fsma", "--lot", CHAIN.packed_class, "-o", "/dev/null"]
    )
    assert f"read at ledger size {size}" in result.stdout
