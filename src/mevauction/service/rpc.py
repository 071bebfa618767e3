"""JSON-RPC 2.0 at ``POST /``: envelopes, authentication, limits, dispatch.

Error objects follow JSON-RPC 2.0 (-32700 parse error, -32600 invalid request,
-32601 method not found, -32602 invalid params) plus -32001 for a missing or bad
``X-Flashbots-Signature`` and -32005 for a signer over its rate limit. Every error
message starts with the field it is about. Bodies over the size limit get HTTP 413
with an error object; all other errors are HTTP 200 as JSON-RPC clients expect.
Order-taking methods authenticate first (cheap) and decode transactions after.
State-changing methods other than ``eth_sendBundle`` carry a signed ``timestamp`` and
pass the replay guard (:mod:`mevauction.service.replay`). A signer reads its own orders
with the signed ``flashbots_getBundleStatsV2`` and ``mev_getOrderStatus``; for anyone
else an order is as unknown as an id never sent (:mod:`mevauction.service.views`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any, Protocol

from mevauction.chain.rpc import NodeUnavailable
from mevauction.chain.rpc import RpcError as NodeRpcError
from mevauction.errors import InputError, require
from mevauction.eth import fields
from mevauction.eth.messages import verify_flashbots_header
from mevauction.service import intake, views
from mevauction.service.bounds import MAX_JSON_DEPTH, too_deep
from mevauction.service.clock import SlotClock
from mevauction.service.metrics import Metrics
from mevauction.service.onchain import NODE_READS
from mevauction.service.preconf import BidRecord as PreconfBidRecord
from mevauction.service.preconf import PreconfDesk
from mevauction.service.ratelimit import RateLimiter
from mevauction.service.records import OrderRecord
from mevauction.service.replay import ReplayGuard
from mevauction.service.store import StorageError

log = logging.getLogger("mevauction.service")

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL = -32700, -32600, -32601, -32602, -32603
UNAUTHORIZED, LIMITED, STORAGE = -32001, -32005, -32010
MAX_BATCH = 100
SIGNED_METHODS = ("eth_sendBundle", "eth_cancelBundle", "mev_sendOrder", "mev_sendBuilderBid", "mev_submitAlgorithm",
                  "mev_getAlgorithm",
                  *views.READ_METHODS)
# Signed with a timestamp and refused when stale or repeated (eth_sendBundle's replay is
# an idempotent acknowledgement instead).
TIMESTAMPED_METHODS = ("eth_cancelBundle", "mev_sendOrder", "mev_sendBuilderBid", "mev_submitAlgorithm")
OPEN_METHODS = ("eth_blockNumber", "eth_chainId", "mev_slot", "mev_getCommittee")
# Signed (as at Flashbots), answered from the chain's head state or the configured evm world.
SIMULATION_METHODS = ("eth_callBundle",)
SIMULATION_FAILED = -32000
# A public transaction authenticates itself (its signature names the sender).
RAW_TX = "eth_sendRawTransaction"
# Preconfirmation bids authenticate themselves (the bid is signed); X-Flashbots-Signature
# is optional and, when present, must name the same bidder (the engine's peer check).
PRECONF_METHODS = ("preconf_sendBid", "preconf_getBid", "preconf_getDeposit", "preconf_getParams",
                   "preconf_getSettlement")


class RpcError(Exception):
    def __init__(self, code: int, message: str):
        self.code = code
        self.message = message


def error_object(code: int, message: str, request_id: Any = None) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


class OrderSink(Protocol):
    """Where the RPC layer hands a verified order: the auctioneer itself
    (``engine.Auctioneer``) or, in an acceptor process, the gate to it
    (``acceptors.GateClient``). Orders are parsed against the sink's world."""

    @property
    def world(self) -> dict: ...

    @property
    def rules(self) -> intake.IntakeRules: ...

    async def submit(self, item: intake.Intake, signer: str) -> dict: ...


