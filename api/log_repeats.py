"""Repeated identical warnings and errors logged once, then counted.

A flood of one failure (22,000 sockets exhausting file descriptors) wrote 473,087 identical
tracebacks, 192 MB in 40 s: the log that should explain the incident buried it and filled
the disk. ``RepeatFilter`` passes the first record of a kind, counts the identical ones that
follow within a window, and lets the next one after the window through carrying the count;
``flush`` logs the counts still pending (at shutdown). Records below WARNING pass untouched:
access lines differ by client anyway, and counting them would hide traffic.

``logging_config`` is uvicorn's logging configuration with this filter on every handler and
a root handler for the service's own loggers (``freshproof.*``, ``asyncio``).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["RepeatFilter", "logging_config"]

_Key = tuple[str, int, str, int, str, str]


@dataclass
class _Seen:
    since: float
    suppressed: int


class RepeatFilter(logging.Filter):
    """Pass the first of identical WARNING+ records within ``window`` seconds; count the rest.

    Identical: same logger, level, place in the code, message and exception (type and text).
    """

    def __init__(self, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self._seen: dict[_Key, _Seen] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """True to log the record (annotated with a count when it ends a run), False to count it."""
        if record.levelno < logging.WARNING or self.window <= 0:
            return True
        key = _key(record)
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.since < self.window:
                seen.suppressed += 1
                return False
            self._seen[key] = _Seen(now, 0)
            if len(self._seen) > 4096:  # forget runs long over, so the table stays small
                self._seen = {k: v for k, v in self._seen.items() if now - v.since < self.window}
        if seen is not None and seen.suppressed:
            _annotate(
                record, f"[{seen.suppressed} identical before this, within {self.window:g} s]"
            )
        return True

    def flush(self) -> None:
        """Log the counts of runs whose repeats were suppressed and not yet reported."""
        with self._lock:
            pending = [(k, s.suppressed) for k, s in self._seen.items() if s.suppressed]
            for k, _ in pending:
                self._seen[k].suppressed = 0
        for (name, level, _, _, message, _), count in pending:
            logging.getLogger(name).log(
                level, "%s [repeated %d more times, not logged]", message, count
            )


def _key(record: logging.LogRecord) -> _Key:
    exc = record.exc_info[1] if record.exc_info else None
    error = f"{type(exc).__name__}: {exc}" if exc is not None else ""
    return (
        record.name,
        record.levelno,
        record.pathname,
        record.lineno,
        record.getMessage(),
        error,
    )


def _annotate(record: logging.LogRecord, note: str) -> None:
    record.msg = f"{record.getMessage()} {note}"
    record.args = None


def logging_config(repeats: RepeatFilter) -> dict[str, Any]:
    """uvicorn's default logging, with ``repeats`` on every handler and a root handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"repeats": {"()": lambda: repeats}}
    for handler in config["handlers"].values():
        handler["filters"] = ["repeats"]
    # The service's own loggers and asyncio's propagate to the root: one handler, filtered,
    # at WARNING as Python's last-resort handler printed them before.
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config
