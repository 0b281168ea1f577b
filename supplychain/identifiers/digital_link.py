"""GS1 Digital Link: EPC URIs and Digital Link URIs to their constrained canonical form.

The canonical form is the one the CBV 2.0 event hash (§8.9) writes: the id.gs1.org domain,
no query string, the finest key qualifier only, a GTIN padded to 14 digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote

from supplychain.errors import SupplyChainError

__all__ = [
    "DigitalLinkError",
    "PackLink",
    "gtin",
    "identity",
    "lot",
    "parse_pack_link",
    "to_digital_link",
]


def _check_digit(digits: str) -> str:
    """GS1 mod-10 check digit (GS1 General Specifications §7.9.1)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


_DL_ESCAPES = str.maketrans(
    {"!": "%21", "(": "%28", ")": "%29", "*": "%2A", "+": "%2B", ",": "%2C", ":": "%3A"}
)


def _dl_escape(text: str) -> str:
    """Percent-encode what EPC URIs allow raw but GS1 Digital Link path segments do not."""
    return text.translate(_DL_ESCAPES)


_EPC_URI_RE = re.compile(r"^urn:epc:(id|class|idpat):([a-z]+):(.+)$")
_DIGITS_RE = re.compile(r"^\d+$")
_DL_PRIMARY = {
    "01": "01", "gtin": "01", "00": "00", "sscc": "00", "414": "414", "gln": "414",
    "417": "417", "party": "417", "8003": "8003", "grai": "8003", "8004": "8004",
    "giai": "8004", "253": "253", "gdti": "253", "8006": "8006", "itip": "8006",
    "8010": "8010", "cpid": "8010", "8017": "8017", "gsrnp": "8017", "8018": "8018",
    "gsrn": "8018", "255": "255", "gcn": "255", "401": "401", "ginc": "401",
    "402": "402", "gsin": "402",
}  # fmt: skip
_DL_QUALIFIER = {"22": "22", "cpv": "22", "10": "10", "lot": "10", "21": "21", "ser": "21"}
_DL_ALLOWED_QUALIFIERS = {
    "01": ("21", "10", "235"),
    "8006": ("21", "10"),
    "414": ("254",),
    "8010": ("8011",),
}


def _gs1_key(cp: str, ref: str, total: int) -> str | None:
    """Return cp+ref when both are digits, cp has 6-12 digits and together they have `total`."""
    if not (_DIGITS_RE.match(cp) and _DIGITS_RE.match(ref)) or not 6 <= len(cp) <= 12:
        return None
    return cp + ref if len(cp) + len(ref) == total else None


@lru_cache(maxsize=4096)
def _gtin14(cp: str, indicator_item: str) -> str | None:
    """Return the GTIN-14 of an EPC company prefix + indicator/item reference pair (cached:
    a shipment's thousand items share their company prefix and item reference)."""
    if _gs1_key(cp, indicator_item, 13) is None:
        return None
    body = indicator_item[0] + cp + indicator_item[1:]
    return body + _check_digit(body)


def _epc_to_dl(kind: str, scheme: str, rest: str) -> str | None:
    """Convert one EPC pure-identity / class / pattern URI to its canonical GS1 Digital Link."""
    base = "https://id.gs1.org"
    parts = rest.split(".")
    if kind == "id" and scheme == "sgtin" and len(parts) >= 3:
        gtin = _gtin14(parts[0], parts[1])
        serial = rest.split(".", 2)[2]
        if gtin and 1 <= len(serial) <= 20:
            return f"{base}/01/{gtin}/21/{_dl_escape(serial)}"
    elif kind == "id" and scheme == "sscc" and len(parts) == 2:
        if _gs1_key(parts[0], parts[1], 17):
            body = parts[1][0] + parts[0] + parts[1][1:]
            return f"{base}/00/{body}{_check_digit(body)}"
    elif kind == "id" and scheme == "sgln" and len(parts) >= 3:
        gln = _gs1_key(parts[0], parts[1], 12)
        ext = rest.split(".", 2)[2]
        if gln and ext:
            gln += _check_digit(gln)
            return f"{base}/414/{gln}" if ext == "0" else f"{base}/414/{gln}/254/{_dl_escape(ext)}"
    elif kind == "id" and scheme == "pgln" and len(parts) == 2:
        gln = _gs1_key(parts[0], parts[1], 12)
        if gln:
            return f"{base}/417/{gln}{_check_digit(gln)}"
    elif kind == "id" and scheme == "grai" and len(parts) >= 3:
        key = _gs1_key(parts[0], parts[1], 12)
        serial = rest.split(".", 2)[2]
        if key and serial:
            key = "0" + key
            return f"{base}/8003/{key}{_check_digit(key)}{_dl_escape(serial)}"
    elif kind == "id" and scheme == "giai" and len(parts) >= 2:
        cp, ref = rest.split(".", 1)
        if _DIGITS_RE.match(cp) and 6 <= len(cp) <= 12 and ref:
            return f"{base}/8004/{cp}{_dl_escape(ref)}"
    elif kind == "id" and scheme in ("gsrn", "gsrnp") and len(parts) == 2:
        key = _gs1_key(parts[0], parts[1], 17)
        if key:
            ai = "8018" if scheme == "gsrn" else "8017"
            return f"{base}/{ai}/{key}{_check_digit(key)}"
    elif kind == "id" and scheme == "gdti" and len(parts) >= 3:
        key = _gs1_key(parts[0], parts[1], 12)
        if key:
            return f"{base}/253/{key}{_check_digit(key)}{_dl_escape(rest.split('.', 2)[2])}"
    elif kind == "class" and scheme == "lgtin" and len(parts) >= 3:
        gtin = _gtin14(parts[0], parts[1])
        lot_code = rest.split(".", 2)[2]
        if gtin and 1 <= len(lot_code) <= 20:
            return f"{base}/01/{gtin}/10/{_dl_escape(lot_code)}"
    elif kind == "idpat" and scheme == "sgtin" and len(parts) == 3 and parts[2] == "*":
        gtin = _gtin14(parts[0], parts[1])
        if gtin:
            return f"{base}/01/{gtin}"
    return None


