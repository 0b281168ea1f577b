"""The one JSON reader for everything a client sends: EPCIS documents and every API body.

Python's ``json`` accepts three things that let two readers of the same bytes disagree,
or that no other JSON reader produces:

- duplicate keys (``{"role": "auditor", "role": "admin"}``): ``json`` keeps the last,
  other parsers the first, a log viewer shows both. A body whose meaning depends on the
  reader is refused, naming the key and the object it is in;
- ``NaN``, ``Infinity``, ``-Infinity``, and number literals too large for a double
  (``1E+999999`` reads as infinity): not JSON (RFC 8259 §6), refused naming where;
- nesting deeper than ``MAX_DEPTH``: no body of this API nests past a dozen levels, and
  every recursive consumer after the parser (validation, canonical JSON) is bounded by it.

Text is UTF-8 (RFC 8259 §8.1), a leading byte order mark tolerated as EPCIS did. Every
refusal is an ``InvalidJSONError`` carrying ``path`` (the keys and indices from the root
to the offender) and ``reason``. Where the bytes parse, the refusals are located by a
second, path-tracking pass: the common case (nothing wrong) costs one ``json.loads`` with
two cheap hooks and one walk for the depth.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any, Literal

from supplychain.errors import SupplyChainError

__all__ = ["MAX_DEPTH", "InvalidJSONError", "JSONFault", "JSONPath", "format_path", "loads"]

MAX_DEPTH = 64
"""The deepest nesting accepted: a top-level object or array is depth 1."""

JSONPath = tuple[str | int, ...]
"""Keys and array indices from the document's root to a value."""

JSONFault = Literal["encoding", "syntax", "duplicate-key", "number", "depth"]
"""What kind of refusal: not UTF-8, not JSON at all, or one of the three refused here."""


def format_path(path: JSONPath, root: str = "$") -> str:
    """``("a", 0, "b")`` as ``$.a[0].b`` (or ``claim.a[0].b`` with ``root="claim"``)."""
    out = [root]
    for part in path:
        out.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(out)


class InvalidJSONError(SupplyChainError):
    """Bytes that are not acceptable JSON: ``fault`` what kind, ``path`` where, ``reason``."""

    def __init__(self, fault: JSONFault, reason: str, path: JSONPath = ()) -> None:
        self.fault = fault
        self.reason = reason
        self.path = path
        super().__init__(reason)


class _Refused(ValueError):
    """Raised by the parser's hooks: something to locate in the second pass."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Refused
    return result


def _no_constant(name: str) -> Any:
    raise _Refused


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused
    return value


def _decode(data: bytes | bytearray | str) -> str:
    if isinstance(data, str):
        return data
    if not isinstance(data, bytes | bytearray):
        raise InvalidJSONError("encoding", f"expected bytes or text, got {type(data).__name__}")
    try:
        return bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidJSONError("encoding", f"not UTF-8: {exc.reason} at byte {exc.start}") from None


def loads(data: bytes | bytearray | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` as strict JSON; ``InvalidJSONError`` says where and why it is refused."""
    text = _decode(data)
    try:
        value = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_finite
        )
    except _Refused:
        raise _locate(text, max_depth) from None
    except RecursionError:
        raise InvalidJSONError("depth", f"nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise InvalidJSONError(
            "syntax", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise InvalidJSONError("syntax", f"not JSON: {exc}") from None
    if _exceeds(value, max_depth):
        path = _deeper_than(value, max_depth) or ()
        raise InvalidJSONError("depth", _too_deep_reason(max_depth, path), path)
    return value


def _exceeds(value: Any, max_depth: int) -> bool:
    """Whether containers nest deeper than ``max_depth``: level by level, no recursion.

    Twice as fast as a path-keeping walk (about 0.8 s for a million readings on the
    development machine), which then runs only to name the offender.
    """
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            return True
        below: list[Any] = []
        for node in level:
            children = node.values() if type(node) is dict else node
            below.extend([c for c in children if type(c) is dict or type(c) is list])
        level = below
    return False


def _too_deep_reason(max_depth: int, path: JSONPath) -> str:
    shown = format_path(path[:8]) + ("..." if len(path) > 8 else "")
    return f"nested deeper than {max_depth} levels (at {shown})"


def _deeper_than(value: Any, max_depth: int) -> JSONPath | None:
    """The path of a container nested deeper than ``max_depth``, else None."""
    if not isinstance(value, dict | list):
        return None
    # Iterative: the check must not itself recurse on what it bounds. Paths are kept only
    # as parent links, so the walk allocates nothing per scalar.
    stack: list[tuple[Any, int, Any]] = [(value, 1, None)]
    while stack:
        node, depth, link = stack.pop()
        if depth > max_depth:
            return _unlink(link)
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1, (link, key)))
    return None


def _unlink(link: Any) -> JSONPath:
    parts: list[str | int] = []
    while link is not None:
        link, key = link
        parts.append(key)
    return tuple(reversed(parts))


class _Pairs(list[tuple[str, Any]]):
    """An object as the parser saw it, duplicates kept (second pass only)."""


class _Bad:
    """A literal the first pass refused, kept in place so its path can be named."""

    def __init__(self, text: str) -> None:
        self.text = text


def _locate(text: str, max_depth: int) -> InvalidJSONError:
    """Parse again keeping every key and literal, and name the first offender in order."""
    try:
        tree = json.loads(
            text,
            object_pairs_hook=_Pairs,
            parse_constant=_Bad,
            parse_float=lambda s: s if math.isfinite(float(s)) else _Bad(s),
        )
    except RecursionError:
        return InvalidJSONError("depth", f"nested deeper than {max_depth} levels")
    except json.JSONDecodeError as exc:
        return InvalidJSONError(
            "syntax", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        )
    except ValueError as exc:
        return InvalidJSONError("syntax", f"not JSON: {exc}")
    for path, node in _walk(tree):
        if len(path) >= max_depth and isinstance(node, _Pairs | list):
            return InvalidJSONError("depth", _too_deep_reason(max_depth, path), path)
        if isinstance(node, _Bad):
            return InvalidJSONError(
                "number", f"{node.text} is not a JSON number (at {format_path(path)})", path
            )
        if isinstance(node, _Pairs):
            seen: set[str] = set()
            for key, _ in node:
                if key in seen:
                    return InvalidJSONError(
                        "duplicate-key",
                        f"duplicate key {key!r} in the object at {format_path(path)}",
                        (*path, key),
                    )
                seen.add(key)
    raise AssertionError("the first pass refused what the second accepts")  # pragma: no cover


def _walk(tree: Any) -> Iterator[tuple[JSONPath, Any]]:
    """Every value with its path, in document order (iteratively)."""
    stack: list[tuple[JSONPath, Any]] = [((), tree)]
    while stack:
        path, node = stack.pop()
        yield path, node
        if isinstance(node, _Pairs):
            stack.extend(((*path, k), v) for k, v in reversed(node))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(node))))
