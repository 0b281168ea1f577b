"""RFC 9162 §2.1.1 Merkle tree hashing and RFC 8785 canonical JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, cast

import rfc8785

from ledger.errors import CanonicalJSONError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "canonical_json",
    "leaf_hash",
    "load_json",
    "node_hash",
    "root_from_leaves",
]

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() — the root of the empty tree."""

LEAF_PREFIX = b"\x00"
"""RFC 9162 §2.1.1: a leaf hash is SHA-256(LEAF_PREFIX || data)."""

NODE_PREFIX = b"\x01"
"""RFC 9162 §2.1.1: an interior node hash is SHA-256(NODE_PREFIX || left || right)."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Return MTH({d0}) = SHA-256(0x00 || data)."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash SHA-256(0x01 || left || right)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return MTH(D[n]) for the given leaf hashes (already hashed with `leaf_hash`)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    # Pairing level by level and promoting an odd last node unchanged yields the same
    # left-full tree as the RFC's recursive split at the largest power of two < n.
    while len(level) > 1:
        paired = [
            _sha256(NODE_PREFIX + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


_STDLIB_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _not_json(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON")  # _jcs_form lets none through


# The C encoder behind _STDLIB_ENCODER, made once: JSONEncoder.encode builds a new one on
# every call, which costs as much as encoding a small body. No cycle markers: _jcs_form has
# already walked the value, and a cycle ends there in RecursionError.
try:
    import _json

    _C_ENCODE: _json.make_encoder | None = _json.make_encoder(
        None, _not_json, _json.encode_basestring, None, ":", ",", True, False, False
    )
except ImportError:  # an interpreter without the C accelerator
    _C_ENCODE = None

# JSON's safe integer range; RFC 8785 serialises numbers as IEEE 754 doubles.
_INT_MAX = 2**53 - 1

# Where Python's float repr is ECMAScript's Number::toString (RFC 8785 §3.2.2.3) as it is:
# repr switches to exponent notation below 1e-4 and from 1e16, ECMAScript below 1e-6 and
# from 1e21, and they agree on the shortest round-trip digits in between.
_FLOAT_MIN = 1e-4
_FLOAT_MAX = 1e16

_SLOW = object()
"""Marker: the value needs the rfc8785 reference serialiser."""


def _jcs_float(value: float) -> object:
    """The value the C encoder writes as RFC 8785 writes `value`, or _SLOW."""
    if _FLOAT_MIN <= abs(value) < _FLOAT_MAX:
        if not value.is_integer():
            return value
        # 5.0 is "5" in JCS but "5.0" in repr; below 2^53 the int has the same digits.
        return int(value) if abs(value) <= _INT_MAX else _SLOW
    if value == 0:
        return 0  # JCS writes both zeros as "0"
    return _SLOW  # NaN, infinities, and the exponent ranges


def _jcs_form(obj: object) -> object:
    """`obj` (or a copy with integral floats as ints) that the C encoder writes as RFC 8785.

    Returns _SLOW unless every part is of an exact JSON type the C encoder writes as JCS:
    str, bool, None, int within 2^53, floats in the range above, and dicts whose keys all
    lie below U+E000 (there code-point order, Python's sort, equals UTF-16 order, JCS's
    sort). Both escape only '"', '\\' and U+0000..U+001F, in the same forms. Subclasses
    and other types take the rfc8785 path. Scalars are checked inline: a call per value
    would cost more than encoding it.
    """
    kind = type(obj)
    if kind is dict:
        copy: dict[str, object] | None = None
        for key, value in obj.items():  # type: ignore[attr-defined]
            if type(key) is not str or (not key.isascii() and max(key) >= "\ue000"):
                return _SLOW
            vkind = type(value)
            if vkind is str or vkind is bool or value is None:
                continue
            if vkind is int:
                if -_INT_MAX <= value <= _INT_MAX:
                    continue
                return _SLOW
            if vkind is float:
                # The common float (a reading) inline; _jcs_float sorts out the rest.
                if _FLOAT_MIN <= abs(value) < _FLOAT_MAX and not value.is_integer():
                    continue
                new = _jcs_float(value)
            else:
                new = _jcs_form(value)
            if new is _SLOW:
                return _SLOW
            if new is not value:
                if copy is None:
                    copy = dict(obj)  # type: ignore[call-overload]
                copy[key] = new
        return obj if copy is None else copy
    if kind is list or kind is tuple:
        sequence = cast("Sequence[Any]", obj)
        items: list[object] | None = None
        for position, item in enumerate(sequence):
            ikind = type(item)
            if ikind is str or ikind is bool or item is None:
                continue
            if ikind is int:
                if -_INT_MAX <= item <= _INT_MAX:
                    continue
                return _SLOW
            if ikind is float:
                # As in a dict: the common float inline, _jcs_float for the rest.
                if _FLOAT_MIN <= abs(item) < _FLOAT_MAX and not item.is_integer():
                    continue
                new = _jcs_float(item)
            else:
                new = _jcs_form(item)
            if new is _SLOW:
                return _SLOW
            if new is not item:
                if items is None:
                    items = list(sequence)
                items[position] = new
        return sequence if items is None else items
    if kind is str or kind is bool or obj is None:
        return obj
    if kind is int:
        return obj if -_INT_MAX <= obj <= _INT_MAX else _SLOW  # type: ignore[operator]
    if kind is float:
        return _jcs_float(obj)  # type: ignore[arg-type]
    return _SLOW


# msgspec's encoder writes what the C encoder writes on those values (keys in code-point
# order, the same escapes, floats in shortest round-trip form, UTF-8 out) at a seventh of
# its cost: an append's largest single step. Without it (a minimal verifier install) the
# stdlib encoder does; property tests pin both to rfc8785.
try:
    import msgspec

    _MSGSPEC_ENCODE: Callable[[object], bytes] | None = msgspec.json.Encoder(order="sorted").encode
except ImportError:
    _MSGSPEC_ENCODE = None


def load_json(data: bytes) -> Any:
    """The Python value of JSON text, as json.loads reads it (msgspec's decoder when
    installed: a third of the cost; a test pins the two equal on the ledger's JSON)."""
    if _MSGSPEC_DECODE is not None:
        return _MSGSPEC_DECODE(data)
    return json.loads(data)


_MSGSPEC_DECODE: Callable[[bytes], Any] | None = (
    None if _MSGSPEC_ENCODE is None else msgspec.json.Decoder().decode
)


def _encode_fast(obj: object) -> bytes:
    if _MSGSPEC_ENCODE is not None:
        return _MSGSPEC_ENCODE(obj)
    if _C_ENCODE is not None:
        return "".join(_C_ENCODE(obj, 0)).encode("utf-8")
    return _STDLIB_ENCODER.encode(obj).encode("utf-8")


def canonical_json(obj: object) -> bytes:
    """Serialise `obj` as RFC 8785 (JCS) canonical JSON bytes."""
    try:
        # rfc8785 is pure Python and dominates append cost; msgspec's encoder (or the C
        # json encoder) is byte-identical on the values _jcs_form accepts (pinned by
        # property tests).
        ready = _jcs_form(obj)
        if ready is not _SLOW:
            try:
                return _encode_fast(ready)
            except UnicodeEncodeError:
                pass  # a lone surrogate: let rfc8785 reject it with its own message
        return rfc8785.dumps(obj)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalJSONError(str(exc)) from exc
    except UnicodeError as exc:  # rfc8785 lets a lone surrogate in a key escape as this
        raise CanonicalJSONError(f"not valid Unicode: {exc}") from exc
    except RecursionError as exc:
        raise CanonicalJSONError("value is nested too deeply") from exc
