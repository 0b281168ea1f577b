"""A local webhook receiver: what a shop's ticket system would get, checked and kept in order.

A threading HTTP server on 127.0.0.1 that verifies each delivery's signature as a receiver
would (``notifications.signatures.verify_signature``), answers 204, and keeps every event
(its type from the header, its payload) in arrival order; a delivery id seen before is
counted, not kept.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from notifications.errors import WebhookSignatureError
from notifications.signatures import (
    DELIVERY_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    verify_signature,
)

__all__ = ["Received", "webhook_receiver"]


@dataclass
class Received:
    """Events received so far, by claim, with the counts of what was refused or repeated."""

    secret: bytes
    events: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    duplicates: int = 0
    _ids: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, headers: Any, body: bytes) -> bool:
        """Keep one delivery if its signature holds; False when it does not."""
        try:
            verify_signature(
                secret=self.secret,
                header=str(headers.get(SIGNATURE_HEADER, "")),
                body=body,
                now=datetime.now(UTC),
            )
        except WebhookSignatureError:
            with self._lock:
                self.bad_signatures += 1
            return False
        event = {"type": str(headers.get(EVENT_TYPE_HEADER, "")), "data": json.loads(body)}
        delivery = str(headers.get(DELIVERY_ID_HEADER, ""))
        with self._lock:
            if delivery in self._ids:
                self.duplicates += 1
            else:
                self._ids.add(delivery)
                self.events.append(event)
        return True

    def count(self) -> int:
        """How many events were kept."""
        with self._lock:
            return len(self.events)

    def by_claim(self) -> dict[str, list[dict[str, Any]]]:
        """Each claim's events in arrival order."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self._lock:
            for e in self.events:
                claim = e["data"].get("claim_id") if isinstance(e["data"], dict) else None
                if claim:
                    out.setdefault(str(claim), []).append(e)
        return out


@contextmanager
def webhook_receiver(secret: str) -> Iterator[tuple[str, Received]]:
    """Serve a receiver until the block ends; yields (its URL, what it received)."""
    received = Received(secret.encode())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ok = received.take(self.headers, body)
            self.send_response(204 if ok else 401)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    finally:
        server.shutdown()
        server.server_close()
