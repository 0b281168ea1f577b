"""The ledger is a pure domain package: it never pulls in the web, vision or training code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = {"fastapi", "starlette", "api", "vision", "training", "torch", "ultralytics"}


def test_importing_ledger_loads_no_forbidden_package() -> None:
    # A fresh interpreter, because this test process may already hold those modules.
    code = "import json, sys, ledger; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    loaded = {name.split(".")[0] for name in json.loads(out)}
    assert not loaded & FORBIDDEN


def test_the_log_never_imports_the_supply_chain() -> None:
    # Every module of the log, in a fresh interpreter: the supply chain writes into the log,
    # never the other way round (GUIDE §3).
    code = (
        "import json, pkgutil, importlib, sys, ledger\n"
        "for m in pkgutil.walk_packages(ledger.__path__, 'ledger.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    loaded = {name.split(".")[0] for name in json.loads(out)}
    assert "ledger" in loaded
    assert "supplychain" not in loaded
