"""What every verification step reads, and how a step's checks are run.

The entries are read from their record bytes (never a bundle's ``body`` copy); a check that
raises a ``DossierError`` is a failure carrying it, and one that cannot even read its part of
a malformed file is a ``MalformedDossierError``, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dossier.errors import (
    DossierError,
    MalformedDossierError,
    MissingEntryError,
)
from dossier.report import Check
from ledger.checkpoint import Checkpoint, parse_checkpoint
from ledger.errors import (
    LedgerError,
)
from ledger.hashing import leaf_hash
from ledger.record import parse_record


@dataclass(frozen=True)
class Entry:
    """An entry as the file carries it, read from its record bytes (never the ``body`` copy)."""

    index: int
    kind: str
    body: dict[str, Any]
    leaf: str


@dataclass(frozen=True)
class Context:
    """What every step reads: the document, the key, the entries and the parsed checkpoint."""

    doc: Mapping[str, Any]
    key: str
    entries: Mapping[int, Entry]
    checkpoint: Checkpoint | None


Thunk = Callable[[], str]


Steps = list[tuple[str, Thunk]]


def guarded(make: Callable[[Context], Steps], ctx: Context, where: str) -> Steps:
    """A step's checks; a step that cannot even list them (malformed file) is one failure."""
    try:
        return make(ctx)
    except DossierError as exc:
        return [(where, failing(exc))]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return [(where, failing(MalformedDossierError(where, f"cannot be read: {exc!r}")))]


def failing(exc: DossierError) -> Thunk:
    def thunk() -> str:
        raise exc

    return thunk


def run_check(step: int, name: str, fn: Thunk, part: str) -> Check:
    """Run one check: its message when it holds, the error's when it does not."""
    try:
        return Check(step, name, part, True, fn())
    except DossierError as exc:
        return Check(step, name, part, False, str(exc), exc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        error = MalformedDossierError(part, f"cannot be read: {exc!r}")
        return Check(step, name, part, False, str(error), error)


def read_entries(doc: Mapping[str, Any]) -> dict[int, Entry]:
    """Entries whose records parse; the bundles' own ``body``/``kind`` copies are not trusted."""
    out: dict[int, Entry] = {}
    bundles = doc.get("entries") if isinstance(doc, Mapping) else None
    for bundle in bundles if isinstance(bundles, list) else []:
        try:
            index, record = int(bundle["index"]), bundle["record"].encode()
            parsed = parse_record(record, index=index)
        except (KeyError, TypeError, ValueError, AttributeError, LedgerError):
            continue  # step 2 names it
        out.setdefault(index, Entry(index, parsed.kind, parsed.body, leaf_hash(record).hex()))
    return out


def read_checkpoint(doc: Mapping[str, Any]) -> Checkpoint | None:
    try:
        return parse_checkpoint(doc["checkpoint"])
    except (KeyError, TypeError, AttributeError, LedgerError):
        return None


def need_checkpoint(ctx: Context) -> Checkpoint:
    if ctx.checkpoint is None:
        raise MalformedDossierError("checkpoint", "missing or not a checkpoint")
    return ctx.checkpoint


def need_entry(ctx: Context, index: int, needed_by: str) -> Entry:
    if index not in ctx.entries:
        raise MissingEntryError(index, needed_by)
    return ctx.entries[index]
