"""HTTP reads: reports, orders, live state, relay data API, metrics, health, the page.

Sealed builder bids never appear here before their slot has settled; the live view
shows only how many builders have submitted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from mevauction.building.conflicts import conflict_groups
from mevauction.errors import InputError
from mevauction.service import dao, relay
from mevauction.service.engine import Auctioneer
from mevauction.service.metrics import Metrics
from mevauction.service.settle import build_scenario
from mevauction.service.store import Store
from mevauction.worlds import build_world

STATIC = Path(__file__).parent / "static"
LIVE_GROUPS_EVERY = 1.0  # seconds between recomputations of the live conflict groups
# The keys of a report (mevauction.report/1) whose values are amounts in wei.
AMOUNT_KEYS = frozenset({"value", "bid", "refund", "paid", "price", "proposer", "amount"})


def amounts_as_text(doc: Any) -> Any:
    """``doc`` with every amount in wei (a number under one of ``AMOUNT_KEYS``) as a decimal
    string: JSON numbers above 2**53 lose digits in most clients, JavaScript's included."""
    if isinstance(doc, list):
        return [amounts_as_text(v) for v in doc]
    if not isinstance(doc, dict):
        return doc
    return {k: str(v) if k in AMOUNT_KEYS and isinstance(v, int) and not isinstance(v, bool)
            else amounts_as_text(v) for k, v in doc.items()}


def problem(status: int, field: str, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "message": f"{field}: {message}"}, status_code=status)


class LiveView:
    """Conflict groups of the open slot, recomputed at most once a second (off the loop)."""

    def __init__(self, engine: Auctioneer, store: Store):
        self.engine = engine
        self.store = store
        self.key: tuple = ()
        self.groups: list[list[str]] = []
        self.computed = 0.0

    async def groups_for(self, slot: int, orders: list[dict]) -> list[list[str]]:
        key = (slot, len(orders), orders[-1]["id"] if orders else None)
        if key != self.key and time.monotonic() - self.computed >= LIVE_GROUPS_EVERY:
            scenario = build_scenario(self.engine.world, orders, {}, self.engine.config.block_gas_limit)
            self.groups = await self.store.read(lambda _db: _groups(scenario)) if orders else []
            self.key, self.computed = key, time.monotonic()
        return self.groups


def _groups(scenario: dict) -> list[list[str]]:
    try:
        world = build_world(scenario)
    except InputError:
        return []
    return conflict_groups(list(world.orders), world.conflict_access)


def register(app: FastAPI, engine: Auctioneer, store: Store, metrics: Metrics) -> None:
    live = LiveView(engine, store)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        try:
            await store.read(dao.ping)
        except Exception as exc:  # the database is unreachable: unhealthy, say why
            return JSONResponse({"status": "unhealthy", "db": str(exc).splitlines()[0]}, status_code=503)
        # Degraded (still HTTP 200: orders are still taken) while a write or a settlement
        # failed recently; the counts say what failed (service/health.py).
        body = {"status": "degraded" if engine.health.degraded() else "ok", "slot": engine.clock.current(),
                "world": engine.world.get("kind"), "failures": engine.health.to_json()}
        if engine.committee is not None:  # --sealed: the committee's processes, for operators
            committee = engine.committee
            body["committee"] = {"alive": committee.alive(), "pids": committee.pids(),
                                 "intake": [f"{h}:{p}" for h, p in committee.intake()],
                                 "restarts": committee.restarts}
        return JSONResponse(body)

    @app.get("/metrics")
    async def metrics_text() -> PlainTextResponse:
        metrics.set("mevauction_pending_orders", sum(
            1 for s in engine.slots.values() for e in s.orders.values() if e.status == "pending"),
            help="Orders stored and waiting for their slot's auction")
        metrics.set("mevauction_db_commits", store.commits, help="Group commits made by the writer")
        metrics.set("mevauction_db_writes", store.written, help="Writes made durable by the writer")
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/slots/{slot}")
    async def slot_report(slot: str) -> JSONResponse:
        if not slot.isdigit() or len(slot) > 18:
            return problem(400, "slot", f"must be a non-negative integer, got {slot[:40]!r}")
        report = await store.read(lambda db: dao.slot_report(db, int(slot)))
        if report is None:
            n, current = int(slot), engine.clock.current()
            state = "open" if n >= current else ("settling" if n in engine.slots else "empty or unknown")
            return problem(404, "slot", f"no report for slot {n} (it is {state}; open slot is {current})")
        return JSONResponse(amounts_as_text(report))

    @app.get("/v1/slots")
    async def slot_history(limit: str = "50") -> JSONResponse:
        if not limit.isdigit() or not 0 < int(limit) <= 500:
            return problem(400, "limit", "must be 1..500")
        history = await store.read(lambda db: dao.slot_history(db, int(limit)))
        return JSONResponse([{"slot": s.slot, "winner": s.winner, "proposer": str(s.value), "refunds": str(s.refunds),
                              "num_tx": s.num_tx, "block_hash": s.block_hash, "settled_ms": s.settled_ms}
                             for s in history])

    @app.get("/v1/orders/{order_id}")
    async def order_status(order_id: str) -> JSONResponse:
        if len(order_id) > 120:
            return problem(400, "order", "id too long")
        order = await store.read(lambda db: dao.latest_order(db, order_id))
        if order is None:
            return problem(404, "order", f"no order {order_id[:80]!r}")
        out: dict[str, Any] = {"slot": order.slot, "id": order.id, "kind": order.kind, "signer": order.signer,
                               "replacementUuid": order.replacement_uuid, "params": order.params,
                               "received_ms": order.received_ms, "status": order.status, "note": order.note}
        if order.status in ("included", "excluded"):
            out["payment"], out["refund"] = str(order.payment), str(order.refund)
        return JSONResponse(out)

    @app.get("/v1/live")
    async def live_state() -> JSONResponse:
        current = engine.clock.current()
        state = engine.slots.get(current)
        entries = sorted(state.orders.values(), key=lambda e: e.seq) if state else []
        pending = [e.scenario_order for e in entries if e.status == "pending"]
        groups = await live.groups_for(current, pending)
        return JSONResponse({
            "slot": current, "now_ms": int(time.time() * 1000),
            "deadline_ms": int(engine.clock.deadline(current) * 1000),
            "slot_seconds": engine.clock.slot_seconds, "world": engine.world.get("kind"),
            "orders": [{"id": e.id, "kind": e.kind, "signer": e.signer, "status": e.status,
                        "received_ms": e.received_ms, "txs": len(e.scenario_order.get("txs", [e.id]))}
                       for e in entries[-200:]],
            "order_count": len(entries),
            "groups": [g for g in groups if len(g) > 1][:50],
            "conflict_free": sum(1 for g in groups if len(g) == 1),
            "builders_sealed": len(state.builders) if state else 0,
            "last_settled": engine.last_settled,
        })

    async def relay_route(request: Request, fn) -> JSONResponse:
        query = dict(request.query_params)
        try:
            return JSONResponse(await store.read(lambda db: fn(db, query)))
        except InputError as exc:
            return problem(400, exc.field, exc.message)

    @app.get("/relay/v1/data/bidtraces/proposer_payload_delivered")
    async def payload_delivered(request: Request) -> JSONResponse:
        return await relay_route(request, relay.payload_delivered)

    @app.get("/relay/v1/data/bidtraces/builder_blocks_received")
    async def blocks_received(request: Request) -> JSONResponse:
        return await relay_route(request, relay.builder_blocks_received)


