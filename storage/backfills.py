"""Backfills that migrations run with the application's own functions, registered from above.

A migration lives in ``storage`` (below every domain) yet sometimes must fill a new table the
way the domain's writes will (v0009 indexes every claim in the review queue with
``claims.queue_index.refresh_queue``). Importing the domain from here would run up the
layers, so the domain registers the function when it is imported (``api.database.load_tables``
imports it before any upgrade) and the migration asks for it by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection

from storage.errors import StorageError

__all__ = ["Backfill", "MissingBackfillError", "backfill", "register_backfill"]

Backfill = Callable[[Connection, Sequence[str]], None]
"""Fill a new table for these rows' ids, in the migration's transaction."""

_REGISTERED: dict[str, Backfill] = {}


class MissingBackfillError(StorageError):
    """A migration needs a backfill no loaded module registered (``name``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"the migration needs the {name!r} backfill, which no loaded module registered: "
            "upgrade with every table module loaded (api.database.load_tables)"
        )


def register_backfill(name: str, fn: Backfill) -> None:
    """Make ``fn`` the backfill migrations call ``name``."""
    _REGISTERED[name] = fn


def backfill(name: str) -> Backfill:
    """The backfill registered as ``name``; ``MissingBackfillError`` when none is."""
    try:
        return _REGISTERED[name]
    except KeyError:
        raise MissingBackfillError(name) from None
