"""Fixtures for the anchor tests: the pinned npm tools (solc-js, anvil), installed once."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

# Imported before the test modules pull in web3 / eth-account themselves: ledger.anchor.ethereum
# puts back the recursion limit those imports raise, which other tests (deep-nesting checks)
# rely on.
import ledger.anchor.ethereum  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
CONTRACTS = REPO / "ledger" / "anchor" / "contracts"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """ledger/anchor/contracts/node_modules, installed by our install.sh on first use."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not on PATH: cannot install solc-js / anvil")
    done = subprocess.run(
        ["sh", str(CONTRACTS / "install.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"ledger/anchor/contracts/install.sh failed:\n{done.stdout}\n{done.stderr}")
    return CONTRACTS / "node_modules"
