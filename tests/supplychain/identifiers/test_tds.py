"""SGTIN decoding per the GS1 EPC Tag Data Standard: URIs, SGTIN-96 and SGTIN-198 binary."""

from __future__ import annotations

import pytest

from supplychain.identifiers.tds import EPCError, decode_epc, gtin_check_digit


def _pack(fields: list[tuple[int, int]]) -> int:
    value = 0
    for width, field in fields:
        assert 0 <= field < 2**width
        value = (value << width) | field
    return value


def _sgtin198_hex(
    filt: int, partition: int, cp: int, cp_bits: int, ir: int, ir_bits: int, serial: str
) -> str:
    chars = [ord(c) for c in serial] + [0] * (20 - len(serial))
    value = _pack(
        [(8, 0x36), (3, filt), (3, partition), (cp_bits, cp), (ir_bits, ir)]
        + [(7, c) for c in chars]
    )
    return format(value << 2, "050X")  # 198 bits padded to 200 with two zero bits


def test_the_tds_sgtin_96_example_decodes() -> None:
    # TDS §14.5.1's worked example.
    sgtin = decode_epc("3074257BF7194E4000001A85")
    assert sgtin.uri == "urn:epc:id:sgtin:0614141.812345.6789"
    assert (sgtin.filter, sgtin.scheme, sgtin.gtin) == (3, "sgtin-96", "80614141123458")
    assert decode_epc("0x3074257bf7194e4000001a85") == sgtin


def test_uris_decode_to_the_same_identity() -> None:
    pure = decode_epc("urn:epc:id:sgtin:0614141.812345.6789")
    tag = decode_epc("urn:epc:tag:sgtin-96:3.0614141.812345.6789")
    assert pure.uri == tag.uri and pure.gtin == tag.gtin == "80614141123458"
    assert tag.filter == 3 and pure.filter is None


@pytest.mark.parametrize("partition", range(7))
def test_every_partition_splits_company_prefix_and_item_reference(partition: int) -> None:
    cp_bits, cp_digits, ir_bits, ir_digits = [
        (40, 12, 4, 1), (37, 11, 7, 2), (34, 10, 10, 3), (30, 9, 14, 4),
        (27, 8, 17, 5), (24, 7, 20, 6), (20, 6, 24, 7),
    ][partition]  # fmt: skip
    cp, ir = 10**cp_digits - 7, 10 ** (ir_digits - 1) + 3
    value = _pack([(8, 0x30), (3, 1), (3, partition), (cp_bits, cp), (ir_bits, ir), (38, 42)])
    sgtin = decode_epc(format(value, "024X"))
    assert (sgtin.company_prefix, sgtin.item_reference) == (str(cp), str(ir).zfill(ir_digits))
    assert len(sgtin.gtin) == 14 and sgtin.serial == "42"


def test_sgtin_198_carries_an_alphanumeric_serial() -> None:
    text = _sgtin198_hex(3, 5, 614141, 24, 812345, 20, "32a/b")
    sgtin = decode_epc(text)
    assert sgtin.scheme == "sgtin-198" and sgtin.serial == "32a/b"
    assert sgtin.uri == "urn:epc:id:sgtin:0614141.812345.32a%2Fb"
    assert decode_epc(sgtin.uri).serial == "32a/b"


def test_check_digit() -> None:
    assert gtin_check_digit("8061414112345") == "8"
    assert gtin_check_digit("0400638133393") == "1"  # EAN-13 4006381333931 as a GTIN-14


@pytest.mark.parametrize(
    ("epc", "reason"),
    [
        ("hello", "not an SGTIN"),
        ("urn:epc:id:sscc:0614141.1234567890", "not an SGTIN pure identity"),
        ("urn:epc:id:sgtin:0614141.81234.6789", "13 digits"),
        ("urn:epc:id:sgtin:0614141.812345.", "not an SGTIN pure identity"),
        ("urn:epc:id:sgtin:0614141.812345." + "9" * 21, "1-20"),
        ("urn:epc:tag:sgtin-96:3.0614141.812345.06789", "without leading zeros"),
        ("3174257BF7194E4000001A85", "header 0x31"),
        ("307C257BF7194E4000001A85", "partition 7"),
        ("3674257BF7194E4000001A85", "198 bits long"),
    ],
)
def test_what_does_not_decode_says_why(epc: str, reason: str) -> None:
    with pytest.raises(EPCError, match=reason) as err:
        decode_epc(epc)
    assert err.value.epc == epc