class SlotDesk(Protocol):
    """The rest of the auctioneer the RPC layer calls: the slot clock, the pending orders
    a new order may refer to, cancellations and builder bids. Only the auctioneer process
    has them; an acceptor relays every method that needs them (``acceptors.Relay``)."""

    @property
    def clock(self) -> SlotClock: ...

    def pending_orders(self, slot: int | None) -> list[dict]: ...

    async def cancel(self, uuid: str, signer: str, signed_ms: int) -> list[str]: ...

    async def builder_bid(self, bid: intake.BuilderBid, signer: str, signed_ms: int) -> dict: ...

    async def own_order(self, signer: str, order_id: str, slot: int | None) -> OrderRecord | None: ...

    async def submit_algorithm(self, params: object, signer: str) -> dict: ...

    def algorithm_status(self, signer: str) -> dict: ...

    def seed_commitment(self, slot: int) -> str: ...

    @property
    def sealed(self) -> bool: ...

    def committee_info(self, params: object) -> dict: ...


class JsonRpc:
    def __init__(self, sink: OrderSink, metrics: Metrics, max_body: int, body_timeout: float,
                 limiter: RateLimiter, desk: PreconfDesk | None = None, relay=None,
                 slots: SlotDesk | None = None, replay: ReplayGuard | None = None):
        self.sink = sink
        self.slots = slots
        self.replay = replay  # with ``slots``: the auctioneer process answers the guarded methods
        self.desk = desk
        # In an acceptor process: ``relay.local(doc)`` says which requests are answered
        # here (verified, then handed to the auctioneer); ``relay.forward`` passes the
        # rest to the auctioneer's own HTTP listener.
        self.relay = relay
        self.metrics = metrics
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.limiter = limiter
        self.chain: Any = None  # serve --chain: the node (service/onchain.py ChainLink) answers its reads
        self._simulation_lock = threading.Lock()  # eth_callBundle: one simulation (and state cache) at a time
        self._state_cache: Any = None

    async def __call__(self, scope: dict, receive, send) -> None:
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        try:
            status, payload = await self._handle(headers, receive)
        except Exception:  # a bug, not bad input: logged in full, answered without a traceback
            log.exception("internal error in JSON-RPC handler")
            status, payload = 500, self._error(INTERNAL, "server: internal error (logged)")
        if isinstance(payload, Streamed):
            await self._stream(payload, send)
            return
        if callable(payload):  # a response relayed from the auctioneer
            await payload(send)
            return
        body = json.dumps(payload, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe("mevauction_rpc_seconds", time.perf_counter() - started,
                             help="JSON-RPC request latency, body received to response")

    async def _handle(self, headers: dict, receive) -> tuple[int, Any]:
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            return 413, self._error(INVALID_REQUEST, f"body: exceeds {self.max_body} bytes")
        try:
            body = await asyncio.wait_for(self._read_body(receive), self.body_timeout)
        except TimeoutError:
            return 408, self._error(INVALID_REQUEST, f"body: not received within {self.body_timeout} s")
        except RpcError as exc:
            return 413, self._error(exc.code, exc.message)
        if body is None:
            return 400, self._error(INVALID_REQUEST, "body: client disconnected")
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return 200, self._error(PARSE_ERROR, f"body: not valid JSON ({str(exc).splitlines()[0][:120]})")
        if too_deep(body, doc):  # before anything else sees it (an acceptor's relay included)
            return 200, self._error(INVALID_REQUEST, f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        if self.relay is not None and not self.relay.local(doc):
            return 200, await self.relay.forward(headers, body)
        signature = headers.get(b"x-flashbots-signature")
        signature_text = signature.decode("latin-1") if signature is not None else None
        if isinstance(doc, list):
            if not doc or len(doc) > MAX_BATCH:
                return 200, self._error(INVALID_REQUEST, f"body: a batch holds 1..{MAX_BATCH} requests")
            results = await asyncio.gather(*(self._one(item, body, signature_text, b"#%d" % i)
                                             for i, item in enumerate(doc)))
            return 200, [r for r in results if r is not None] or self._error(
                INVALID_REQUEST, "body: batch of notifications"
            )
        result = await self._one(doc, body, signature_text, b"")
        if (self.desk is not None and b"text/event-stream" in headers.get(b"accept", b"")
                and doc.get("method") == "preconf_sendBid" and result is not None and "result" in result):
            record = self.desk.bids.get(result["result"]["bidDigest"] + result["result"]["bidSignature"])
            if record is not None:
                return 200, Streamed(result, record)
        return 200, result if result is not None else {"jsonrpc": "2.0", "id": None, "result": None}

    async def _stream(self, streamed: Streamed, send) -> None:
        """Server-sent events: the JSON-RPC response, then each later message about the bid
        as the provider signs it (a JSON-RPC notification), until the bid is decided."""
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-store")]})

        def event(name: str, data: Any) -> dict:
            text = json.dumps(data, separators=(",", ":"))
            return {"type": "http.response.body", "body": f"event: {name}\ndata: {text}\n\n".encode(),
                    "more_body": True}
        await send(event("result", streamed.response))
        record, desk = streamed.record, self.desk
        assert desk is not None, "a preconf stream exists only when the preconf desk does"
        already = len(streamed.response["result"]["messages"])
        async for message in desk.stream(record, desk.stream_timeout(record), skip=already):
            await send(event("message", {"jsonrpc": "2.0", "method": "preconf_subscription",
                                         "params": {"bidDigest": record.digest, "result": message}}))
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _read_body(self, receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise RpcError(INVALID_REQUEST, f"body: exceeds {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def _error(self, code: int, message: str, request_id: Any = None) -> dict:
        self.metrics.inc("mevauction_rpc_errors_total", help="JSON-RPC errors returned", code=str(code))
        return error_object(code, message, request_id)

    async def _one(self, req: Any, body: bytes, signature: str | None, place: bytes) -> dict | None:
        """One request; ``place`` tells it apart from the others in the same body (a batch)."""
        if not isinstance(req, dict):
            return self._error(INVALID_REQUEST, "request: must be an object")
        request_id = req.get("id")
        if not (request_id is None or (isinstance(request_id, (str, int)) and not isinstance(request_id, bool))):
            return self._error(INVALID_REQUEST, "id: must be a string, a number or null")
        if req.get("jsonrpc") != "2.0":
            return self._error(INVALID_REQUEST, "jsonrpc: must be \"2.0\"", request_id)
        method = req.get("method")
        if not isinstance(method, str):
            return self._error(INVALID_REQUEST, "method: must be a string", request_id)
        params = req.get("params", [])
        if not isinstance(params, (list, dict)):
            return self._error(INVALID_REQUEST, "params: must be an array or an object", request_id)
        try:
            result = await self._dispatch(method, params, body, signature, place)
        except RpcError as exc:
            return self._error(exc.code, exc.message, request_id)
        except InputError as exc:
            return self._error(INVALID_PARAMS, exc.one_line(), request_id)
        self.metrics.inc(
            "mevauction_rpc_requests_total", help="JSON-RPC requests answered with a result", method=method
        )
        if "id" not in req:
            return None  # a notification gets no response
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _slot_desk(self, method: str) -> SlotDesk:
        if self.slots is None:  # an acceptor's relay sends these methods on before dispatch
            raise RpcError(METHOD_NOT_FOUND, f"method: {method} is answered by the auctioneer process only")
        return self.slots

    async def _dispatch(self, method: str, params: Any, body: bytes, signature: str | None, place: bytes) -> Any:
        sink = self.sink
        if method in PRECONF_METHODS:
            return await self._preconf(method, params, body, signature)
        if method == "eth_chainId":
            return hex(sink.rules.chain_id)
        if method == "net_version" and self.chain is None:
            return str(sink.rules.chain_id)
        if self.chain is not None and method in NODE_READS:
            return await self._node_read(method, params)
        if method == RAW_TX:
            item, sender = intake.parse_raw_transaction(params, sink.rules)
            if not self.limiter.allow(sender):
                raise RpcError(LIMITED, f"params[0]: sender {sender} is over its rate limit")
            item.scenario_order = intake.bundle_scenario_order(item, [intake.decoded_raw(item)], sink.world)
            try:
                await sink.submit(item, sender)
            except StorageError as exc:
                raise RpcError(STORAGE, f"storage: not stored, retry ({exc})") from None
            if self.desk is not None:  # a hash-only commitment may name it
                self.desk.remember_public(item.id, item.params["txs"][0])
            return item.id
        if method == "eth_blockNumber" and self.chain is not None:  # the chain's head, as the node says
            return await self._node_read(method, params)
        if method in OPEN_METHODS:
            clock = self._slot_desk(method).clock
            current = clock.current()
            if method == "eth_blockNumber":
                return hex(current - 1)
            if method == "mev_getCommittee":
                return self._slot_desk(method).committee_info(params)
            return {"slot": hex(current), "deadline_ms": int(clock.deadline(current) * 1000),
                    "slot_seconds": clock.slot_seconds, "world": sink.world.get("kind"),
                    "seed_commitment": self._slot_desk(method).seed_commitment(current)}
        if method not in SIGNED_METHODS + SIMULATION_METHODS:
            raise RpcError(
                METHOD_NOT_FOUND,
                f"method: {method[:64]!r} is not supported "
                f"(supported: {', '.join(SIGNED_METHODS + SIMULATION_METHODS + OPEN_METHODS + PRECONF_METHODS)}, "
                f"{RAW_TX})",
            )
        try:
            signer = verify_flashbots_header(body, signature)
        except InputError as exc:
            raise RpcError(UNAUTHORIZED, exc.one_line()) from None
        if not self.limiter.allow(signer):
            self.metrics.inc("mevauction_rate_limited_total", help="Requests refused by the per-signer rate limit")
            raise RpcError(LIMITED, f"X-Flashbots-Signature: signer {signer} is over its rate limit "
                                    f"({self.limiter.rate:g} requests/s)")
        if method == "eth_callBundle":
            return await self._call_bundle(params)
        try:
            if method == "eth_sendBundle":  # the one method an acceptor answers itself
                item, txs = intake.parse_bundle(params, sink.rules)
                item.scenario_order = intake.bundle_scenario_order(item, txs, sink.world)
                return await sink.submit(item, signer)
            slots = self._slot_desk(method)
            if method in views.READ_METHODS:
                return await self._read(slots, method, params, signer)
            if method == "mev_getAlgorithm":  # the signer's own algorithm's status, never its code
                return slots.algorithm_status(signer)
            signed_ms = self._admit(method, params, signer, body + place)
            if method == "mev_sendOrder":
                order = intake.parse_order(params, sink.world, slots.pending_orders, sink.rules)
                return await sink.submit(order, signer)
            if method == "eth_cancelBundle":
                return await slots.cancel(intake.parse_cancel(params), signer, signed_ms)
            if method == "mev_submitAlgorithm":
                return await slots.submit_algorithm(params, signer)
            return await slots.builder_bid(intake.parse_builder_bid(params, sealed=slots.sealed), signer, signed_ms)
        except StorageError as exc:  # the order is NOT acknowledged
            raise RpcError(STORAGE, f"storage: not stored, retry ({exc})") from None

    async def _call_bundle(self, params: Any) -> dict:
        """eth_callBundle on the chain's head (``serve --chain``) or the configured evm world's state."""
        try:
            from mevauction.worlds.evm import callbundle, fork
        except ModuleNotFoundError as exc:
            raise RpcError(METHOD_NOT_FOUND, f"method: eth_callBundle needs the evm extra ({exc.name})") from None
        request = callbundle.parse_call_bundle(params)
        chain = self.chain  # serve --chain: the node

        def simulate() -> dict:
            with self._simulation_lock:
                if chain is not None:
                    if self._state_cache is None:
                        self._state_cache = fork.StateCache()
                    return fork.call_bundle_on_node(chain.client, request, self._state_cache)
                return callbundle.call_bundle_on_world(self.sink.world, request)

        try:
            return await asyncio.to_thread(simulate)
        except callbundle.BundleInvalid as exc:
            raise RpcError(SIMULATION_FAILED,
                           f"txs[{exc.index}]: {exc.tx_hash} cannot be included: {exc.reason}") from None
        except (NodeUnavailable, NodeRpcError) as exc:
            raise RpcError(SIMULATION_FAILED, f"chain: node unavailable for the simulation ({exc})") from None

    async def _node_read(self, method: str, params: Any) -> Any:
        """A read the chain answers: passed to the node as it is."""
        require(isinstance(params, list), "params", f"{method} takes an array")
        try:
            return await asyncio.to_thread(self.chain.client.call, method, *params)
        except NodeRpcError as exc:
            raise RpcError(exc.code or INVALID_PARAMS, f"node: {exc.message[:300]}") from None
        except NodeUnavailable as exc:
            raise RpcError(INTERNAL, f"chain: the node is unavailable ({str(exc)[:200]})") from None

    def _admit(self, method: str, params: Any, signer: str, request: bytes) -> int:
        """The request's signed timestamp (ms), once the replay guard has let it through;
        ``request`` is the signed body (and the request's place in it, for a batch)."""
        assert method in TIMESTAMPED_METHODS and self.replay is not None, "the auctioneer guards these methods"
        signed_ms = intake.parse_timestamp(params, method)
        self.replay.admit(signer, request, signed_ms)
        return signed_ms

    @staticmethod
    async def _read(slots: SlotDesk, method: str, params: Any, signer: str) -> dict:
        """The signer's own order, in the method's shape; another's is unknown to it."""
        query = views.parse_status_query(params, method)
        record = await slots.own_order(signer, query.order_id, query.slot)
        if record is None or (query.bundle and record.kind != "bundle"):
            raise views.unknown(query)
        return views.bundle_stats(record) if method == views.BUNDLE_STATS else views.own_order(record)

    async def _preconf(self, method: str, params: Any, body: bytes, signature: str | None) -> Any:
        """The preconfirmation bidder API (mev-commit's bidder ``SendBid`` and friends)."""
        desk = self.desk
        if desk is None:
            raise RpcError(METHOD_NOT_FOUND, f"method: {method} needs the preconfirmation provider "
                                             "(set preconf_key and preconf_contract)")
        if method == "preconf_getParams":
            return desk.signed_params.to_json()
        if method == "preconf_getDeposit":
            require(isinstance(params, list) and len(params) == 1, "params", f"{method} takes [address]")
            return desk.deposit(params[0])
        if method == "preconf_getBid":
            require(isinstance(params, list) and 1 <= len(params) <= 3 and isinstance(params[0], str),
                    "params", f"{method} takes [bidDigest, waitMs?, bidder?]")
            digest = fields.data(params[0], "params[0]", length=32, prefix=False).hex()
            bidder = fields.address(params[2], "params[2]") if len(params) == 3 else None
            record = await desk.lookup(digest, bidder)
            if record is None:
                raise InputError("params[0]", "no bid with this digest was received")
            wait_ms = intake.parse_quantity(params[1], "params[1]") if len(params) >= 2 else 0
            await desk.wait(record, min(wait_ms, 30_000) / 1000)
            return record.to_json()
        if method == "preconf_getSettlement":
            require(isinstance(params, list) and len(params) == 1, "params", f"{method} takes [blockNumber]")
            report = await desk.settlement(fields.uint(params[0], "params[0]", fields.UINT64_MAX))
            if report is None:
                raise InputError("params[0]", "this block's commitments are not settled (yet)")
            return report
        sb = desk.parse(params)
        known = desk.known(sb)
        if known is not None:  # the exact signed bid again: its record, never a new decision
            return known.to_json()
        peer = None
        if signature is not None:
            try:
                peer = verify_flashbots_header(body, signature)
            except InputError as exc:
                raise RpcError(UNAUTHORIZED, exc.one_line()) from None
        who = desk.bidder_of(sb, peer)  # a bad signature or an unfunded bidder: refused unsigned, unstored
        identity = peer or who  # the request's signer, else the bid's: whoever authenticated this request
        if not self.limiter.allow(identity):
            self.metrics.inc("mevauction_rate_limited_total", help="Requests refused by the per-signer rate limit")
            raise RpcError(LIMITED, f"params[0].signature: {identity} is over its rate limit "
                                    f"({self.limiter.rate:g} requests/s)")
        try:
            return (await desk.send_bid(sb, who)).to_json()
        except StorageError as exc:
            raise RpcError(STORAGE, f"storage: not stored, retry ({exc})") from None


class Streamed:
    """A JSON-RPC response to be sent as the first of a stream of server-sent events."""

    __slots__ = ("record", "response")

    def __init__(self, response: dict, record: PreconfBidRecord):
        self.response = response
        self.record = record
