"""The ledger's Ed25519 signing key: from configuration, or generated once under the data dir."""

from __future__ import annotations

from pathlib import Path

from ledger.note import Signer, generate_key
from storage.files import write_whole

__all__ = ["load_or_create_signer"]


def load_or_create_signer(*, configured: str | None, key_dir: Path, name: str) -> Signer:
    """The configured signer key, else the one kept in ``key_dir`` (created on first use).

    The file is created with mode 0600 and never overwritten: losing it means later
    checkpoints can no longer be tied to earlier ones by the same key. Processes starting
    together on a fresh data dir (an API and its workers) all end up with the one key that
    was written first, and none reads it half-written.
    """
    if configured:
        return Signer.from_string(configured)
    path = key_dir / "ledger.signer"
    if not path.exists():
        signer_text, verifier_text = generate_key(name)
        if write_whole(path, signer_text + "\n", replace=False):
            write_whole(key_dir / "ledger.verifier", verifier_text + "\n", mode=0o644)
    return Signer.from_string(path.read_text().strip())
