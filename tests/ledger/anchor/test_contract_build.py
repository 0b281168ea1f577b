"""The committed CheckpointAnchor.json is what the pinned solc-js makes of CheckpointAnchor.sol."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ledger.anchor import load_artifact

REPO = Path(__file__).resolve().parents[3]
CONTRACTS = REPO / "ledger" / "anchor" / "contracts"
SOURCE = CONTRACTS / "CheckpointAnchor.sol"
ARTIFACT = CONTRACTS / "CheckpointAnchor.json"
COMPILER = REPO / "tools" / "compile_contract.mjs"


def _committed() -> dict[str, Any]:
    return dict(json.loads(ARTIFACT.read_text(encoding="utf-8")))


def test_artifact_was_built_from_this_source() -> None:
    # Needs no node: catches a .sol edit committed without recompiling.
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    assert _committed()["sourceSha256"] == digest


def test_artifact_pins_the_solc_in_package_json() -> None:
    pinned = json.loads((CONTRACTS / "package.json").read_text())["devDependencies"]["solc"]
    assert _committed()["compiler"]["version"].startswith(f"{pinned}+commit.")


def test_anchor_loads_the_committed_artifact() -> None:
    artifact = load_artifact()
    committed = _committed()
    assert artifact.abi == committed["abi"]
    assert artifact.bytecode == committed["bytecode"]
    assert {item.get("name") for item in artifact.abi} >= {"anchor", "Anchored", "latestSize"}


def test_recompiling_reproduces_the_committed_artifact(node_modules: Path, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None  # the node_modules fixture skips without it
    out = tmp_path / "CheckpointAnchor.json"
    done = subprocess.run(
        [node, str(COMPILER), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rebuilt = json.loads(out.read_text(encoding="utf-8"))
    committed = _committed()
    for key in ("abi", "bytecode", "deployedBytecode", "compiler", "settings", "sourceSha256"):
        assert rebuilt[key] == committed[key], f"{key} differs: run node {COMPILER}"
    # Byte-identical too, so regenerating never produces a spurious diff.
    assert out.read_bytes() == ARTIFACT.read_bytes()
