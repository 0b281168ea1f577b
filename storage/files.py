"""Small files written whole: keys and secrets kept under the data dir."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_whole"]


def write_whole(path: Path, text: str, *, mode: int = 0o600, replace: bool = True) -> bool:
    """Write ``text`` to ``path`` so that no one ever reads it half-written.

    The text goes to a fresh file beside ``path`` (created 0600 by ``mkstemp``, then given
    ``mode`` whatever the umask; never a symlink's target) and is synced, then moved in:
    renamed over any file there with ``replace``, else linked in only if ``path`` does not
    exist yet. Returns False when ``replace`` is off and another writer got there first;
    processes creating one key together then all read the same winner.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:  # closes the descriptor whatever fails below
            os.fchmod(f.fileno(), mode)
            f.write(text)
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
        Path(scratch).unlink(missing_ok=True)
