"""Keys this process looked up lately, so that a request need not read the key table.

Every request presents a key; without a cache each one is a database round trip. An entry
holds what the table said (the token's hash and the key's record) and when it was read;
it is used for ``seconds`` after that read and then read again. So a key revoked in
another process (another API replica, ``freshproof keys revoke``) is refused here at most
``seconds`` later; a revocation through this process's own store takes effect at once
(``forget``). Expiry is not cached: the record's expiry is judged against the clock on
every request.

Only rows the table holds are cached, so the cache holds at most one entry per key the
installation has (a made-up key id is read every time, as before); a wrong secret for a
cached key id is refused from the cached hash, as the table would refuse it (a key's hash
never changes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from api.auth.key_records import KeyRecord

__all__ = ["CachedKey", "KeyCache"]


@dataclass(frozen=True, slots=True)
class CachedKey:
    """A key's row as read: the stored token hash and the record."""

    token_hash: str
    record: KeyRecord
    read_at: float


class KeyCache:
    """Key rows by key id, each used for ``seconds`` after it was read (0: never cached)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 <= seconds <= 1.0:
            # The promise to operators: a revocation holds everywhere within a second.
            raise ValueError("a key may be cached for 0 to 1 s")
        self.seconds = seconds
        self.clock = clock
        self._entries: dict[str, CachedKey] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        """The cache's clock: take it before reading the row, and pass it to ``put``."""
        return self.clock()

    def get(self, key_id: str) -> CachedKey | None:
        """The row read less than ``seconds`` ago, or None (read the table)."""
        if self.seconds <= 0:
            return None
        with self._lock:
            entry = self._entries.get(key_id)
            if entry is None:
                return None
            if self.clock() - entry.read_at >= self.seconds:
                del self._entries[key_id]
                return None
            return entry

    def put(self, key_id: str, row: CachedKey) -> None:
        """Keep a row; its ``read_at`` taken before the read, so the bound holds."""
        if self.seconds <= 0:
            return
        with self._lock:
            self._entries[key_id] = row

    def forget(self, key_id: str) -> None:
        """Drop a key (this process changed it: revoked)."""
        with self._lock:
            self._entries.pop(key_id, None)
