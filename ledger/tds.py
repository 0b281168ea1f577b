"""SGTIN identifiers per the GS1 EPC Tag Data Standard (TDS 2.x): what a station's reader says.

A reader hands over either the EPC binary as hex (SGTIN-96, header ``0x30``; SGTIN-198,
header ``0x36``), a tag URI (``urn:epc:tag:sgtin-96:1.0614141.812345.6789``) or the pure
identity URI (``urn:epc:id:sgtin:0614141.812345.6789``). All three decode to one ``SGTIN``
whose pure identity URI is the key the ledger indexes events by, and whose GTIN-14 names
the trade item.

Decoding follows TDS §14 (binary encodings): the partition value splits the 44 bits after
filter and partition into the company prefix and the indicator/item reference (table 14-2);
SGTIN-96 serials are integers without leading zeros (38 bits), SGTIN-198 serials are up to
20 characters of 7-bit GS1 AI encodable characters. Every refusal is an ``EPCError`` naming
what is wrong with the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from ledger.errors import LedgerError

__all__ = ["SGTIN", "EPCError", "decode_epc", "gtin_check_digit"]

# TDS table 14-2: partition → (company prefix bits, digits; item reference bits, digits).
_PARTITIONS = {
    0: (40, 12, 4, 1),
    1: (37, 11, 7, 2),
    2: (34, 10, 10, 3),
    3: (30, 9, 14, 4),
    4: (27, 8, 17, 5),
    5: (24, 7, 20, 6),
    6: (20, 6, 24, 7),
}
_HEADERS = {0x30: "sgtin-96", 0x36: "sgtin-198"}
# GS1 AI encodable character set 82 (TDS §A): what a serial (AI 21) may hold.
_SERIAL_198 = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$")
_PURE = re.compile(r"^urn:epc:id:sgtin:(\d{6,12})\.(\d{1,7})\.(.+)$")
_TAG = re.compile(r"^urn:epc:tag:(sgtin-96|sgtin-198):([0-7])\.(\d{6,12})\.(\d{1,7})\.(.+)$")
_HEX = re.compile(r"^(?:0x)?([0-9A-Fa-f]{24}|[0-9A-Fa-f]{50})$")


class EPCError(LedgerError):
    """An EPC that does not decode; ``reason`` says what is wrong with it."""

    def __init__(self, epc: str, reason: str) -> None:
        self.epc, self.reason = epc, reason
        super().__init__(f"EPC {epc[:80]!r}: {reason}")


@dataclass(frozen=True)
class SGTIN:
    """A serialised trade item: GS1 company prefix, indicator + item reference, serial."""

    company_prefix: str
    item_reference: str  # the indicator digit first
    serial: str
    filter: int | None = None
    scheme: str | None = None  # the binary scheme it was read from, if any

    @property
    def uri(self) -> str:
        """The pure identity URI (serial characters percent-escaped as TDS §6.3 says)."""
        serial = quote(self.serial, safe="!'()*+,-.:;=_")
        return f"urn:epc:id:sgtin:{self.company_prefix}.{self.item_reference}.{serial}"

    @property
    def gtin(self) -> str:
        """The GTIN-14: indicator, company prefix, item reference, check digit."""
        body = self.item_reference[0] + self.company_prefix + self.item_reference[1:]
        return body + gtin_check_digit(body)


def gtin_check_digit(body: str) -> str:
    """GS1 mod-10 check digit for the 13 digits before it."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def _split(epc: str, company: str, item: str) -> None:
    if len(company) + len(item) != 13:
        raise EPCError(epc, "company prefix and item reference must have 13 digits together")


def _from_pure(epc: str) -> SGTIN:
    m = _PURE.match(epc)
    if m is None:
        raise EPCError(epc, "not an SGTIN pure identity URI (urn:epc:id:sgtin:CP.IR.SERIAL)")
    company, item, serial = m.group(1), m.group(2), unquote(m.group(3))
    _split(epc, company, item)
    if not _SERIAL_198.match(serial):
        raise EPCError(epc, "the serial must be 1-20 GS1 AI encodable characters")
    return SGTIN(company, item, serial)


def _from_tag(epc: str) -> SGTIN:
    m = _TAG.match(epc)
    if m is None:
        raise EPCError(epc, "not an SGTIN tag URI")
    scheme, filt, company, item, serial = m.groups()
    pure = _from_pure(f"urn:epc:id:sgtin:{company}.{item}.{serial}")
    if scheme == "sgtin-96" and not _serial_96_ok(pure.serial):
        raise EPCError(epc, "an SGTIN-96 serial is an integer below 2^38 without leading zeros")
    return SGTIN(pure.company_prefix, pure.item_reference, pure.serial, int(filt), scheme)


def _serial_96_ok(serial: str) -> bool:
    return (
        serial.isdigit() and (serial == "0" or not serial.startswith("0")) and int(serial) < 2**38
    )


def _bits(value: int, total: int, start: int, width: int) -> int:
    return (value >> (total - start - width)) & ((1 << width) - 1)


def _from_bits(epc: str, value: int, total: int) -> SGTIN:
    header = _bits(value, total, 0, 8)
    scheme = _HEADERS.get(header)
    if scheme is None:
        raise EPCError(epc, f"header 0x{header:02X} is not SGTIN-96 (0x30) or SGTIN-198 (0x36)")
    if (scheme == "sgtin-96") != (total == 96):
        raise EPCError(epc, f"{scheme} is {96 if scheme == 'sgtin-96' else 198} bits long")
    filt = _bits(value, total, 8, 3)
    partition = _bits(value, total, 11, 3)
    if partition not in _PARTITIONS:
        raise EPCError(epc, f"partition {partition} is not defined (0-6)")
    cp_bits, cp_digits, ir_bits, ir_digits = _PARTITIONS[partition]
    company = _bits(value, total, 14, cp_bits)
    item = _bits(value, total, 14 + cp_bits, ir_bits)
    if company >= 10**cp_digits or item >= 10**ir_digits:
        raise EPCError(epc, "company prefix or item reference overflows its digits")
    start = 58
    if scheme == "sgtin-96":
        serial = str(_bits(value, total, start, 38))
    else:
        chars = [_bits(value, total, start + 7 * i, 7) for i in range(20)]
        serial = "".join(chr(c) for c in chars).split("\0", 1)[0]
        if not _SERIAL_198.match(serial):
            raise EPCError(epc, "the SGTIN-198 serial holds characters outside the GS1 set")
    return SGTIN(str(company).zfill(cp_digits), str(item).zfill(ir_digits), serial, filt, scheme)


def decode_epc(epc: str) -> SGTIN:
    """Decode what a reader or a system sends: pure identity URI, tag URI or binary hex."""
    text = epc.strip()
    if text.startswith("urn:epc:id:"):
        return _from_pure(text)
    if text.startswith("urn:epc:tag:"):
        return _from_tag(text)
    if m := _HEX.match(text):
        digits = m.group(1)
        value = int(digits, 16)
        if len(digits) == 24:
            return _from_bits(epc, value, 96)
        # SGTIN-198 is 198 bits: as hex it is padded to 200 with two zero bits at the end.
        if value & 0b11:
            raise EPCError(epc, "SGTIN-198 hex must end in two zero padding bits")
        return _from_bits(epc, value >> 2, 198)
    raise EPCError(epc, "not an SGTIN: give urn:epc:id:sgtin:..., a tag URI, or the EPC as hex")
