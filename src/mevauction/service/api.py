"""HTTP reads: reports, orders, live state, relay data API, metrics, health, the page.

Order flow is private while a slot is open: the live view, the page and the metrics
show counts only (no ids, signers, transactions, bids or conflict structure), and
``/v1/orders/{id}`` knows only orders a settled block included (see
:mod:`mevauction.service.views`; a signer reads its own orders with signed JSON-RPC).
Sealed builder bids never appear here before their slot has settled; the live view
shows only how many builders have submitted. After settlement a report is shown through
``views.public_report``: no losing bid, in any view.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from mevauction.errors import InputError
from mevauction.service import dao, deliveries, relay, views
from mevauction.service.engine import Auctioneer
from mevauction.service.metrics import Metrics
from mevauction.service.store import Store

STATIC = Path(__file__).parent / "static"
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


def register(app: FastAPI, engine: Auctioneer, store: Store, metrics: Metrics) -> None:
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
        if engine.committee is not None:  # --sealed: up or not; never its ports or process ids
            body["committee"] = {"alive": engine.committee.alive(), "restarts": engine.committee.restarts}
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
        doc = amounts_as_text(views.public_report(report))
        if engine.chain is not None:  # the block mined for it, and the transactions by order
            record, fee = await store.read(lambda db: (deliveries.of_slot(db, int(slot)),
                                                       deliveries.fee_recipient(db, int(slot))))
            # the block's preconfirmations as settled by the oracle rule (once mined)
            outcomes, ledger = await store.read(lambda db: (dao.preconf_outcomes_of(db, int(slot)),
                                                            dao.preconf_ledger_of(db, int(slot))))
            if outcomes:
                doc["preconf_settlement"] = {"commitments": outcomes, "ledger": ledger}
            return JSONResponse({**doc, "slot": int(slot), "fee_recipient": fee,
                                 "delivery": None if record is None else record.to_json(),
                                 "chain_failures": await store.read(lambda db: deliveries.failures(db, int(slot)))})
        return JSONResponse(doc)

    @app.get("/v1/slots")
    async def slot_history(limit: str = "50") -> JSONResponse:
        if not limit.isdigit() or not 0 < int(limit) <= 500:
            return problem(400, "limit", "must be 1..500")
        history = await store.read(lambda db: dao.slot_history(db, int(limit)))
        rows = [{"slot": s.slot, "winner": s.winner, "proposer": str(s.value), "refunds": str(s.refunds),
                 "num_tx": s.num_tx, "block_hash": s.block_hash, "settled_ms": s.settled_ms} for s in history]
        if engine.chain is not None and rows:  # each slot's block on the chain: number, hash, verification
            found = await store.read(lambda db: deliveries.recent(db, int(limit)))
            by_slot = {d.slot: d for d in found}
            for r in rows:
                d = by_slot.get(r["slot"])
                r["delivery"] = None if d is None else {
                    "status": d.status, "number": d.block_number, "hash": d.block_hash, "reason": d.reason,
                    "verified": None if d.verification is None else bool(d.verification.get("ok"))}
        return JSONResponse(rows)

    @app.get("/v1/orders/{order_id}")
    async def order_status(order_id: str, slot: str | None = None) -> JSONResponse:
        """An order a settled block included (the earliest, or ``slot``'s); 404 for every
        other id, pending or excluded or never sent alike."""
        if len(order_id) > views.MAX_ID:
            return problem(400, "order", "id too long")
        if slot is not None and (not slot.isdigit() or len(slot) > 18):
            return problem(400, "slot", "must be a non-negative integer")
        found = await store.read(lambda db: dao.included_order(db, order_id, None if slot is None else int(slot)))
        if found is None:
            return problem(404, "order", "no included order with this id (pending and excluded orders are "
                                         "their signers' to read: mev_getOrderStatus)")
        return JSONResponse(views.included_order(found))

    @app.get("/v1/live")
    async def live_state() -> JSONResponse:
        """The open slot in aggregate: how many orders (by kind and status) and sealed bids."""
        current = engine.clock.current()
        state = engine.slots.get(current)
        entries = list(state.orders.values()) if state else []
        return JSONResponse({
            "slot": current, "now_ms": int(time.time() * 1000),
            "deadline_ms": int(engine.clock.deadline(current) * 1000),
            "slot_seconds": engine.clock.slot_seconds, "world": engine.world.get("kind"),
            "order_count": len(entries),
            "by_kind": dict(Counter(e.kind for e in entries)),
            "by_status": dict(Counter(e.status for e in entries)),
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


