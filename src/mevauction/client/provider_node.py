"""mevauction's engine deciding behind a mev-commit provider node (its decision API).

A mev-commit provider node verifies each bid (signature, bidder deposit), then hands it
to the provider's own decision software over gRPC — ``ReceiveBids`` streams the bids
out, ``SendProcessedBids`` streams back, per bid digest, ``STATUS_ACCEPTED`` with the
dispatch timestamp or ``STATUS_REJECTED`` — and signs the commitment itself. This
client is that decision software: it feeds each received bid to a
:class:`~mevauction.preconf.provider.ProviderEngine` (pre-verified: the node names the
bidder) and answers with the engine's decisions as they are made — at once in
continuous mode, at the published auction times and reject deadlines otherwise (a
ticker). The dispatch timestamp is the time the engine decided.

Block times: bids name L1 block numbers; ``block_time(n)`` maps them to Unix ms from an
anchor (a block number and its time) and the slot length.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator

import grpc

from mevauction.client import providerapi as api
from mevauction.errors import InputError
from mevauction.preconf import bidoptions
from mevauction.preconf.capacity import GAS_PER_TX
from mevauction.preconf.messages import Bid, Commitment, SignedBid
from mevauction.preconf.provider import Arrival, ProviderEngine, Refusal
from mevauction.preconf.rules import MAX_TXS

log = logging.getLogger("mevauction.preconf")


def bid_of(msg, chain_id: int, contract: str) -> SignedBid:
    """A node's ``providerapi.v1.Bid`` as the engine's bid (the node's digest; no signature:
    the node checked it and keeps it)."""
    if not 0 < len(msg.tx_hashes) <= MAX_TXS or len(msg.bid_digest) != 32:
        raise InputError("bid", "needs 1..64 tx_hashes and a 32-byte bid_digest")
    slash = msg.slash_amount or msg.bid_amount
    if not (msg.bid_amount.isascii() and msg.bid_amount.isdigit() and slash.isascii() and slash.isdigit()
            and len(msg.bid_amount) <= 78 and len(slash) <= 78):
        raise InputError("bid.bid_amount", "must be decimal digits")
    options = bidoptions.decode(msg.bid_options.SerializeToString()) if msg.HasField("bid_options") else ()
    bid = Bid(txn_hash=",".join(msg.tx_hashes), bid_amt=int(msg.bid_amount), block_number=msg.block_number,
              decay_start=msg.decay_start_timestamp, decay_end=msg.decay_end_timestamp,
              reverting_tx_hashes=",".join(msg.reverting_tx_hashes), slash_amt=int(slash),
              bid_options=bidoptions.encode(options))
    return SignedBid(bid, chain_id, contract, bytes(msg.bid_digest), b"")


class NodeDecider:
    """Connects to a provider node's gRPC address and decides its bids until stopped."""

    def __init__(self, target: str, engine: ProviderEngine, tick_seconds: float = 0.05,
                 clock: Callable[[], int] = lambda: int(time.time() * 1000)):
        self.target = target
        self.engine = engine
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.lock = threading.Lock()
        self.out: queue.SimpleQueue = queue.SimpleQueue()
        self.stopped = threading.Event()
        self.decided = 0

    def _answer(self, made: list) -> None:
        for m in made:
            digest = m.signed_bid.digest if isinstance(m, Commitment) else m.bid_digest
            accepted = isinstance(m, Commitment)
            self.out.put(api.BidResponse(bid_digest=digest,
                                         status=api.STATUS_ACCEPTED if accepted else api.STATUS_REJECTED,
                                         dispatch_timestamp=m.dispatch_timestamp if accepted else m.timestamp))
            self.decided += 1

    def _responses(self) -> Iterator:
        while not self.stopped.is_set():
            try:
                yield self.out.get(timeout=0.1)
            except queue.Empty:
                continue

    def _ticker(self) -> None:
        while not self.stopped.wait(self.tick_seconds):
            with self.lock:
                self._answer(self.engine.tick(self.clock()))

    def on_bid(self, msg) -> None:
        params = self.engine.params
        try:
            sb = bid_of(msg, params.chain_id, params.contract)
        except InputError as exc:
            log.warning("bid from the node refused: %s", exc.one_line())
            self.out.put(api.BidResponse(bid_digest=msg.bid_digest, status=api.STATUS_REJECTED,
                                         dispatch_timestamp=self.clock()))
            return
        arrival = Arrival(sb, self.engine.signer.address, GAS_PER_TX * len(msg.tx_hashes), self.clock(),
                          msg.bidder_address, verified=True)
        with self.lock:
            try:
                self._answer(self.engine.on_bid(arrival))
            except Refusal as refused:
                self.out.put(api.BidResponse(bid_digest=sb.digest, status=api.STATUS_REJECTED,
                                             dispatch_timestamp=arrival.received_at))
                log.info("bid %s refused: %s", sb.digest.hex()[:16], refused)

    def run(self) -> None:
        """Receive and decide until :meth:`stop` (or the node closes the stream)."""
        with grpc.insecure_channel(self.target) as channel:
            receive = channel.unary_stream(api.RECEIVE_BIDS, request_serializer=api.EmptyMessage.SerializeToString,
                                           response_deserializer=api.Bid.FromString)
            send = channel.stream_unary(api.SEND_PROCESSED_BIDS,
                                        request_serializer=api.BidResponse.SerializeToString,
                                        response_deserializer=api.EmptyMessage.FromString)
            sender = send.future(self._responses())
            ticker = threading.Thread(target=self._ticker, name="decider-ticks", daemon=True)
            ticker.start()
            bids = receive(api.EmptyMessage())
            self._bids = bids
            try:
                for msg in bids:
                    self.on_bid(msg)
            except grpc.RpcError as exc:
                if not self.stopped.is_set():
                    log.error("ReceiveBids ended: %s", exc)
            finally:
                self.stopped.set()
                ticker.join()
                sender.cancel()

    def stop(self) -> None:
        self.stopped.set()
        bids = getattr(self, "_bids", None)
        if bids is not None:
            bids.cancel()
