"""``nextPageToken``: where the next page starts, signed so no one can make one up.

A token carries the query it pages (its parameters, canonical), the scope it was issued to
(``Scope.fingerprint``), the order and the last event served (a keyset position: event time
in microseconds and ledger index), and how many events were served before (for
``eventCountLimit``). It is HMAC-SHA256-signed with the server's secret: a token edited or
made up, or presented by a caller of another scope, is a ``QueryParameterException``. The
query is read again from the token, so a ``Link: rel="next"`` works as is; and whatever a
token says, every page is filtered by the caller's own scope again (``supplychain.query.scope``).

Tokens do not expire: a keyset position stays meaningful while events are added.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib
from dataclasses import dataclass

from supplychain.query.errors import QueryParameterError

__all__ = ["PageToken", "read_token"]

_SIG_BYTES = 16
_TOKEN = "nextPageToken"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, b"epcis-page-token\n" + payload, hashlib.sha256).digest()[:_SIG_BYTES]


@dataclass(frozen=True)
class PageToken:
    """The state of a paged query after one page."""

    params: tuple[tuple[str, str], ...]
    scope: str
    order_by: str
    descending: bool
    after: tuple[int | None, int]  # (event time in µs since the epoch, ledger index)
    served: int

    def encode(self, secret: bytes) -> str:
        """The opaque, signed token."""
        body = {
            "q": [list(p) for p in self.params],
            "s": self.scope,
            "o": self.order_by,
            "d": self.descending,
            "a": list(self.after),
            "n": self.served,
        }
        payload = zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 9)
        return f"{_b64(payload)}.{_b64(_sign(secret, payload))}"


def read_token(token: str, *, secret: bytes, scope: str) -> PageToken:
    """The token's state; ``QueryParameterError`` unless this server signed it for ``scope``."""
    refused = QueryParameterError(
        _TOKEN, "not a token this server issued for this query and key; start again without it"
    )
    try:
        payload_text, sig_text = token.split(".")
        payload, sig = _unb64(payload_text), _unb64(sig_text)
    except (ValueError, UnicodeError):
        raise refused from None
    if not hmac.compare_digest(sig, _sign(secret, payload)):
        raise refused
    body = json.loads(zlib.decompress(payload))
    if body["s"] != scope:
        raise refused
    event_us, index = body["a"]
    return PageToken(
        params=tuple((str(k), str(v)) for k, v in body["q"]),
        scope=body["s"],
        order_by=body["o"],
        descending=bool(body["d"]),
        after=(event_us, int(index)),
        served=int(body["n"]),
    )
