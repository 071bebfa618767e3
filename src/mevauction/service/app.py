"""The service as one ASGI application.

``POST /`` is JSON-RPC, answered by a lean handler (this path carries the order
flow); every other request goes to the FastAPI application (reads, relay data API,
page). The FastAPI lifespan opens the store, resumes unsettled slots from disk and
starts the slot clock.
"""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI

from mevauction.service import api
from mevauction.service.config import ServiceConfig
from mevauction.service.engine import Auctioneer
from mevauction.service.metrics import Metrics
from mevauction.service.onchain import ChainLink
from mevauction.service.preconf import PreconfDesk
from mevauction.service.ratelimit import RateLimiter
from mevauction.service.replay import ReplayGuard
from mevauction.service.rpc import JsonRpc
from mevauction.service.store import Store


class Service:
    """The running service: store, auctioneer, JSON-RPC, HTTP API."""

    def __init__(self, config: ServiceConfig):
        self.config = config
        self.metrics = Metrics()
        self.store: Store | None = None
        self.engine: Auctioneer | None = None
        self.rpc: JsonRpc | None = None
        self.http = FastAPI(title="mevauction", version="1", lifespan=self._lifespan)
        # With acceptors, this process listens here (127.0.0.1) and they face the clients.
        self.internal_url: str | None = None

    @asynccontextmanager
    async def _lifespan(self, _app: FastAPI):
        link = None
        if self.config.chain:  # started here, in the main thread: the node dies with this process
            link = ChainLink(self.config.chain, self.config.slot_seconds)
            self.config = replace(self.config, chain_id=link.start_node())
        self.store = Store(self.config.db)
        self.engine = engine = Auctioneer(self.config, self.store, self.metrics)
        self.engine.chain = link
        self.engine.load()
        desk = None
        if self.config.preconf_key:
            desk = PreconfDesk(self.config, lambda: engine.clock, self.store, self.metrics)
            desk.load()
            self.engine.preconf = desk
            self.engine.recover_preconf()
        self.rpc = JsonRpc(self.engine, self.metrics, self.config.max_body_bytes, self.config.body_timeout,
                           RateLimiter(self.config.rate_per_signer, self.config.burst_per_signer), desk,
                           slots=self.engine, replay=ReplayGuard(self.config.request_window))
        api.register(self.http, self.engine, self.store, self.metrics)
        self.rpc.chain = link
        self.engine.start()
        if desk is not None:
            desk.start()
        front = await self._start_acceptors(self.engine) if self.config.acceptors else None
        # Orders held in memory are long-lived: keep them out of the young generations'
        # collections, so a full collection does not stall intake every few thousand orders.
        gc.freeze()
        gc.set_threshold(100_000, 50, 1000)
        try:
            yield
        finally:
            if front is not None:
                await front.stop()
            if desk is not None:
                await desk.stop()
            await self.engine.stop()
            self.store.close()
            if link is not None:
                link.stop()

    async def _start_acceptors(self, engine: Auctioneer) -> Front:
        import multiprocessing
        import tempfile

        from mevauction.service.acceptors import OrderGate, run_acceptor

        if self.internal_url is None:
            raise RuntimeError("acceptors need the internal URL this process listens on")
        gate = OrderGate(engine)
        path = tempfile.mkdtemp(prefix="mevauction-gate-") + "/gate.sock"
        await gate.start(path)
        spawn = multiprocessing.get_context("spawn")
        processes = [spawn.Process(target=run_acceptor, args=(self.config, path, self.internal_url),
                                   name=f"acceptor-{i}", daemon=True) for i in range(self.config.acceptors)]
        for process in processes:
            process.start()
        return Front(gate, processes)

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/" and scope["method"] == "POST" and self.rpc is not None:
            await self.rpc(scope, receive, send)
        else:
            await self.http(scope, receive, send)


def create_app(config: ServiceConfig) -> Service:
    return Service(config)


class Front:
    """The running acceptor processes and the gate they hand orders through."""

    def __init__(self, gate, processes: list):
        self.gate = gate
        self.processes = processes

    async def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join(timeout=10)
        await self.gate.stop()
