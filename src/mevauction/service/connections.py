"""Connection limits on the HTTP port: deadlines, caps, and a file-descriptor budget.

uvicorn's httptools protocol closes idle keep-alive connections but has no deadline
for a request's headers or body and no cap on connections, so clients that open
connections and send one header byte every few seconds hold a descriptor each until
the process runs out (``EMFILE``) and no one else is served. The
:class:`GuardedHttp` protocol (uvicorn's, plus this bookkeeping) adds:

- **header deadline**: a connection must complete a request's headers within
  ``header_timeout`` s of connecting, or of its previous response plus the keep-alive
  time; header bytes are capped at ``MAX_HEADER_BYTES``;
- **body deadline**: the body must be in within ``body_timeout`` s of the headers
  (+ ``BODY_GRACE`` s, so that the JSON-RPC handler's own HTTP 408 at
  ``body_timeout`` goes out first) — on every route, also after an early response;
- **caps**: at most ``per_client`` connections per client address (a new one over the
  cap is answered 503 and closed) and ``total`` overall; at the overall cap a new
  connection displaces the longest-waiting connection that is not inside a request
  (headers not yet complete, or idle between requests), so connections that never
  finish their headers cannot keep a client that sends a whole request out; only
  when every connection is inside a request is the new one refused;
- **descriptor budget**: ``total`` never exceeds the process's RLIMIT_NOFILE minus
  ``FD_RESERVE`` descriptors kept for the database, the committee, worker processes
  and the event loop (the soft limit is raised towards the hard limit when needed).

Deadlines are checked by one sweep per process every ``SWEEP_SECONDS`` (not a timer
per request: the bundle path pays a few attribute writes). Counts are per process:
with acceptor processes each keeps its own caps (see docs/service.md).
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
from collections import OrderedDict
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mevauction.errors import require
from mevauction.service.config import ServiceConfig

log = logging.getLogger("mevauction.service")

FD_RESERVE = 256  # descriptors not given to connections: DB, committee, workers, loop, logs
MIN_CONNECTIONS = 32
KEEP_ALIVE_SECONDS = 30.0
BODY_GRACE = 1.0
MAX_HEADER_BYTES = 64 * 1024
SWEEP_SECONDS = 0.25
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n"
           b"retry-after: 1\r\n\r\n")

# Where a connection is: waiting for (the rest of) a request's headers or idle between
# requests; receiving a body; inside a request (the application has the whole request).
WAITING, BODY, BUSY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Limits:
    header_timeout: float
    body_timeout: float
    per_client: int
    total: int
    keep_alive: float = KEEP_ALIVE_SECONDS


def fd_room(wanted: int) -> int:
    """Descriptors this process may give to connections, after raising its soft
    RLIMIT_NOFILE towards ``wanted + FD_RESERVE`` (never above the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted + FD_RESERVE if hard == resource.RLIM_INFINITY else min(hard, wanted + FD_RESERVE)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise RLIMIT_NOFILE from %d to %d: %s", soft, target, exc)
    return wanted if soft == resource.RLIM_INFINITY else soft - FD_RESERVE


def limits_from(config: ServiceConfig, internal: bool = False) -> Limits:
    """This process's limits; ``internal``: the auctioneer's listener behind acceptors,
    whose clients all share one address (the acceptors), so only the overall cap applies."""
    room = fd_room(config.max_connections)
    require(room >= MIN_CONNECTIONS, "max_connections",
            f"RLIMIT_NOFILE leaves {room} descriptors for connections after {FD_RESERVE} reserved; "
            f"at least {MIN_CONNECTIONS} are needed (raise ulimit -n)")
    total = min(config.max_connections, room)
    if total < config.max_connections:
        log.warning("max_connections lowered from %d to %d by RLIMIT_NOFILE (%d reserved)",
                    config.max_connections, total, FD_RESERVE)
    per_client = total if internal else min(config.max_connections_per_client, total)
    return Limits(config.header_timeout, config.body_timeout + BODY_GRACE, per_client, total)


class Registry:
    """One process's open connections: counts per client, the displaceable ones in the
    order they started waiting, and the sweep that enforces deadlines."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.open: set[GuardedHttp] = set()
        self.per_client: dict[str, int] = {}
        self.waiting: OrderedDict[GuardedHttp, None] = OrderedDict()
        self.refused = 0
        self.displaced = 0
        self.timed_out = 0
        self._sweeping = False

    def admit(self, conn: GuardedHttp) -> bool:
        """Count ``conn`` in, displacing a waiting connection at the overall cap; False: refuse it."""
        if not self._sweeping:
            self._sweeping = True
            conn.loop.call_later(SWEEP_SECONDS, self.sweep, conn.loop)
        if self.per_client.get(conn.peer, 0) >= self.limits.per_client:
            self.refused += 1
            return False
        if len(self.open) >= self.limits.total:
            victim = next(iter(self.waiting), None)
            if victim is None:
                self.refused += 1
                return False
            self.displaced += 1
            victim.cut()
        self.open.add(conn)
        self.per_client[conn.peer] = self.per_client.get(conn.peer, 0) + 1
        self.waiting[conn] = None
        return True

    def release(self, conn: GuardedHttp) -> None:
        if conn not in self.open:
            return
        self.open.discard(conn)
        self.waiting.pop(conn, None)
        left = self.per_client[conn.peer] - 1
        if left:
            self.per_client[conn.peer] = left
        else:
            del self.per_client[conn.peer]

    def sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cut every connection past its deadline; runs every SWEEP_SECONDS."""
        now = loop.time()
        late = [conn for conn in self.open if conn.deadline < now]
        for conn in late:
            self.timed_out += 1
            conn.cut()
        loop.call_later(SWEEP_SECONDS, self.sweep, loop)


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with the deadlines and caps of a :class:`Registry`."""

    registry: Registry  # set on the class made by guarded_protocol()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.peer = self.client[0] if self.client else ""
        self.phase = WAITING
        self.head_bytes = 0
        self.deadline = self.loop.time() + self.registry.limits.header_timeout
        if not self.registry.admit(self):
            transport.write(REFUSAL)
            transport.close()

    def cut(self) -> None:
        """Close now, without waiting for a client that may not read; stop counting it."""
        self.registry.release(self)
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.release(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.phase == WAITING:  # these bytes did not complete the headers
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEADER_BYTES:
                self.cut()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.phase = BODY
        self.head_bytes = 0
        self.deadline = self.loop.time() + self.registry.limits.body_timeout
        self.registry.waiting.pop(self, None)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.phase = BUSY
        self.deadline = math.inf

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Still receiving the body (answered early, e.g. 408 or 405): its deadline holds.
        # A pipelined request already under way: it is inside a request.
        if self.phase != BUSY or self.pipeline or self not in self.registry.open:
            return
        self.phase = WAITING
        limits = self.registry.limits
        self.deadline = self.loop.time() + limits.keep_alive + limits.header_timeout
        self.registry.waiting[self] = None


def guarded_protocol(limits: Limits) -> type[GuardedHttp]:
    """A protocol class for ``uvicorn.Config(http=...)`` sharing one :class:`Registry`."""
    return type("GuardedHttpProtocol", (GuardedHttp,), {"registry": Registry(limits)})