_DL_RE = re.compile(r"^https?://[^/?#\s]+(/[^?#\s]*)(?:\?[^#\s]*)?(?:#\S*)?$")


def _constrain_dl(uri: str) -> str | None:
    """Return the constrained canonical form of a GS1 Digital Link URI, or None if not one."""
    match = _DL_RE.match(uri)
    if match is None:
        return None
    segments = [s for s in match.group(1).split("/") if s]
    for i, segment in enumerate(segments[:-1]):
        ai = _DL_PRIMARY.get(segment)
        value = segments[i + 1]
        if ai is None or not re.match(r"^\d{4}", value):
            continue
        rest = segments[i + 2 :]
        if len(rest) % 2:
            return None
        if ai == "01" and _DIGITS_RE.match(value) and len(value) in (8, 12, 13):
            value = value.rjust(14, "0")
        qualifiers: dict[str, str] = {}
        for q, v in zip(rest[::2], rest[1::2], strict=True):
            qualifiers[_DL_QUALIFIER.get(q, q)] = v
        allowed = _DL_ALLOWED_QUALIFIERS.get(ai, ())
        # Only the finest identification level stays: a serial makes the lot redundant.
        if "21" in qualifiers:
            qualifiers.pop("10", None)
        kept = [f"/{q}/{qualifiers[q]}" for q in allowed if q in qualifiers][:1]
        return f"https://id.gs1.org/{ai}/{value}{''.join(kept)}"
    return None


def to_digital_link(uri: str) -> str | None:
    """Return the constrained canonical GS1 Digital Link URI for an EPC or DL URI, else None."""
    text = uri.strip()
    match = _EPC_URI_RE.match(text)
    if match is not None:
        return _epc_to_dl(*match.groups())
    if text.startswith(("http://", "https://")):
        return _constrain_dl(text)
    return None


def identity(key: str) -> str:
    """The one name of what a key identifies, whatever form it was written in: the
    canonical GS1 Digital Link of an EPC URI or a Digital Link (an LGTIN URN and the same
    lot's Digital Link on any host are one lot), other keys as they are.

    The Digital Link, not the URN, because it is the one form both reach: a Digital Link
    does not say where the GTIN's company prefix ends, so it has no one URN.
    """
    return to_digital_link(key) or key


def lot(class_uri: str) -> str | None:
    """Return the lot/batch part of an LGTIN class URI or a GS1 Digital Link with AI 10."""
    text = class_uri.strip()
    if text.startswith("urn:epc:class:lgtin:"):
        parts = text[len("urn:epc:class:lgtin:") :].split(".", 2)
        return unquote(parts[2]) if len(parts) == 3 and parts[2] else None
    match = re.search(r"/(?:10|lot)/([^/?#]+)", text) if text.startswith("http") else None
    if match is None or to_digital_link(text) is None:
        return None
    return unquote(match.group(1))


def is_lot_class(uri: str) -> bool:
    """True for identifiers of a product lot (LGTIN class URI or DL with AI 10 and no serial)."""
    if uri.startswith("urn:epc:class:lgtin:"):
        return True
    dl = to_digital_link(uri) if uri.startswith("http") else None
    return dl is not None and "/10/" in dl


_DL_GTIN_RE = re.compile(r"^https://id\.gs1\.org/01/(\d{14})(?:/|$)")


def gtin(uri: str) -> str | None:
    """The GTIN-14 an LGTIN or SGTIN EPC URI, or a GS1 Digital Link with AI 01, names; else None."""
    match = _DL_GTIN_RE.match(to_digital_link(uri) or "")
    return match.group(1) if match else None


# --------------------------------------------------------------------------- a pack's link

