"""GS1 identifiers per the EPC Tag Data Standard (TDS 2.x) and GS1 Digital Link: one checker
per identifier kind, so every place that takes an id applies the same full rule.

Parties and locations (``check_party_id``, ``check_pgln``, ``check_sgln``): a PGLN or SGLN
EPC URN, whose company prefix (6-12 digits) and reference make 12 digits together (TDS
§6.3.3, §6.3.10; a PGLN has nothing after them, an SGLN one extension of 1-20 GS1 AI
encodable characters, ``0`` meaning none), or a GS1 Digital Link of a GLN (AI 414, with an
optional 254 extension; AI 417 for a party) whose 13th digit is the GLN's check digit.
Lots and items (``check_lot_key``): an LGTIN class URN, an SGTIN or SSCC EPC URN, or a GS1
Digital Link with AI 01 (GTIN, check digit verified, with a 10 lot or 21 serial) or 00
(SSCC). Every check is a full match: no trailing newline, no suffix (``.evil``) gets in.

SGTIN reads, what a station's reader says:

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

from supplychain.errors import SupplyChainError

__all__ = [
    "PARTY_ID_MAX",
    "PARTY_ID_PATTERN",
    "SGLN_PATTERN",
    "SGTIN",
    "EPCError",
    "check_lot_key",
    "check_party_id",
    "check_pgln",
    "check_sgln",
    "decode_epc",
    "gs1_check_digit",
    "gtin_check_digit",
    "is_gs1_key",
]

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


class EPCError(SupplyChainError):
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


def gs1_check_digit(body: str) -> str:
    """GS1 mod-10 check digit (General Specifications §7.9.1) for the digits before it."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def gtin_check_digit(body: str) -> str:
    """GS1 mod-10 check digit for the 13 digits of a GTIN-14 before it."""
    return gs1_check_digit(body)


# --------------------------------------------------------------------------- parties, lots

PARTY_ID_MAX = 200
"""The longest party id stored (the parties.id column)."""


def _split_keys(total: int) -> str:
    """Company prefix (6-12 digits) '.' reference, ``total`` digits together, as a regex."""
    return "(?:" + "|".join(rf"\d{{{cp}}}\.\d{{{total - cp}}}" for cp in range(6, 13)) + ")"


# Extensions, serials and lots: GS1 AI encodable set 82, in a URN percent-escaped where
# TDS §6.3 says so (the escapes are checked after decoding).
_URN_CHARS = r"(?:[A-Za-z0-9!'()*+,\-.:;=_]|%[0-9A-Fa-f]{2})"
_DL_CHARS = r"(?:[A-Za-z0-9!'()*+,\-.:;=_]|%[0-9A-Fa-f]{2})"
SGLN_PATTERN = rf"^urn:epc:id:sgln:{_split_keys(12)}\.{_URN_CHARS}{{1,60}}$"
"""An SGLN EPC URN's shape (ECMA and Python regex; ``check_sgln`` is the full check)."""
PARTY_ID_PATTERN = (
    rf"^(?:urn:epc:id:pgln:{_split_keys(12)}"
    rf"|urn:epc:id:sgln:{_split_keys(12)}\.{_URN_CHARS}{{1,60}}"
    rf"|https://id\.gs1\.org/(?:414/[0-9]{{13}}(?:/254/{_DL_CHARS}{{1,60}})?|417/[0-9]{{13}}))$"
)
"""A party id's shape, for schemas (``check_party_id`` also checks what a regex cannot:
the Digital Link check digit, the extension's length once unescaped)."""

