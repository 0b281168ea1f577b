"""RFC 9162 hashing and RFC 8785 canonical JSON."""

from __future__ import annotations

import hashlib
import json
import math
import random
import struct

import pytest
import rfc8785

from ledger import CanonicalJSONError, canonical_json, hashing
from ledger.hashing import EMPTY_ROOT, leaf_hash, load_json, node_hash, root_from_leaves
from ledger.tree import CompactRange

# The RFC 6962 reference test tree (also transparency-dev/merkle's), with its roots.
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def mth(hashes: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 §2.1.1 defines it, recursively."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_from_leaves([]) == EMPTY_ROOT


def test_leaf_and_node_hashes_use_domain_separation_prefixes() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert leaf_hash(b"") == bytes.fromhex(ROOTS[0])


@pytest.mark.parametrize("size", range(1, 9))
def test_root_of_reference_tree(size: int) -> None:
    hashes = [leaf_hash(leaf) for leaf in LEAVES[:size]]
    assert root_from_leaves(hashes).hex() == ROOTS[size - 1]


def test_iterative_root_equals_recursive_definition() -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(130)]
    for size in range(131):
        assert root_from_leaves(hashes[:size]) == mth(hashes[:size]), size


def test_root_of_100k_leaves_matches_the_incremental_frontier() -> None:
    hashes = [leaf_hash(i.to_bytes(8, "big")) for i in range(100_000)]
    frontier = CompactRange()
    for h in hashes:
        frontier.append(h)
    assert root_from_leaves(hashes) == frontier.root()


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": [1, True, None], "a": "x"}) == b'{"a":"x","b":[1,true,null]}'


def test_canonical_json_numbers_follow_ecmascript() -> None:
    # RFC 8785 §3.2.2.3 examples.
    values = [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001, -0.0]
    assert canonical_json(values) == b"[333333333.3333333,1e+30,4.5,0.002,1e-27,0]"


def test_canonical_json_sorts_keys_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+FB33.
    obj = {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\x80": 6, "\xf6": 7}
    assert canonical_json(obj) == (
        '{"\\r":2,"1":4,"\x80":6,"\xf6":7,"\u20ac":1,"\U0001f600":5,"\ufb33":3}'.encode()
    )


def test_canonical_json_escapes_only_what_jcs_escapes() -> None:
    text = '"\\\b\f\n\r\t\x00\x1f\x7f\u2028é'
    assert canonical_json(text) == b'"\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\xe2\x80\xa8\xc3\xa9"'


def _random_value(rng: random.Random, depth: int = 0) -> object:
    alphabet = [*map(chr, range(0x80)), "\u2028", "é", "\ud7ff", "\ue000", "\uffff", "\U0001f600"]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))

    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice(
            [None, True, False, rng.randint(-(2**53) + 1, 2**53 - 1), rng.randint(-3, 3), text()]
        )
    if roll < 0.45:
        return rng.uniform(-1e6, 1e6)
    if roll < 0.7:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {text(): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


@pytest.fixture(params=["msgspec", "stdlib"])
def encoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fast path's encoder: msgspec's, or the stdlib's where msgspec is not installed."""
    if request.param == "stdlib":
        monkeypatch.setattr(hashing, "_MSGSPEC_ENCODE", None)
    else:
        assert hashing._MSGSPEC_ENCODE is not None, "msgspec is a dependency"
    return str(request.param)


def test_canonical_json_matches_rfc8785_library_on_random_values(encoder: str) -> None:
    # Pins the fast path byte-for-byte to the rfc8785 reference, with either encoder.
    rng = random.Random(8785)
    for _ in range(5000):
        value = _random_value(rng)
        assert canonical_json(value) == rfc8785.dumps(value), value  # type: ignore[arg-type]


def test_load_json_reads_canonical_json_as_json_loads_does() -> None:
    # The writer decodes each batch's bodies with load_json (msgspec); entries' bodies must
    # be what json.loads gives, floats and their exponent forms included.
    rng = random.Random(9)
    values = [_random_value(rng) for _ in range(3000)]
    values += [[v, {"k": v}] for v in FLOAT_EDGES if math.isfinite(v)]
    values += [[_random_double(rng)] for _ in range(3000)]
    for value in values:
        try:
            text = canonical_json(value)
        except CanonicalJSONError:
            continue
        loaded = load_json(text)
        assert loaded == json.loads(text), text
        assert repr(loaded) == repr(json.loads(text)), text  # same types: 1 stays int


def _random_double(rng: random.Random) -> float:
    """Any finite or infinite double: random bits, or a random magnitude from 1e-9 to 1e23."""
    if rng.random() < 0.5:
        return struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
    return rng.choice([1.0, -1.0]) * 10 ** rng.uniform(-9, 23)


FLOAT_EDGES = [
    edge * sign
    for base in (1e-7, 1e-6, 1e-4, 1.0, 1e15, 1e16, 2.0**53, 1e21, 5e-324, 1.7976931348623157e308)
    for edge in (base, math.nextafter(base, 0), math.nextafter(base, math.inf))
    for sign in (1.0, -1.0)
]


def test_canonical_json_writes_every_float_as_rfc8785_does(encoder: str) -> None:
    # The fast path writes floats with the C encoder (repr) in the range where repr is
    # ECMAScript's form, integral ones as ints; everything else goes to rfc8785.
    rng = random.Random(754)
    values = [
        *FLOAT_EDGES,
        0.0,
        -0.0,
        5.0,
        -12.0,
        4.2,
        *(float(rng.randint(-(2**60), 2**60)) for _ in range(2000)),
        *(rng.randint(-(10**6), 10**6) / rng.choice([2, 8, 10, 1000]) for _ in range(2000)),
        *(_random_double(rng) for _ in range(20000)),
    ]
    for value in values:
        nested = [value, {"k": value, "n": [value, 1]}, (value,)]
        try:
            expected = rfc8785.dumps(nested)  # type: ignore[arg-type]
        except rfc8785.CanonicalizationError:
            with pytest.raises(CanonicalJSONError):
                canonical_json(nested)
            continue
        assert canonical_json(nested) == expected, repr(value)


def test_canonical_json_does_not_change_the_value_it_writes() -> None:
    # Integral floats are written as ints through a copy; the caller's value stays as it was.
    body = {"t": 5.0, "readings": [1.0, 2.5], "nested": {"z": -0.0}}
    assert canonical_json(body) == b'{"nested":{"z":0},"readings":[1,2.5],"t":5}'
    assert body == {"t": 5.0, "readings": [1.0, 2.5], "nested": {"z": -0.0}}
    assert type(body["t"]) is float and type(body["readings"][0]) is float  # type: ignore[index]


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        2**53,
        -(2**60),
        {1: "int key"},
        {"a": {1, 2}},
        {"s": "\ud800"},
        {"\udc00": 1},
        b"bytes",
    ],
    ids=[
        "nan",
        "inf",
        "int-2^53",
        "int-neg",
        "int-key",
        "set",
        "lone-surrogate",
        "surrogate-key",
        "bytes",
    ],
)
def test_canonical_json_rejects_what_jcs_cannot_represent(value: object) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)


def test_canonical_json_rejects_deep_nesting_as_a_ledger_error() -> None:
    value: list[object] = []
    for _ in range(5000):
        value = [value]
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)
