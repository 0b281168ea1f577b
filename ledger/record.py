"""The ledger's record format: canonical JSON that names its index and the previous leaf hash.

A record is the RFC 8785 canonical JSON of::

    {"body": {...}, "index": 7, "kind": "claim.opened",
     "prev": "<hex leaf hash of entry 6>", "ts": "2024-05-01T12:00:00.000000Z", "v": 1}

Entry 0 names 32 zero bytes as its prev, so the first link of the chain is fixed too.
"""

from __future__ import annotations

import json
from binascii import hexlify
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from ledger.errors import InvalidEntryError, TamperedEntryError
from ledger.hashing import HASH_SIZE, canonical_json

__all__ = [
    "GENESIS_PREV",
    "MAX_KIND_LENGTH",
    "RECORD_VERSION",
    "Entry",
    "ParsedRecord",
    "canonical_bodies",
    "canonical_body",
    "format_ts",
    "kind_json",
    "make_record",
    "parse_record",
    "record_template",
]

GENESIS_PREV = bytes(HASH_SIZE)
"""The prev hash entry 0 names."""

RECORD_VERSION = 1
"""Value of the record's "v" field; bump it if the envelope ever changes."""

MAX_KIND_LENGTH = 100
"""Longest accepted kind; matches the ledger_entries.kind column."""

_RECORD_KEYS = frozenset({"body", "index", "kind", "prev", "ts", "v"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One appended ledger entry as stored: its record bytes and both chain hashes."""

    index: int
    kind: str
    body: dict[str, Any]
    record: bytes
    leaf_hash: bytes
    prev_hash: bytes


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    """The fields of a record, read back from its bytes."""

    index: int
    kind: str
    body: dict[str, Any]
    prev: bytes
    ts: str


def format_ts(moment: datetime) -> str:
    """Render an aware datetime as the record's fixed-width UTC timestamp."""
    if moment.tzinfo is None:
        raise InvalidEntryError("ts", "timestamp must be timezone-aware")
    utc = moment.astimezone(UTC)
    if utc.year < 1000:  # strftime's %Y does not pad these everywhere; isoformat does
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The same text as that strftime at half its cost (a test pins them equal); an aware
    # UTC time's isoformat always ends in "+00:00".
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


_VALID_KINDS: set[str] = set()  # kinds already checked: a process uses a few dozen


def _check_kind(kind: object) -> None:
    if not isinstance(kind, str) or not kind or len(kind) > MAX_KIND_LENGTH:
        raise InvalidEntryError("kind", f"must be a non-empty str of <= {MAX_KIND_LENGTH} chars")
    if not kind.isprintable():
        raise InvalidEntryError("kind", "must not contain control characters")
    if type(kind) is str and len(_VALID_KINDS) < 4096:
        _VALID_KINDS.add(kind)


def canonical_body(*, kind: str, body: Mapping[str, Any]) -> bytes:
    """Validate kind and body; return the body's canonical JSON bytes."""
    if type(kind) is not str or kind not in _VALID_KINDS:
        _check_kind(kind)
    if not isinstance(body, dict):
        raise InvalidEntryError("body", f"must be a dict (a JSON object), got {type(body)}")
    return canonical_json(body)


def canonical_bodies(
    items: Iterable[tuple[str, Mapping[str, Any]]],
) -> tuple[list[str], list[bytes]]:
    """Validate (kind, body) pairs; return their kinds and the bodies' canonical JSON.

    ``canonical_body`` over a batch, without its call per item (a writer's hot loop).
    """
    kinds: list[str] = []
    texts: list[bytes] = []
    add_kind, add_text, valid, encode = kinds.append, texts.append, _VALID_KINDS, canonical_json
    for kind, body in items:
        if type(kind) is not str or kind not in valid:
            _check_kind(kind)
        if not isinstance(body, dict):
            raise InvalidEntryError("body", f"must be a dict (a JSON object), got {type(body)}")
        add_kind(kind)
        add_text(encode(body))
    return kinds, texts


@lru_cache(maxsize=1024)
def kind_json(kind: str) -> bytes:
    """The canonical JSON of a kind, as records carry it (cached: a log has few kinds)."""
    return canonical_json(kind)


def record_template(*, kind: str, ts: str) -> bytes:
    """The record of `kind` at `ts` as a bytes %-template of (body_json, index, prev hex).

    JCS is compositional: members sorted by key, each value serialised on its own. So
    the envelope is spliced around the already canonical body instead of running the
    canonicaliser over the body a second time; a test pins the result to rfc8785.dumps
    of the whole dict. A writer builds one template per kind and batch.
    """
    kind_text = kind_json(kind).replace(b"%", b"%%")  # literal text in a %-template
    ts_text = ts.encode().replace(b"%", b"%%")
    version = str(RECORD_VERSION).encode()
    return (
        b'{"body":%b,"index":%d,"kind":'
        + kind_text
        + b',"prev":"%b","ts":"'
        + ts_text
        + (b'","v":' + version + b"}")
    )


def make_record(*, index: int, kind: str, body_json: bytes, prev: bytes, ts: str) -> bytes:
    """Assemble the canonical record bytes from an already canonical body."""
    return record_template(kind=kind, ts=ts) % (body_json, index, hexlify(prev))


def parse_record(record: bytes, *, index: int) -> ParsedRecord:
    """Read a stored record; raise TamperedEntryError naming `index` if it is malformed."""
    try:
        data = json.loads(record.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise TamperedEntryError(index, f"record is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.keys() != _RECORD_KEYS:
        raise TamperedEntryError(index, "record does not have the envelope's fields")
    if data["v"] != RECORD_VERSION:
        raise TamperedEntryError(index, f"unknown record version {data['v']!r}")
    try:
        prev = bytes.fromhex(data["prev"])
    except (TypeError, ValueError):
        raise TamperedEntryError(index, "prev is not hex") from None
    fields_ok = (
        type(data["index"]) is int
        and isinstance(data["kind"], str)
        and isinstance(data["body"], dict)
        and isinstance(data["ts"], str)
        and len(prev) == HASH_SIZE
    )
    if not fields_ok:
        raise TamperedEntryError(index, "record fields have the wrong types")
    return ParsedRecord(
        index=data["index"], kind=data["kind"], body=data["body"], prev=prev, ts=data["ts"]
    )
