"""Per-request cost of the connection guard: GuardedHttp against uvicorn's HttpToolsProtocol.

In process, no sockets: one keep-alive connection on a stub transport is fed 20,000
bundle-sized requests answered by a trivial ASGI app; 7 alternating rounds per class.
Only the HTTP layer's bookkeeping (service/connections.py) differs between the two.

    PYTHONPATH=src python benchmarks/connection_guard.py
"""

from __future__ import annotations

import asyncio
import time

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from mevauction.service.connections import Limits, guarded_protocol

BODY = (b'{"jsonrpc":"2.0","id":1,"method":"eth_sendBundle","params":[{"txs":["0x' + b"ab" * 110
        + b'"],"blockNumber":"0x5"}]}')
REQUEST = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Flashbots-Signature: 0x"
           + b"cd" * 20 + b":0x" + b"ef" * 65 + b"\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n\r\n"
           + BODY)
REQUESTS = 20_000
ROUNDS = 7


async def app(scope, receive, send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class StubTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)

    def write(self, data) -> None:  # responses are discarded: only the protocol's own cost is timed
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:  # flow control has nothing to pause on a stub transport
        pass

    def resume_reading(self) -> None:
        pass


async def per_request_us(protocol: type[asyncio.Protocol]) -> float:
    config = Config(app, http=protocol, loop="none", lifespan="off", access_log=False, log_level="warning")
    config.load()
    connection = protocol(config=config, server_state=ServerState(), app_state={})  # type: ignore[call-arg]
    connection.connection_made(StubTransport())
    start = time.perf_counter()
    for _ in range(REQUESTS):
        connection.data_received(REQUEST)  # type: ignore[attr-defined]
        for _ in range(4):  # let the request's ASGI task run to its response
            await asyncio.sleep(0)
    return (time.perf_counter() - start) / REQUESTS * 1e6


def main() -> None:
    guarded = guarded_protocol(Limits(header_timeout=5, body_timeout=11, per_client=128, total=4096))
    times: dict[str, list[float]] = {"httptools": [], "guarded": []}
    for _ in range(ROUNDS):
        times["httptools"].append(uvloop.run(per_request_us(HttpToolsProtocol)))
        times["guarded"].append(uvloop.run(per_request_us(guarded)))
    for name, values in times.items():
        print(f"{name:9s} min {min(values):.2f} us  median {sorted(values)[ROUNDS // 2]:.2f} us per request")


if __name__ == "__main__":
    main()
