"""``freshproof dossier export`` writes a claim's dossier; ``verify`` checks it with the key only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import Settings
from tests.claims.test_dossier import hot_claim, open_services


@pytest.fixture
def claim_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A claim filed in the data dir the CLI reads (FRESHPROOF_DATA_DIR), anchoring off."""
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FRESHPROOF_ANCHOR_BACKEND", "none")
    services = open_services(Settings().data_dir, anchor_backend="none")
    try:
        return hot_claim(services, "LOT-CLI-1")
    finally:
        services.close()


def _export(claim_id: str, out: Path) -> None:
    result = CliRunner().invoke(app, ["dossier", "export", claim_id, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "anchor none" in result.stdout


def test_export_then_verify_with_the_key_file(claim_id: str, tmp_path: Path) -> None:
    out = tmp_path / "dossier.json"
    _export(claim_id, out)
    key = tmp_path / "var" / "keys" / "ledger.verifier"
    result = CliRunner().invoke(app, ["dossier", "verify", str(out), "--key", str(key)])
    assert result.exit_code == 0, result.output
    assert f"OK: claim {claim_id}: all" in result.stdout
    assert "FAILED" not in result.stdout


def test_export_to_stdout_is_the_dossier(claim_id: str) -> None:
    result = CliRunner().invoke(app, ["dossier", "export", claim_id])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["claim_id"] == claim_id


def test_a_tampered_dossier_fails_naming_the_part(claim_id: str, tmp_path: Path) -> None:
    out = tmp_path / "dossier.json"
    _export(claim_id, out)
    doc = json.loads(out.read_text())
    doc["verdict"]["responsible_party"] = "supplier"
    out.write_text(json.dumps(doc))
    key = (tmp_path / "var" / "keys" / "ledger.verifier").read_text()
    result = CliRunner().invoke(app, ["dossier", "verify", str(out), "--key", key])
    assert result.exit_code == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert failed == [
        "FAILED 4. verdict: verdict differs from the ledger's verdict entry at "
        'verdict.responsible_party: the entry says "carrier", the dossier "supplier"'
    ]
    assert "FAIL: claim" in result.stdout and "1 of" in result.stdout


def test_an_unknown_claim_or_an_unreadable_file_exits_1(claim_id: str, tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["dossier", "export", "no-such-claim"])
    assert missing.exit_code == 1 and "no claim" in missing.stderr
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    result = CliRunner().invoke(app, ["dossier", "verify", str(junk), "--key", "k"])
    assert result.exit_code == 1 and result.stdout.startswith("FAIL: cannot read")
