"""RFC 9162 §2.1.1 Merkle tree hashing and RFC 8785 canonical JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import rfc8785

from ledger.errors import CanonicalJSONError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "canonical_json",
    "leaf_hash",
    "node_hash",
    "root_from_leaves",
]

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() — the root of the empty tree."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Return MTH({d0}) = SHA-256(0x00 || data)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return MTH(D[n]) for the given leaf hashes (already hashed with `leaf_hash`)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    # Pairing level by level and promoting an odd last node unchanged yields the same
    # left-full tree as the RFC's recursive split at the largest power of two < n.
    while len(level) > 1:
        paired = [
            _sha256(_NODE_PREFIX + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


_STDLIB_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))

# JSON's safe integer range; RFC 8785 serialises numbers as IEEE 754 doubles.
_INT_MAX = 2**53 - 1


def _stdlib_is_canonical(obj: object) -> bool:
    """Whether json.dumps(sort_keys=True, compact) writes `obj` exactly as RFC 8785 does.

    True for float-free values of the exact JSON types whose object keys all lie below
    U+E000: there code-point order (Python's sort) equals UTF-16 order (JCS's sort),
    and both escape only '"', '\\' and U+0000..U+001F, in the same short or \\u00xx
    forms. Floats, int/str subclasses and other types take the rfc8785 path.
    """
    kind = type(obj)
    if kind is str or kind is bool or obj is None:
        return True
    if kind is int:
        return -_INT_MAX <= obj <= _INT_MAX  # type: ignore[operator]
    if kind is dict:
        for key, value in obj.items():  # type: ignore[attr-defined]
            if type(key) is not str or (key and max(key) >= "\ue000"):
                return False
            if not _stdlib_is_canonical(value):
                return False
        return True
    if kind is list or kind is tuple:
        # A plain loop: all() over a generator costs a frame per item on the hot path.
        for item in obj:  # type: ignore[attr-defined]  # noqa: SIM110
            if not _stdlib_is_canonical(item):
                return False
        return True
    return False


def canonical_json(obj: object) -> bytes:
    """Serialise `obj` as RFC 8785 (JCS) canonical JSON bytes."""
    try:
        # rfc8785 is pure Python and dominates append cost; the C json encoder is byte-
        # identical on the subset checked above (pinned by a property test).
        if _stdlib_is_canonical(obj):
            try:
                return _STDLIB_ENCODER.encode(obj).encode("utf-8")
            except UnicodeEncodeError:
                pass  # a lone surrogate: let rfc8785 reject it with its own message
        return rfc8785.dumps(obj)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalJSONError(str(exc)) from exc
    except UnicodeError as exc:  # rfc8785 lets a lone surrogate in a key escape as this
        raise CanonicalJSONError(f"not valid Unicode: {exc}") from exc
    except RecursionError as exc:
        raise CanonicalJSONError("value is nested too deeply") from exc
