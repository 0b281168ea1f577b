"""The ledger's signing key kept under the data dir."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from ledger.keys import load_or_create_signer
from ledger.note import Signer


def _open_together(key_dir: Path, n: int) -> list[Signer | BaseException]:
    """What each of ``n`` starters opening ``key_dir`` at once got."""
    start = threading.Barrier(n)
    found: list[Signer | BaseException] = []

    def open_key() -> None:
        start.wait()
        try:
            found.append(load_or_create_signer(configured=None, key_dir=key_dir, name="o"))
        except BaseException as exc:
            found.append(exc)

    threads = [threading.Thread(target=open_key) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return found


def test_processes_starting_together_share_one_key_none_half_written(tmp_path: Path) -> None:
    # An API and its workers starting on a fresh data dir each found no key; each must end
    # with the one key written first (the check-then-create lost the race with an error, or
    # read the winner's file before it was written).
    for round_ in range(20):
        key_dir = tmp_path / f"keys{round_}"
        found = _open_together(key_dir, 6)
        assert all(isinstance(s, Signer) for s in found), found
        texts = {s.to_string() for s in found if isinstance(s, Signer)}
        assert len(texts) == 1
        (signer,) = texts
        assert (key_dir / "ledger.signer").read_text().strip() == signer
        assert stat.S_IMODE((key_dir / "ledger.signer").stat().st_mode) == 0o600
        verifier = (key_dir / "ledger.verifier").read_text().strip()
        assert verifier == Signer.from_string(signer).verifier().to_string()
        assert sorted(p.name for p in key_dir.iterdir()) == ["ledger.signer", "ledger.verifier"]
