"""``freshproof ledger verify`` catches tampering; ``verify-proof`` works with no database."""

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from api.services import build_services
from api.settings import Settings
from ledger.service import current_checkpoint, entry_bundle


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(tmp_path / "var"))
    services = build_services(Settings())
    services.ledger.append_many([("test.note", {"n": i}) for i in range(20)])
    current_checkpoint(ledger=services.ledger, signer=services.signer)
    bundle = entry_bundle(ledger=services.ledger, signer=services.signer, index=5)
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    services.close()
    return tmp_path


def test_verify_passes_on_an_honest_log(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "OK: 20 entries" in result.stdout and "signatures verified" in result.stdout


def test_verify_names_the_first_altered_entry(data_dir: Path) -> None:
    services = build_services(Settings())
    with services.engine.begin() as conn:
        record = conn.execute(text("SELECT record FROM ledger_entries WHERE idx = 7")).scalar()
        conn.execute(
            text("UPDATE ledger_entries SET record = :r WHERE idx = 7"),
            {"r": bytes(record).replace(b'"n":7', b'"n":8')},
        )
    services.close()
    result = CliRunner().invoke(app, ["ledger", "verify"])
    assert result.exit_code == 1
    assert "entry 7" in result.stderr


def test_verify_of_a_dropped_table_or_no_ledger_fails_without_a_traceback(
    data_dir: Path, tmp_path: Path
) -> None:
    services = build_services(Settings())
    with services.engine.begin() as conn:
        conn.execute(text("DROP TABLE ledger_nodes"))
    services.close()
    result = CliRunner().invoke(app, ["ledger", "verify"])
    assert result.exit_code == 1
    assert "cannot be read" in result.stderr and "Traceback" not in result.output

    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(app, ["ledger", "verify", "--database-url", empty])
    assert result.exit_code == 2 and "no ledger" in result.stderr


def test_verify_proof_offline(data_dir: Path) -> None:
    key = (data_dir / "var" / "keys" / "ledger.verifier").read_text().strip()
    bundle = data_dir / "bundle.json"
    ok = CliRunner().invoke(app, ["ledger", "verify-proof", str(bundle), "--key", key])
    assert ok.exit_code == 0, ok.output
    assert "entry 5 (test.note)" in ok.stdout
    forged = json.loads(bundle.read_text())
    forged["inclusion_proof"][0] = forged["inclusion_proof"][1]
    bundle.write_text(json.dumps(forged))
    bad = CliRunner().invoke(app, ["ledger", "verify-proof", str(bundle), "--key", key])
    assert bad.exit_code == 1 and "FAIL" in bad.stderr
