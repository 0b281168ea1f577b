"""A process-wide decode budget: how many photos decode at once, and how many bytes they hold.

The pixel limit bounds one decode and nothing else: ten requests of ten 40 Mpx PNGs each
(a few hundred kilobytes apiece on the wire) decode in parallel into gigabytes. The budget
admits decodes in arrival order while both the number of decodes running and the bytes of
decoded pixels they hold stay under their caps; a decode that finds no room within
``wait_seconds`` gets ``DecoderBusyError`` (the API's 503 with Retry-After) instead of
queueing without end.

One photo whose cost alone exceeds ``max_bytes`` is not refused: it waits until no other
decode runs and then decodes alone. The pixel limit stays the only size a customer is told
about; the budget only decides when, never whether, a photo within it is decoded. A cap of
0 or None is no cap at all, so ``DecodeBudget()`` admits everything at once.

Capping what is live is not enough on glibc: once a large block has been freed, glibc serves
later ones from per-thread arenas and keeps them when freed, so ten server threads that
each decoded one 6300 x 6300 PNG go on holding 1.6 GB with nothing live (measured: 1.66 GB
peak for 157 MB ever held at once). A bounded budget therefore also makes glibc return every
freed block of 1 MiB or more to the system at once (``return_freed_memory_to_os``).
"""

from __future__ import annotations

import ctypes
import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from vision.errors import DecoderBusyError

__all__ = ["DecodeBudget", "return_freed_memory_to_os"]

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
_MMAP_THRESHOLD = 1024 * 1024
_allocator_tuned = False


def return_freed_memory_to_os() -> bool:
    """Pin glibc's mmap threshold at 1 MiB so freed large blocks leave the process at once.

    Process-wide and idempotent; False where the C library has no ``mallopt`` (not glibc).
    A fixed threshold turns off glibc's adaptation that moves it up to 32 MiB after the
    first large free; the price is a page fault per page of each large allocation.
    """
    global _allocator_tuned
    if not _allocator_tuned:
        try:
            mallopt = ctypes.CDLL(None).mallopt
        except (AttributeError, OSError, TypeError):
            return False
        _allocator_tuned = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))
    return _allocator_tuned


class DecodeBudget:
    """Admits decodes first come, first served while count and bytes held stay under caps."""

    def __init__(
        self,
        *,
        max_decodes: int | None = None,
        max_bytes: int | None = None,
        wait_seconds: float = 5.0,
    ) -> None:
        if (max_decodes or 0) < 0 or (max_bytes or 0) < 0 or wait_seconds < 0:
            raise ValueError("decode budget caps and wait must not be negative")
        self.max_decodes = max_decodes or None
        self.max_bytes = max_bytes or None
        self.wait_seconds = wait_seconds
        self._cond = threading.Condition()
        # Waiters in arrival order: only the head may enter, so a large photo is not starved
        # by a stream of small ones slipping past it.
        self._queue: deque[object] = deque()
        self._active = 0
        self._held = 0
        self._peak_bytes = 0
        self._peak_decodes = 0
        if self.bounded:
            return_freed_memory_to_os()

    @property
    def bounded(self) -> bool:
        """True when either cap is set."""
        return self.max_decodes is not None or self.max_bytes is not None

    @property
    def held_bytes(self) -> int:
        """Bytes held by the decodes running now."""
        return self._held

    @property
    def active(self) -> int:
        """Decodes running now."""
        return self._active

    @property
    def waiting(self) -> int:
        """Decodes waiting for room now."""
        return len(self._queue)

    @property
    def peak_bytes(self) -> int:
        """The most bytes held at once since this budget was made."""
        return self._peak_bytes

    @property
    def peak_decodes(self) -> int:
        """The most decodes that ran at once since this budget was made."""
        return self._peak_decodes

    @contextmanager
    def hold(self, nbytes: int) -> Iterator[None]:
        """Hold ``nbytes`` for the block, waiting up to ``wait_seconds`` for room.

        Raises ``DecoderBusyError`` when no room came in time.
        """
        self._acquire(max(0, nbytes))
        try:
            yield
        finally:
            self._release(max(0, nbytes))

    def _fits(self, nbytes: int) -> bool:
        if self.max_decodes is not None and self._active >= self.max_decodes:
            return False
        if self.max_bytes is None or self._active == 0:
            return True  # alone, even a photo over the whole budget may decode
        return self._held + nbytes <= self.max_bytes

    def _acquire(self, nbytes: int) -> None:
        ticket = object()
        deadline = time.monotonic() + self.wait_seconds
        with self._cond:
            self._queue.append(ticket)
            try:
                while not (self._queue[0] is ticket and self._fits(nbytes)):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise DecoderBusyError(
                            f"the server is decoding too many photos; "
                            f"retry in {self._retry_after()} seconds",
                            retry_after=self._retry_after(),
                            waited=self.wait_seconds,
                            nbytes=nbytes,
                        )
                    self._cond.wait(left)
            finally:
                self._queue.remove(ticket)
                # The head may have changed (we entered or gave up): let the next one look.
                self._cond.notify_all()
            self._active += 1
            self._held += nbytes
            self._peak_decodes = max(self._peak_decodes, self._active)
            self._peak_bytes = max(self._peak_bytes, self._held)

    def _release(self, nbytes: int) -> None:
        with self._cond:
            self._active -= 1
            self._held -= nbytes
            self._cond.notify_all()

    def _retry_after(self) -> int:
        # The queue was still full after a whole wait; about one more wait is a fair guess.
        return max(1, math.ceil(self.wait_seconds))