# GS1 AI encodable character set 82 (General Specifications §7.11, figure 7.11-1): what a
# lot (AI 10) or a serial (AI 21) may hold, 1 to 20 characters.
_CSET82 = re.compile(r"""^[!"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$""")
_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# The key qualifiers a GTIN takes, in the order a Digital Link path writes them (DL 1.x §4).
_GTIN_QUALIFIERS = ("22", "10", "21")


class DigitalLinkError(SupplyChainError):
    """A path that is not the GS1 Digital Link of a lot or an item; ``reason`` says why."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"Digital Link {path[:120]!r}: {reason}")


@dataclass(frozen=True)
class PackLink:
    """A pack's identity as its QR code carries it: GTIN-14 with a lot (AI 10) or a serial
    (AI 21, an item), and the consumer product variant (AI 22) when given.
    """

    gtin: str
    lot: str | None = None
    serial: str | None = None
    cpv: str | None = None

    @property
    def path(self) -> str:
        """The canonical Digital Link path: 14-digit GTIN, the finest qualifier only, its
        value percent-encoded except for unreserved characters (RFC 3986 §2.3)."""
        if self.serial is not None:
            return f"/01/{self.gtin}/21/{quote(self.serial, safe='-._')}"
        return f"/01/{self.gtin}/10/{quote(self.lot or '', safe='-._')}"

    def uri(self, base: str = "https://id.gs1.org") -> str:
        """The Digital Link URI on a resolver ``base`` (no trailing slash)."""
        return base.rstrip("/") + self.path

    def epc_candidates(self) -> tuple[str, ...]:
        """The EPC URNs this lot or item may be recorded under, one per GS1 company prefix
        length (6 to 12 digits: the GTIN alone does not say where the prefix ends), with
        the canonical Digital Link URI. Never a bare lot number: another GTIN's lot may
        carry the same one.
        """
        indicator, body = self.gtin[0], self.gtin[1:13]
        if self.serial is not None:
            kind, value = "id:sgtin", self.serial
        else:
            kind, value = "class:lgtin", self.lot or ""
        # TDS §6.3: these stay raw in an EPC URN; the rest is percent-escaped.
        escaped = quote(value, safe="!'()*+,-.:;=_")
        urns = tuple(
            f"urn:epc:{kind}:{body[:cp]}.{indicator}{body[cp:]}.{escaped}" for cp in range(6, 13)
        )
        return (*urns, self.uri())


def _value(raw: str, path: str, what: str) -> str:
    if _PCT.search(raw):
        raise DigitalLinkError(path, f"the {what} has a stray '%' (percent-encode it as %25)")
    try:
        value = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        value = ""  # bytes that are no text: not set 82 either
    if not _CSET82.match(value):
        raise DigitalLinkError(
            path, f"the {what} must be 1 to 20 characters of GS1 AI encodable set 82"
        )
    return value


def parse_pack_link(path: str) -> PackLink:
    """Read a Digital Link path ``/01/{gtin}[/22/{cpv}]/10/{lot}`` or ``.../21/{serial}``.

    ``path`` is as it came on the wire (still percent-encoded: a lot may hold '/', sent as
    %2F). A GTIN-8, -12 or -13 is padded to 14 digits; its check digit must be right. A
    serial makes the lot redundant (DL 1.x: the finest level identifies). Anything else is a
    ``DigitalLinkError`` naming what is wrong.
    """
    segments = path.strip("/").split("/")
    if len(segments) < 2 or segments[0] != "01":
        raise DigitalLinkError(path, "a pack's link starts /01/<GTIN>")
    gtin = segments[1]
    if not re.fullmatch(r"\d{8}|\d{12,14}", gtin):
        raise DigitalLinkError(path, "a GTIN is 8, 12, 13 or 14 digits")
    gtin = gtin.rjust(14, "0")
    if _check_digit(gtin[:13]) != gtin[13]:
        raise DigitalLinkError(path, f"the GTIN's check digit should be {_check_digit(gtin[:13])}")
    rest = segments[2:]
    if len(rest) % 2:
        raise DigitalLinkError(path, "each qualifier needs a value: /10/<lot> or /21/<serial>")
    qualifiers: dict[str, str] = {}
    order = -1
    for ai, raw in zip(rest[::2], rest[1::2], strict=True):
        if ai not in _GTIN_QUALIFIERS:
            raise DigitalLinkError(path, f"/{ai}/ does not qualify a GTIN here: use 10, 21 or 22")
        if _GTIN_QUALIFIERS.index(ai) <= order:
            raise DigitalLinkError(path, "qualifiers go in the order 22, 10, 21, once each")
        order = _GTIN_QUALIFIERS.index(ai)
        what = {"10": "lot", "21": "serial", "22": "variant"}[ai]
        qualifiers[ai] = _value(raw, path, what)
    if "10" not in qualifiers and "21" not in qualifiers:
        raise DigitalLinkError(path, "a pack's page needs a lot (/10/) or a serial (/21/)")
    return PackLink(
        gtin,
        lot=qualifiers.get("10"),
        serial=qualifiers.get("21"),
        cpv=qualifiers.get("22"),
    )
