"""The HTTP server of ``freshproof serve``: uvicorn, with the timeouts it lacks.

uvicorn closes idle keep-alive connections, but waits forever for a request head that never
ends: 22,000 sockets each sending part of a request line held 20,000 file descriptors and
starved ``/healthz`` (issue 22). ``GuardedH11Protocol`` is uvicorn's h11 protocol with:

- a header timeout: a connection whose request line and headers are not complete within
  ``header_timeout`` seconds of opening (or of its previous response) gets a 408 and is
  closed (nginx's ``client_header_timeout``);
- a body timeout: a body that sends nothing for ``body_timeout`` seconds while the server
  waits for it closes the connection (``client_body_timeout``); a body the server has
  paused (the app is not reading yet) is not the client's delay;
- a connection cap: past ``max_connections`` open connections a new one is answered 503
  and closed at once, so its file descriptor is free again (uvicorn's own
  ``limit_concurrency`` answers 503 only once a request head is complete).

``server_config`` builds the uvicorn configuration from the settings; the README's "Running
behind a reverse proxy" gives the matching nginx figures.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import sys
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.log_repeats import RepeatFilter, logging_config
from api.settings import Settings

__all__ = [
    "GuardedH11Protocol",
    "GuardedServer",
    "guarded_protocol",
    "open_file_limit",
    "server_config",
]

log = logging.getLogger("freshproof.server")

_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 1\r\n"
    b"connection: close\r\n\r\n"
)
# File descriptors kept for the database, evidence files, the model and logs.
FD_RESERVE = 512


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header and body read timeouts and a connection cap."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0
    max_connections: ClassVar[int] = 10_000

    _head_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Count the connection; shed it past the cap, else start its header clock."""
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.write(_503)
            transport.close()
            return
        self._arm_head()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop both clocks."""
        self._cancel_head()
        self._cancel_body()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed h11 as uvicorn does; a body's bytes restart its clock."""
        super().data_received(data)
        if self._receiving_body():
            self._arm_body()

    def handle_events(self) -> None:
        """uvicorn's event loop over h11; a complete head stops the header clock."""
        super().handle_events()
        if self.conn.our_state is h11.SEND_RESPONSE:  # a request head is in, unanswered
            self._cancel_head()
            if self._receiving_body():
                if self._body_timer is None:
                    self._arm_body()
            else:
                self._cancel_body()

    def on_response_complete(self) -> None:
        """The next request's head has its own time (keep-alive closes idle ones sooner)."""
        self._cancel_body()
        if not self.transport.is_closing():
            self._arm_head()  # before uvicorn reads a pipelined request, which may cancel it
        super().on_response_complete()

    # ------------------------------------------------------------------ clocks

    def _receiving_body(self) -> bool:
        return self.conn.our_state is h11.SEND_RESPONSE and self.conn.their_state is h11.SEND_BODY

    def _arm_head(self) -> None:
        self._cancel_head()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_expired)

    def _cancel_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _arm_body(self) -> None:
        self._cancel_body()
        self._body_timer = self.loop.call_later(self.body_timeout, self._body_expired)

    def _cancel_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.conn.our_state is h11.SEND_RESPONSE:  # the head came in after all
            return
        if self.conn.our_state is h11.IDLE and self.conn.their_state is h11.IDLE:
            # Nothing of a response has been sent: say why before closing (RFC 9110 §15.5.9).
            self.transport.write(_408)
        self.transport.close()

    def _body_expired(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or not self._receiving_body():
            return
        cycle = self.cycle
        if self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue):
            # The server is not reading (the app has not asked for the body yet), or the
            # client waits for our 100 Continue: not the client's delay.
            self._arm_body()
            return
        self.transport.close()  # the app's receive() gets http.disconnect


class GuardedServer(uvicorn.Server):
    """uvicorn's server; at shutdown it logs the counts of suppressed repeats.

    After shutdown, uvicorn re-raises the signal that stopped it; SIGTERM (``docker stop``)
    then ends the process at once, so the counts are logged here, not after ``run``.
    """

    def __init__(self, config: uvicorn.Config, repeats: RepeatFilter) -> None:
        super().__init__(config)
        self.repeats = repeats

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve until stopped, with the event loop taking the GIL back every millisecond.

        A request parsed in a worker thread (an EPCIS document: about a second at the
        limits) holds the GIL for Python's default 5 ms between switches, and a request
        needs dozens of switches: ``/healthz`` took 0.7-0.8 s during such a parse, not
        milliseconds. 1 ms costs the parse a few per cent.
        """
        sys.setswitchinterval(0.001)
        super().run(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown, then the pending repeat counts."""
        await super().shutdown(sockets)
        self.repeats.flush()


def guarded_protocol(
    *, header_timeout: float, body_timeout: float, max_connections: int
) -> type[GuardedH11Protocol]:
    """A ``GuardedH11Protocol`` class with these figures (uvicorn instantiates the class)."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
            "max_connections": max_connections,
        },
    )


def open_file_limit() -> int:
    """The process's open-file limit, raised to the hard limit where the soft one is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def server_config(
    app: Any, settings: Settings, *, host: str, port: int, repeats: RepeatFilter
) -> uvicorn.Config:
    """uvicorn's configuration: the guarded protocol, the limits, filtered logging."""
    max_connections = max(1, min(settings.server_limit_concurrency, open_file_limit() - FD_RESERVE))
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(
            header_timeout=settings.server_header_timeout_seconds,
            body_timeout=settings.server_body_timeout_seconds,
            max_connections=max_connections,
        ),
        # uvicorn's own cap (connections or requests in flight, 503) one above ours, so
        # ours sheds connections at once and uvicorn's still bounds requests in flight.
        limit_concurrency=max_connections + 1,
        timeout_keep_alive=settings.server_keep_alive_seconds,
        backlog=settings.server_backlog,
        h11_max_incomplete_event_size=settings.server_max_header_bytes,
        log_config=logging_config(repeats),
    )
