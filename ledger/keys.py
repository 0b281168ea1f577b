"""The ledger's Ed25519 signing key: from configuration, or generated once under the data dir."""

from __future__ import annotations

import os
from pathlib import Path

from ledger.note import Signer, generate_key

__all__ = ["load_or_create_signer"]


def load_or_create_signer(*, configured: str | None, key_dir: Path, name: str) -> Signer:
    """The configured signer key, else the one kept in ``key_dir`` (created on first use).

    The file is created with mode 0600 and never overwritten: losing it means later
    checkpoints can no longer be tied to earlier ones by the same key.
    """
    if configured:
        return Signer.from_string(configured)
    path = key_dir / "ledger.signer"
    if not path.exists():
        key_dir.mkdir(parents=True, exist_ok=True)
        signer_text, verifier_text = generate_key(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(signer_text + "\n")
        (key_dir / "ledger.verifier").write_text(verifier_text + "\n")
    return Signer.from_string(path.read_text().strip())
