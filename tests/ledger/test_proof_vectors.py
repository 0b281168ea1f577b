"""Every transparency-dev/merkle RFC 9162 vector, read from ../shared (never copied here)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger import LedgerError, verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "rfc9162"
_MISSING = f"RFC 9162 vectors not found at {VECTORS} (CI always has ../shared)"


def _cases(kind: str) -> list[Any]:
    if not VECTORS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=_MISSING), id="missing")]
    folder = VECTORS / kind
    return [
        pytest.param(path, id=str(path.relative_to(folder)))
        for path in sorted(folder.rglob("*.json"))
    ]


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@pytest.mark.skipif(not VECTORS.is_dir(), reason=_MISSING)
def test_vector_set_is_complete() -> None:
    inclusion = list((VECTORS / "inclusion").rglob("*.json"))
    consistency = list((VECTORS / "consistency").rglob("*.json"))
    # Guards against a half-copied folder silently shrinking the parametrised tests.
    assert len(inclusion) >= 80 and len(consistency) >= 80
    assert any(_load(p)["wantErr"] for p in inclusion + consistency)
    assert any(not _load(p)["wantErr"] for p in inclusion + consistency)


@pytest.mark.parametrize("path", _cases("inclusion"))
def test_inclusion_vector(path: Path) -> None:
    case = _load(path)

    def verify() -> None:
        verify_inclusion(
            leaf_index=case["leafIdx"],
            tree_size=case["treeSize"],
            leaf_hash=_b64(case["leafHash"]),
            proof=[_b64(h) for h in case["proof"] or []],
            root=_b64(case["root"]),
        )

    if case["wantErr"]:
        with pytest.raises(LedgerError):
            verify()
    else:
        assert verify() is None  # type: ignore[func-returns-value]


@pytest.mark.parametrize("path", _cases("consistency"))
def test_consistency_vector(path: Path) -> None:
    case = _load(path)

    def verify() -> None:
        verify_consistency(
            size1=case["size1"],
            size2=case["size2"],
            proof=[_b64(h) for h in case["proof"] or []],
            root1=_b64(case["root1"]),
            root2=_b64(case["root2"]),
        )

    if case["wantErr"]:
        with pytest.raises(LedgerError):
            verify()
    else:
        assert verify() is None  # type: ignore[func-returns-value]
