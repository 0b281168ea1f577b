"""EPCIS timestamps: xsd:dateTime with a UTC offset, and their CBV event-hash form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["hash_timestamp", "parse_datetime"]

_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?(Z|[+-]\d{2}:\d{2})?$"
)
_OFFSET_RE = re.compile(r"^[+-](?:(?:0\d|1[0-3]):[0-5]\d|14:00)$")


def parse_datetime(text: Any) -> tuple[datetime | None, str | None]:
    """Parse an xsd:dateTime that must carry an offset; return (aware datetime, None) or reason."""
    if not isinstance(text, str):
        return None, f"expected an ISO 8601 date-time string, got {type(text).__name__}"
    match = _DATETIME_RE.match(text.strip())
    if match is None:
        return None, f"{text!r} is not an ISO 8601 date-time (YYYY-MM-DDThh:mm:ss[.fff]±hh:mm)"
    year, month, day, hour, minute, second, frac, offset = match.groups()
    if offset is None:
        return None, f"{text!r} has no UTC offset (naive timestamps are ambiguous)"
    if offset != "Z" and not _OFFSET_RE.match(offset):
        return None, f"{text!r} has an out-of-range UTC offset"
    tz = UTC
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    micro = int((frac or "").ljust(6, "0")[:6])
    try:
        value = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError as exc:
        return None, f"{text!r} is not a valid date-time: {exc}"
    return value, None


def hash_timestamp(text: str) -> str | None:
    """Return the CBV hash form of a timestamp (UTC, milliseconds, 'Z'), or None if not one."""
    match = _DATETIME_RE.match(text)
    if match is None or match.group(8) is None:
        return None
    parsed, _ = parse_datetime(text)
    if parsed is None:
        return None
    frac = match.group(7) or "0"
    # Round on the written digits, not on the microsecond-truncated datetime.
    millis = (Decimal("0." + frac) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    utc = parsed.astimezone(UTC).replace(microsecond=0) + timedelta(milliseconds=int(millis))
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
