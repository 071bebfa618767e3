"""A committee server: one MPyC party plus an intake port for bidders and the coordinator.

Intake speaks JSON lines over TCP (TLS with the committee's certificates when the
server runs with ``--ssl``, the default of local committees), one request → one reply:

- ``info`` → index, parties, signer address, encryption public key, the default
  width's field modulus, the supported bid widths;
- ``open`` {auction, mechanism, max_bids, k, grid, bits, address_labels, caps, admit}
  → starts preprocessing at once (``bits``: the bid width l, bids in [0, 2^l); default
  64; ``caps``: builders' largest bids; ``admit``: the only header digests taken);
- ``bid`` {header, ciphertext} (the share message sealed to this server's encryption
  key, see ``envelope``) or {header, shares, nonce} (sent by the bidder over TLS) →
  accepted with a sequence number, or rejected with a reason (unknown/closed auction =
  late, bad signature, label not the signer's, reserve not from the auctioneer, envelope
  that does not open, share hash mismatch, duplicate); an accepted bid's reply carries
  this server's check values for it and its signature over them (the *receipt*);
- ``status`` {auction} → whether preprocessing is done;
- ``confirm`` {auction, digest, receipts} → every server's signed receipt of one bid,
  forwarded by its bidder; the servers hold each other to them at agreement;
- ``headers`` {auction} → after the close, the signed headers of the bids taken (public);
- ``close`` {auction} → the deadline: the committee computes, the reply is this server's
  signed statement (or an ``aborted`` statement);
- ``shutdown`` → all servers leave MPyC together and exit.

``open``, ``close`` and ``shutdown`` are control operations: each carries an ``auth``
field signed by the auctioneer's key, whose address the server pins at start
(``--control-key``), with a time within a minute and a nonce never seen before; any
other is refused. A reserve bid (``side="reserve"``) must be signed by that key too.

Auctions run one after another in the order opened, identically at every server (MPyC
parties must execute the same program). A lost peer aborts the running auction: the
server answers ``aborted`` with the reason and exits, since an MPyC session cannot
continue with a party missing; nothing of the outcome is published.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mevauction.privacy import envelope, messages
from mevauction.privacy.evaluation import Auction, Rejected, evaluate, parse_receipts, plan_material, stream
from mevauction.privacy.field import DEFAULT_BITS, WIDTHS
from mevauction.privacy.protocol import Engine

log = logging.getLogger("mevauction.committee")
T = TypeVar("T")


@dataclass
class ServerConfig:
    index: int
    parties: list[tuple[str, int]]
    intake_host: str
    intake_port: int
    timeout: float = 60.0
    ssl: bool = False
    tls_dir: str | None = None
    controller: str = ""  # address of the auctioneer's key: the only one that may open, close, stop
    key_file: str | None = None  # where this server keeps its encryption key, and beside it its
    # signing key (``<key_file>.signer``); None: fresh keys, in memory


CONTROL_OPS = ("open", "close", "shutdown")
MAX_RECEIPT_BUNDLES = 4  # per bid: its bidder's, and room for a few more (each checked only in a dispute)


class CommitteeServer:
    def __init__(self, config: ServerConfig, mpc: Any) -> None:  # mpc: MPyC's (untyped) runtime
        self.config = config
        self.mpc = mpc
        self.engines: dict[int, Engine] = {}  # bid width → its engine
        # The signing key is kept beside the encryption key, so the committee's published key
        # set (``LocalCommittee.key_set``) stays the one transcripts are checked against.
        self.key = (envelope.load_or_create_key(Path(config.key_file + ".signer")) if config.key_file
                    else messages.new_key())
        self.signer = messages.address(self.key)
        if config.key_file:
            Path(config.key_file + ".signer.address").write_text(self.signer + "\n")
        self.box_key = (envelope.load_or_create_key(Path(config.key_file)) if config.key_file
                        else messages.new_key())
        self.control = messages.ControlGate(config.controller)
        self.auctions: dict[str, Auction] = {}
        self.jobs: asyncio.Queue[Auction | None] = asyncio.Queue()  # None: shut down
        self.stopping = asyncio.Event()
        self.signers: list[str] | None = None  # every server's signing address, in server order

    def engine(self, bits: int) -> Engine:
        """The engine (field, preprocessed pools) of one bid width, made on first use.

        Making one consumes no shared randomness, so parties may make it at different
        moments; every pool of it is then filled and drawn in auction order, in step.
        """
        if bits not in self.engines:
            self.engines[bits] = Engine(self.mpc, bits)
        return self.engines[bits]

    # -- intake -------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            # A client that hangs up mid-conversation ends only its own connection.
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                while line := await reader.readline():
                    try:
                        request = json.loads(line)
                        reply = await self.dispatch(request)
                    except (ValueError, KeyError, TypeError) as exc:
                        reply = {"ok": False, "reason": f"malformed request: {exc}"}
                    writer.write(json.dumps(reply).encode() + b"\n")
                    await writer.drain()
        finally:
            writer.close()

    async def dispatch(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op in CONTROL_OPS and (refusal := self.control.refusal(req)) is not None:
            log.warning("refused an unauthenticated %s request", op)
            return {"ok": False, "reason": refusal}
        if op == "info":
            return {"ok": True, "index": self.config.index, "parties": len(self.mpc.parties),
                    "threshold": self.mpc.threshold, "signer": self.signer,
                    "encryption_key": envelope.public_key(self.box_key), "controller": self.config.controller,
                    "tls": bool(self.mpc.options.ssl),
                    "tls_peers": all(p.protocol is None or p.protocol.transport.get_extra_info("ssl_object") is not None
                                     for p in self.mpc.parties if p.pid != self.mpc.pid),
                    "modulus": str(self.engine(DEFAULT_BITS).p), "widths": list(WIDTHS)}
        if op == "open":
            return self.open_auction(req)
        if op == "bid":
            return self.accept_bid(req)
        if op == "confirm":
            return self.confirm(req)
        auction = self.auctions.get(str(req.get("auction")))
        if op == "status":
            if auction is None:
                return {"ok": False, "reason": "unknown auction"}
            aborted = auction.result.done() and auction.result.result().get("status") == "aborted"
            return {"ok": True, "ready": auction.ready.is_set(), "aborted": aborted,
                    "preprocess_s": auction.preprocess_s}
        if op == "headers":  # public commitments, once the auction is decided (bidder-side submissions)
            if auction is None or not auction.result.done():
                return {"ok": False, "reason": "unknown auction, or not closed yet"}
            return {"ok": True, "headers": [b.header.to_json() for b in auction.bids]}
        if op == "close":
            if auction is None:
                return {"ok": False, "reason": "unknown auction"}
            auction.close()
            return await asyncio.shield(auction.result)
        if op == "shutdown":
            await self.jobs.put(None)
            return {"ok": True}
        return {"ok": False, "reason": f"unknown op {op!r}"}

    def open_auction(self, req: dict[str, Any]) -> dict[str, Any]:
        auction_id = str(req["auction"])
        if auction_id in self.auctions:
            return {"ok": False, "reason": "auction id already used"}
        a = Auction.from_request(req, parties=len(self.mpc.parties), index=self.config.index,
                                 controller=self.config.controller)
        a.signers = self.signers or []
        a.opened_cpu = time.process_time()
        self.auctions[auction_id] = a
        self.jobs.put_nowait(a)
        return {"ok": True}

    def accept_bid(self, req: dict[str, Any]) -> dict[str, Any]:
        header = messages.BidHeader.from_json(req.get("header") or {})
        a = self.auctions.get(header.auction)
        try:
            if a is None:
                raise Rejected("unknown auction")
            shares, nonce = self.share_message(header, req)
            seq = a.accept(header, shares, nonce, self.engine(a.bits))
        except Rejected as exc:
            return {"ok": False, "reason": str(exc)}
        published = a.bids[seq].published
        receipt = messages.sign(messages.receipt_digest(a.id, a.bids[seq].digest, self.config.index, published),
                                self.key)
        return {"ok": True, "seq": seq, "published": [str(v) for v in published], "receipt": receipt}

    def confirm(self, req: dict[str, Any]) -> dict[str, Any]:
        """A bid's receipts from every server, forwarded by its bidder (checked at agreement)."""
        a = self.auctions.get(str(req.get("auction")))
        digest = str(req.get("digest", "")).lower()
        receipts = req.get("receipts")
        if a is None or a.closed.is_set():
            return {"ok": False, "reason": "unknown or closed auction"}
        if not a.has_bid(digest):
            return {"ok": False, "reason": "not a bid this server accepted"}
        if not isinstance(receipts, list) or len(receipts) != len(self.mpc.parties):
            return {"ok": False, "reason": f"expected {len(self.mpc.parties)} receipts"}
        bundles = a.receipts.setdefault(digest, [])
        if len(bundles) >= MAX_RECEIPT_BUNDLES:  # anyone may confirm: a bid's list stays short
            return {"ok": False, "reason": "too many receipt bundles for this bid"}
        bundles.append(parse_receipts(receipts))
        return {"ok": True}

    def share_message(self, header: messages.BidHeader, req: dict[str, Any]) -> tuple[object, object]:
        """(shares, nonce) of a bid: opened from its envelope, or as sent over TLS."""
        if "ciphertext" not in req:
            return req.get("shares"), req.get("nonce")
        context = header.digest() + bytes([self.config.index])
        try:
            message = json.loads(envelope.decrypt(self.box_key, req["ciphertext"], context))
        except (envelope.EnvelopeError, ValueError):
            raise Rejected("the sealed share message does not open with this server's key "
                           "(altered, or sealed for another bid or server)") from None
        if not isinstance(message, dict):
            raise Rejected("the sealed share message is not an object")
        return message.get("shares"), message.get("nonce")

    # -- the MPC side -------------------------------------------------------------

    def bytes_sent(self) -> int:
        return sum(p.protocol.nbytes_sent for p in self.mpc.parties
                   if p.pid != self.mpc.pid and p.protocol is not None)

    def peer_lost(self) -> int | None:
        for p in self.mpc.parties:
            if p.pid == self.mpc.pid:
                continue
            if p.protocol is None or p.protocol.transport is None or p.protocol.transport.is_closing():
                return p.pid
        return None

    async def guarded(self, coro: Awaitable[T]) -> T:
        """Run ``coro``; abort on a lost peer or after the timeout (never a partial result)."""
        task = asyncio.ensure_future(coro)
        deadline = time.monotonic() + self.config.timeout
        while not task.done():
            lost = self.peer_lost()
            if lost is not None or time.monotonic() > deadline:
                task.cancel()
                raise ConnectionAbortedError(f"lost connection to server {lost}" if lost is not None
                                             else f"timed out after {self.config.timeout:g} s")
            await asyncio.wait([task], timeout=0.02)
        return task.result()

    async def run_auction(self, a: Auction) -> None:
        e = self.engine(a.bits)
        t0 = time.perf_counter()
        if self.signers is None:  # over the authenticated server links: whose receipts count
            self.signers = [str(v) for v in await self.guarded(e.exchange(self.signer))]
        a.signers = self.signers
        comparisons, masks = plan_material(a)
        await self.guarded(e.fill_digits(comparisons - e.digits.available))
        await self.guarded(e.verify())  # the material is checked before any bid touches it
        e.fill_masks(masks - e.randoms.available)
        await self.guarded(e.settle())  # the signers' exchange is checked before any bid is taken
        # Millions of preprocessed shares: collect once now and freeze them out of the
        # cyclic collector, so no full collection walks them after the deadline.
        gc.collect()
        gc.freeze()
        a.preprocess_s = time.perf_counter() - t0
        a.ready.set()
        refills0 = e.online_refills
        bytes0, t1, cpu1 = self.bytes_sent(), time.perf_counter(), time.process_time()
        if a.mechanism == "stream":  # folds bids in as they arrive, opens at close
            result = await self.guarded(stream(e, a))
        else:
            await a.closed.wait()
            bytes0, t1, cpu1 = self.bytes_sent(), time.perf_counter(), time.process_time()
            result = await self.guarded(evaluate(e, a))
        # This process's CPU time (load-independent): open → close is bid intake + preprocessing.
        timing = {"preprocess_s": a.preprocess_s, "online_s": time.perf_counter() - t1,
                  "open_to_close_cpu_s": cpu1 - a.opened_cpu, "online_cpu_s": time.process_time() - cpu1,
                  "online_refilled_comparisons": e.online_refills - refills0, **result["timing"]}
        self.publish(a, {"status": "ok", **result, "timing": timing, "bytes_sent": self.bytes_sent() - bytes0})

    def publish(self, a: Auction, body: dict[str, Any]) -> None:
        statement = {"format": "mevauction.statement/1", "auction": a.id, "mechanism": a.mechanism,
                     "server": self.config.index, "signer": self.signer, **body}
        statement["signature"] = messages.sign(messages.statement_digest(statement), self.key)
        if not a.result.done():
            a.result.set_result(statement)

    async def main(self) -> int:
        await self.mpc.start()
        tls = None
        if self.config.ssl and self.config.tls_dir:
            from mevauction.privacy.tls import server_context

            tls = server_context(self.config.tls_dir, self.config.index)
        server = await asyncio.start_server(self.handle, self.config.intake_host, self.config.intake_port, ssl=tls)
        log.info("committee server %d ready on %s:%d", self.config.index,
                 self.config.intake_host, self.config.intake_port)
        status = 0
        try:
            while (job := await self.jobs.get()) is not None:
                try:
                    await self.run_auction(job)
                except Exception as exc:  # any failure aborts the auction, never a partial result
                    reason = str(exc) if isinstance(exc, ConnectionAbortedError) else f"internal error: {exc!r}"
                    log.exception("auction %s aborted", job.id)
                    self.publish(job, {"status": "aborted", "reason": reason})
                    # Aborted before the deadline (preprocessing): stay for the close, whose
                    # reply is the aborted statement, rather than leave it "unreachable".
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(job.closed.wait(), self.config.timeout)
                    await asyncio.sleep(0.2)  # let the reply reach the coordinator
                    status = 3
                    break
            else:
                await self.mpc.shutdown()
        finally:
            for a in self.auctions.values():
                if not a.result.done():
                    self.publish(a, {"status": "aborted", "reason": "server stopping"})
            server.close()
        return status


def serve(config: ServerConfig) -> int:
    """Start MPyC as party ``config.index`` and serve until shutdown or abort."""
    argv = [sys.argv[0]]
    for host, port in config.parties:
        argv += ["-P", f"{host}:{port}"]
    argv += ["-I", str(config.index), "--no-log"]
    if config.ssl:
        argv.append("--ssl")
    sys.argv = argv
    if config.tls_dir:
        os.chdir(config.tls_dir)  # MPyC looks for .config/ in the working directory
    from mpyc.runtime import mpc  # reads sys.argv once, at import

    server = CommitteeServer(config, mpc)
    try:
        return mpc.run(server.main())
    except ConnectionError as exc:
        print(f"committee server {config.index}: {exc}", file=sys.stderr)
        return 3