_PGLN = re.compile(rf"urn:epc:id:pgln:({_split_keys(12)})")
_SGLN = re.compile(rf"urn:epc:id:sgln:({_split_keys(12)})\.({_URN_CHARS}+)")
_LGTIN = re.compile(rf"urn:epc:class:lgtin:({_split_keys(13)})\.({_URN_CHARS}+)")
# An LGTIN cut short after the GTIN: no lot, or an empty one.
_GTIN_CLASS = re.compile(rf"urn:epc:class:lgtin:({_split_keys(13)})\.?")
_SSCC = re.compile(rf"urn:epc:id:sscc:({_split_keys(17)})")
_DL_GLN = re.compile(rf"https://id\.gs1\.org/(414|417)/([0-9]{{13}})(?:/254/({_DL_CHARS}+))?")
_DL_GTIN = re.compile(rf"https://id\.gs1\.org/01/([0-9]{{14}})(?:/(10|21)/({_DL_CHARS}+))?")
_DL_SSCC = re.compile(r"https://id\.gs1\.org/00/([0-9]{18})")
_SET_82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}")


def _text_of(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise EPCError(repr(value), f"{what} must be text")
    if len(value) > PARTY_ID_MAX:
        raise EPCError(value, f"{what} is longer than {PARTY_ID_MAX} characters")
    return value


def _extension(value: str, raw: str, what: str) -> str:
    text = unquote(raw)
    if not _SET_82.fullmatch(text):
        raise EPCError(value, f"the {what} must be 1-20 GS1 AI encodable characters")
    return text


def check_pgln(value: str) -> str:
    """A PGLN EPC URN (``urn:epc:id:pgln:4012345.00000``); returns the GLN-13."""
    m = _PGLN.fullmatch(_text_of(value, "a PGLN"))
    if m is None:
        raise EPCError(
            value,
            "not a PGLN URN: urn:epc:id:pgln:<company prefix>.<party reference>, "
            "12 digits together and nothing after them",
        )
    body = m.group(1).replace(".", "")
    return body + gs1_check_digit(body)


def check_sgln(value: str) -> str:
    """An SGLN EPC URN (``urn:epc:id:sgln:4012345.00001.0``); returns the GLN-13."""
    m = _SGLN.fullmatch(_text_of(value, "an SGLN"))
    if m is None:
        raise EPCError(
            value,
            "not an SGLN URN: urn:epc:id:sgln:<company prefix>.<location reference>."
            "<extension>, 12 digits before the extension (0: none)",
        )
    _extension(value, m.group(2), "extension")
    body = m.group(1).replace(".", "")
    return body + gs1_check_digit(body)


def _check_digit_ok(value: str, key: str, what: str) -> None:
    if gs1_check_digit(key[:-1]) != key[-1]:
        raise EPCError(
            value,
            f"the {what} {key} has check digit {key[-1]}; it must be {gs1_check_digit(key[:-1])}",
        )


def check_party_id(value: str) -> str:
    """A party or location id: PGLN/SGLN URN or GS1 Digital Link (414, 417); returned as is.

    EPCError says what is wrong: the shape, the digits, the extension or the check digit.
    """
    text = _text_of(value, "a party id")
    if text.startswith("urn:epc:id:pgln:"):
        check_pgln(text)
    elif text.startswith("urn:epc:id:sgln:"):
        check_sgln(text)
    elif (m := _DL_GLN.fullmatch(text)) is not None:
        ai, gln, ext = m.groups()
        if ai == "417" and ext is not None:
            raise EPCError(text, "a party (AI 417) takes no location extension (AI 254)")
        _check_digit_ok(text, gln, "GLN")
        if ext is not None:
            _extension(text, ext, "extension")
    else:
        raise EPCError(
            text,
            "not a party id: a GLN or PGLN as an EPC URN (urn:epc:id:pgln:..., "
            "urn:epc:id:sgln:...) or a GS1 Digital Link (https://id.gs1.org/417/... or /414/...)",
        )
    return text


def is_gs1_key(value: str) -> bool:
    """Whether ``value`` claims to be a GS1 key (an EPC URN or a GS1 Digital Link URI)."""
    return value.startswith(("urn:epc:", "https://id.gs1.org/", "http://id.gs1.org/"))


def check_lot_key(value: str) -> str:
    """A lot or item as a GS1 key: LGTIN, SGTIN, SSCC URN or Digital Link (01, 00).

    Returned as is; EPCError names what is wrong. Plain lot numbers are not GS1 keys and
    are not checked here (``is_gs1_key``).
    """
    text = _text_of(value, "a lot or item key")
    if text.startswith("urn:epc:id:sgtin:"):
        _from_pure(text)
    elif text.startswith("urn:epc:class:lgtin:"):
        m = _LGTIN.fullmatch(text)
        if m is None and (g := _GTIN_CLASS.fullmatch(text)) is not None:
            # TDS: an LGTIN is a GTIN and a lot; a product without one has its own forms.
            raise EPCError(
                text,
                "an LGTIN names a lot (urn:epc:class:lgtin:<company prefix>.<indicator and "
                "item reference>.<lot>); a product without a lot is "
                f"urn:epc:idpat:sgtin:{g.group(1)}.* or https://id.gs1.org/01/<GTIN-14>",
            )
        if m is None:
            raise EPCError(
                text,
                "not an LGTIN URN: urn:epc:class:lgtin:<company prefix>.<indicator and item "
                "reference>.<lot>, 13 digits before the lot",
            )
        _extension(text, m.group(2), "lot")
    elif text.startswith("urn:epc:id:sscc:"):
        if _SSCC.fullmatch(text) is None:
            raise EPCError(
                text,
                "not an SSCC URN: urn:epc:id:sscc:<company prefix>.<serial reference>, "
                "17 digits together",
            )
    elif text.startswith("urn:epc:"):
        raise EPCError(text, "not a lot or item EPC: an LGTIN, SGTIN or SSCC URN")
    elif (m := _DL_GTIN.fullmatch(text.replace("http://", "https://", 1))) is not None:
        gtin, ai, part = m.groups()
        _check_digit_ok(text, gtin, "GTIN")
        if ai is not None:
            _extension(text, part, "lot" if ai == "10" else "serial")
    elif (m := _DL_SSCC.fullmatch(text.replace("http://", "https://", 1))) is not None:
        _check_digit_ok(text, m.group(1), "SSCC")
    else:
        raise EPCError(
            text,
            "not a GS1 Digital Link of a lot or item: https://id.gs1.org/01/<GTIN-14>"
            "[/10/<lot> or /21/<serial>] or /00/<SSCC>",
        )
    return text


def _split(epc: str, company: str, item: str) -> None:
    if len(company) + len(item) != 13:
        raise EPCError(epc, "company prefix and item reference must have 13 digits together")


def _from_pure(epc: str) -> SGTIN:
    m = _PURE.fullmatch(epc)
    if m is None:
        raise EPCError(epc, "not an SGTIN pure identity URI (urn:epc:id:sgtin:CP.IR.SERIAL)")
    company, item, serial = m.group(1), m.group(2), unquote(m.group(3))
    _split(epc, company, item)
    if not _SERIAL_198.fullmatch(serial):
        raise EPCError(epc, "the serial must be 1-20 GS1 AI encodable characters")
    return SGTIN(company, item, serial)


def _from_tag(epc: str) -> SGTIN:
    m = _TAG.fullmatch(epc)
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
        if not _SERIAL_198.fullmatch(serial):
            raise EPCError(epc, "the SGTIN-198 serial holds characters outside the GS1 set")
    return SGTIN(str(company).zfill(cp_digits), str(item).zfill(ir_digits), serial, filt, scheme)


def decode_epc(epc: str) -> SGTIN:
    """Decode what a reader or a system sends: pure identity URI, tag URI or binary hex."""
    text = epc.strip()
    if text.startswith("urn:epc:id:"):
        return _from_pure(text)
    if text.startswith("urn:epc:tag:"):
        return _from_tag(text)
    if m := _HEX.fullmatch(text):
        digits = m.group(1)
        value = int(digits, 16)
        if len(digits) == 24:
            return _from_bits(epc, value, 96)
        # SGTIN-198 is 198 bits: as hex it is padded to 200 with two zero bits at the end.
        if value & 0b11:
            raise EPCError(epc, "SGTIN-198 hex must end in two zero padding bits")
        return _from_bits(epc, value >> 2, 198)
    raise EPCError(epc, "not an SGTIN: give urn:epc:id:sgtin:..., a tag URI, or the EPC as hex")
