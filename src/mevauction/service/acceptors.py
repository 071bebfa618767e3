"""Acceptor processes in front of the auctioneer, for bundle intake beyond one core.

With ``acceptors = N`` the service runs N acceptor processes that all listen on the
public host and port (``SO_REUSEPORT``: the kernel spreads connections over them) and
the auctioneer process behind them, which listens only on an internal port:

- an acceptor answers ``eth_sendBundle`` itself as far as it can without the slot's
  state — HTTP parsing, JSON-RPC envelope, the ``X-Flashbots-Signature`` recovery,
  decoding every transaction and recovering its sender, the bundle hash — and hands
  the verified order to the auctioneer over a Unix socket (the :class:`OrderGate`);
- the auctioneer applies the slot rules (open slot, replays, replacements), queues the
  row for its single group-committing writer, and answers once it is durable; the
  acceptor then answers the client. So an acknowledgement still means "stored";
- every other request (reads, the page, other methods, batches) is relayed unchanged
  to the auctioneer's internal HTTP listener.

The per-signer rate limit is kept by each acceptor, so a signer spread over N
connections may get up to N times the configured rate.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
import struct
from typing import Any

from mevauction.errors import InputError
from mevauction.service.config import ServiceConfig
from mevauction.service.intake import Intake, IntakeRules
from mevauction.service.rpc import JsonRpc, OrderSink
from mevauction.service.store import StorageError

log = logging.getLogger("mevauction.service")

HEADER = struct.Struct("!I")
LOCAL_METHODS = ("eth_sendBundle",)
HOP_HEADERS = {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"host"}


async def read_frame(reader: asyncio.StreamReader) -> Any:
    size = HEADER.unpack(await reader.readexactly(HEADER.size))[0]
    return pickle.loads(await reader.readexactly(size))


def frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


class OrderGate:
    """Auctioneer side: verified orders in from acceptors, acknowledgements out.

    Frames are ``(request id, signer, intake)``; answers are ``(request id, "ok", ack)``,
    ``(id, "input", field, message)`` or ``(id, "storage", message)``. Only the trusted
    acceptors this process started can connect (a Unix socket in a private directory).
    """

    def __init__(self, engine: OrderSink):
        self.engine = engine
        self.server: asyncio.AbstractServer | None = None

    async def start(self, path: str) -> None:
        self.server = await asyncio.start_unix_server(self._serve, path=path)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks: set[asyncio.Task] = set()
        try:
            while True:
                rid, signer, intake = await read_frame(reader)
                task = asyncio.create_task(self._submit(rid, signer, intake, writer))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def _submit(self, rid: int, signer: str, intake: Intake, writer: asyncio.StreamWriter) -> None:
        try:
            answer: tuple = (rid, "ok", await self.engine.submit(intake, signer))
        except InputError as exc:
            answer = (rid, "input", exc.field, exc.message)
        except StorageError as exc:
            answer = (rid, "storage", str(exc))
        if not writer.is_closing():
            writer.write(frame(answer))


class GateClient:
    """Acceptor side: the auctioneer as an :class:`~mevauction.service.rpc.OrderSink`, all
    the JSON-RPC handler needs for the one method an acceptor answers (``eth_sendBundle``)."""

    def __init__(self, config: ServiceConfig, path: str):
        self.world = config.world_object()
        self.rules = IntakeRules.of(config)
        self.path = path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.waiting: dict[int, asyncio.Future] = {}
        self.next_id = 0

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_unix_connection(self.path)
        asyncio.get_running_loop().create_task(self._answers())

    async def _answers(self) -> None:
        assert self.reader is not None
        try:
            while True:
                answer = await read_frame(self.reader)
                future = self.waiting.pop(answer[0], None)
                if future is not None and not future.done():
                    future.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            for future in self.waiting.values():
                if not future.done():
                    future.set_result((0, "storage", "auctioneer connection lost"))

    async def submit(self, intake: Intake, signer: str) -> dict:
        assert self.writer is not None
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        self.writer.write(frame((self.next_id, signer, intake)))
        answer = await future
        if answer[1] == "ok":
            return answer[2]
        if answer[1] == "input":
            raise InputError(answer[2], answer[3])
        raise StorageError(answer[2])


class Relay:
    """Which JSON-RPC requests an acceptor answers, and the relay of all others."""

    def __init__(self, internal_url: str):
        import httpx
        self.http = httpx.AsyncClient(base_url=internal_url, timeout=None)

    @staticmethod
    def local(doc: Any) -> bool:
        return isinstance(doc, dict) and doc.get("method") in LOCAL_METHODS

    async def forward(self, headers: dict, body: bytes, method: str = "POST", path: str = "/", query: bytes = b""):
        """Send the request on; returns ``respond(send)`` that streams the answer back."""
        request = self.http.build_request(method, path + ("?" + query.decode("latin-1") if query else ""),
                                          content=body,
                                          headers=[(k, v) for k, v in headers.items() if k not in HOP_HEADERS])
        response = await self.http.send(request, stream=True)

        async def respond(send) -> None:
            out = [(k.lower().encode(), v.encode()) for k, v in response.headers.multi_items()
                   if k.lower().encode() not in HOP_HEADERS]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            try:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finally:
                await response.aclose()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        return respond


class AcceptorApp:
    """ASGI app of one acceptor: JSON-RPC at ``POST /`` (bundles here, the rest relayed)."""

    def __init__(self, config: ServiceConfig, gate_path: str, internal_url: str):
        self.config = config
        self.gate_path = gate_path
        self.relay = Relay(internal_url)
        self.rpc: JsonRpc | None = None  # set at lifespan start-up

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/" and scope["method"] == "POST" and self.rpc is not None:
            await self.rpc(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        respond = await self.relay.forward(dict(scope.get("headers") or []), b"".join(chunks), scope["method"],
                                           scope["path"], scope.get("query_string", b""))
        await respond(send)

    async def _lifespan(self, receive, send) -> None:
        from mevauction.service.metrics import Metrics
        from mevauction.service.ratelimit import RateLimiter

        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                gate = GateClient(self.config, self.gate_path)
                await gate.connect()
                self.rpc = JsonRpc(gate, Metrics(), self.config.max_body_bytes, self.config.body_timeout,
                                   RateLimiter(self.config.rate_per_signer, self.config.burst_per_signer),
                                   relay=self.relay)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket that several processes bind together (the kernel balances connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_acceptor(config: ServiceConfig, gate_path: str, internal_url: str) -> None:
    """Process entry: serve the public port until killed."""
    import gc

    import uvicorn

    from mevauction.service.connections import guarded_protocol, limits_from

    sock = listening_socket(config.host, config.port)
    gc.freeze()
    limits = limits_from(config)  # this process's own caps and descriptor budget
    server = uvicorn.Server(uvicorn.Config(AcceptorApp(config, gate_path, internal_url), log_level="warning",
                                           access_log=False, loop="uvloop", http=guarded_protocol(limits),
                                           timeout_keep_alive=int(limits.keep_alive), lifespan="on"))
    server.run(sockets=[sock])
