"""A counter-party checks a dossier with a minimal install: the verifier loads no database
code, no Ethereum client, no claims or API code, no model runtime."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "web3", "eth_account", "claims", "api", "storage", "numpy", "torch")


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_the_dossier_verifier_imports_without_a_database_or_a_chain_client() -> None:
    loaded = _loaded_after("from dossier.verify import verify_dossier")
    assert "dossier.verify" in loaded
    assert not {m for m in loaded for h in HEAVY if m == h or m.startswith(h + ".")}


def test_a_proof_bundle_verifies_without_the_database_bound_log() -> None:
    loaded = _loaded_after("from ledger.bundle import verify_bundle; import ledger")
    assert "ledger.bundle" in loaded and "ledger.log" not in loaded
    assert "sqlalchemy" not in loaded
