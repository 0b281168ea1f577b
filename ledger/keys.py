"""The ledger's Ed25519 signing key: from configuration, or generated once under the data dir."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ledger.note import Signer, generate_key

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
        key_dir.mkdir(parents=True, exist_ok=True)
        signer_text, verifier_text = generate_key(name)
        if _publish(path, signer_text + "\n", mode=0o600):
            _publish(key_dir / "ledger.verifier", verifier_text + "\n", mode=0o644, replace=True)
    return Signer.from_string(path.read_text().strip())


def _publish(path: Path, content: str, *, mode: int, replace: bool = False) -> bool:
    """Write ``content`` to a new file beside ``path`` and link it there whole; False when
    ``path`` already exists and ``replace`` is off (another process published first)."""
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(scratch, path)
            return True
        try:
            os.link(scratch, path)
        except FileExistsError:
            return False
        return True
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
