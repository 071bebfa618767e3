"""The service's preconfirmation provider: the bidder API over the provider engine.

The service sells preconfirmations for its own blocks (block number = slot) with
:class:`mevauction.preconf.provider.ProviderEngine` — mev-commit's provider node
``handleBid`` flow: a bid in mev-commit's field layout, signed by the bidder, is
admitted (addressee, chain, fields, signature, replay, deposit) or answered with a
signed reject; admitted bids are auctioned (continuous or at the published times) and
each is decided by a signed commitment or a signed ``not-selected`` reject by its
reject deadline.

What the service adds (issue 4 § 1, issue 11 § 7):

- the provider's key, NIKE key, chain, contract, capacity, reserve and the bidders'
  deposits (a snapshot standing in for mev-commit's BidderRegistry) come from config;
- a bid and every message the engine makes about it are stored durably before the
  bidder hears of them (acknowledged only after the commit, like orders);
- a bid whose digest was already received is refused without a new signature — a
  fresh reject for a committed bid would be equivocation evidence against the service;
- what no bidder can be held to is refused with a JSON-RPC error, unsigned and not
  stored (as mev-commit's provider returns an error for these): a bid whose signature
  does not verify (or names another bidder than the request's X-Flashbots-Signature),
  a bid from an address with no deposit with this provider, a bid for a block whose
  last auction has passed. So anyone can make the service sign and store only bids
  from funded keys, rate-limited per bidder;
- per-block state is dropped from memory ``PRUNE_AFTER_MS`` after the block's time
  (bids, messages, listeners, the engine's book); a pruned bid is read from the
  database;
- decisions are pushed to the bidder as they are made (server-sent events on the
  JSON-RPC request, or a long poll with ``preconf_getBid``);
- on restart, the stored bids are replayed through a fresh engine in arrival order,
  which rebuilds the pools, escrows and replay set (signatures are deterministic).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from mevauction.errors import InputError, require
from mevauction.eth.keccak import keccak
from mevauction.preconf.deposits import DepositLedger
from mevauction.preconf.evidence import Reject
from mevauction.preconf.keys import Signer
from mevauction.preconf.messages import Commitment, SignedBid, tx_hash_list
from mevauction.preconf.nike import GROUP_R
from mevauction.preconf.params import AuctionParameters, SignedParameters
from mevauction.preconf.policy import ReservePolicy
from mevauction.preconf.provider import Arrival, ProviderEngine
from mevauction.service import dao
from mevauction.service.clock import SlotClock
from mevauction.service.config import (
    ServiceConfig,
    check_preconf,
    checksummed,
    preconf_deposits,
    preconf_nike_secret,
    preconf_schedule,
    preconf_signing_key,
)
from mevauction.service.engine import cancel_and_wait
from mevauction.service.metrics import Metrics
from mevauction.service.records import PreconfBidRecord, PreconfMessageRecord
from mevauction.service.store import Db, Store

log = logging.getLogger("mevauction.service")

GAS_PER_TX = 21_000  # the provider's gas estimate per named transaction (bids carry no gas)
TICK_SECONDS = 0.05
# A block's state leaves memory this long after the block's time: its last auction ran
# ``preconf_final_ms`` before, and its streams end 2 s after (stream_timeout).
PRUNE_AFTER_MS = 5_000


@dataclass(slots=True)
class BidRecord:
    """One received bid: the stored bid and every message the provider signed about it."""

    bid: PreconfBidRecord
    messages: list[dict] = field(default_factory=list)
    listeners: list[asyncio.Queue] = field(default_factory=list)

    @property
    def status(self) -> str:
        kinds = {m["kind"] for m in self.messages}
        return "committed" if "commitment" in kinds else "rejected" if "reject" in kinds else "pending"

    @property
    def digest(self) -> str:
        return self.bid.digest

    def to_json(self) -> dict:
        return {"bidDigest": self.bid.digest, "bidder": self.bid.bidder, "blockNumber": self.bid.block_number,
                "status": self.status, "receivedMs": self.bid.received_ms, "messages": list(self.messages)}


def message_json(message: Commitment | Reject) -> dict:
    if isinstance(message, Commitment):
        return {"kind": "commitment", **message.to_json()}
    return {"kind": "reject", **message.to_json()}


def message_bid_digest(message: Commitment | Reject) -> str:
    return (message.signed_bid.digest if isinstance(message, Commitment) else message.bid_digest).hex()


def nike_secret_from(config: ServiceConfig, key: bytes) -> int:
    """The provider's BN254 NIKE secret: configured, or derived from its signing key."""
    secret = preconf_nike_secret(config)
    if secret is None:
        secret = int.from_bytes(keccak(b"mevauction preconf nike key" + key), "big") % GROUP_R
        require(secret != 0, "preconf_nike_key", "must not be zero modulo the group order")
    return secret


def provider_from_config(config: ServiceConfig) -> tuple[Signer, int, AuctionParameters]:
    """Signing key, NIKE secret and published parameters from the ``preconf_*`` settings."""
    check_preconf(config)  # a config made in code, not by load_config, fails here naming the field
    key = preconf_signing_key(config)
    signer = Signer(key)
    params = AuctionParameters(
        provider=signer.address, chain_id=config.preconf_chain_id, contract=config.preconf_contract,
        schedule=preconf_schedule(config), reserve=ReservePolicy("fixed", config.preconf_reserve_per_gas),
        reject_within_ms=config.preconf_reject_within_ms, mode=config.preconf_mode)
    return signer, nike_secret_from(config, key), params


class PreconfDesk:
    """The provider run by the service: admission, durable decisions, streams to bidders."""

    def __init__(self, config: ServiceConfig, clock: SlotClock, store: Store, metrics: Metrics):
        self.store = store
        self.metrics = metrics
        self.clock = clock
        signer, nike_secret, params = provider_from_config(config)
        self.signer = signer
        self.signed_params: SignedParameters = params.sign(signer)
        self.ledger = DepositLedger()
        for bidder, amount in preconf_deposits(config).items():
            self.ledger.deposit(bidder, signer.address, amount)
        self.engine = ProviderEngine(signer, nike_secret, params, self.ledger, self.block_time_ms, history=False)
        self.bids: dict[str, BidRecord] = {}  # digest → received bid, for blocks not yet pruned
        self.by_block: dict[int, list[str]] = {}  # block number → digests in self.bids
        self.seq = 0
        self._task: asyncio.Task | None = None

    def block_time_ms(self, block_number: int) -> int:
        """Blocks are slots; a block is due at its slot's intake deadline."""
        return int(self.clock.deadline(block_number) * 1000)

    # -- recovery ---------------------------------------------------------------------
    def load(self) -> None:
        """Rebuild the engine from the stored bids and messages.

        Events are replayed in time order: an auction at each stored message's time (the
        commitment's dispatch time, the reject's time), and each bid at its arrival; so
        the pools, escrows, sold gas and replay set are as they were, and no round that
        already signed something is run — and signed — again.
        """
        def read(db: Db) -> tuple[list[PreconfBidRecord], list[PreconfMessageRecord]]:
            return dao.preconf_bids_in_order(db), dao.preconf_messages_in_order(db)
        bids, messages = self.store.read_now(read)
        stored: dict[str, list[dict]] = {}
        events: list[tuple[int, int, PreconfBidRecord | None]] = []
        for m in messages:
            stored.setdefault(m.digest, []).append(m.message)
            made_at = m.message.get("dispatchTimestamp", m.message.get("rejectTimeStamp"))
            events.append((int(made_at), 0, None))
        for bid in bids:
            self.seq = max(self.seq, bid.seq)
            events.append((bid.received_ms, bid.seq, bid))
        for at, _, stored_bid in sorted(events, key=lambda e: (e[0], e[1])):
            self.engine.tick(at)
            self.prune(at)
            if stored_bid is None:
                continue
            doc = stored_bid.signed_bid
            sb = SignedBid.from_json(doc, self.engine.params.chain_id, self.engine.params.contract)
            made = self.engine.on_bid(self._arrival(sb, stored_bid.received_ms, None))
            # Rows with a bad signature were stored by earlier versions: not bids of anyone.
            if not (made and isinstance(made[0], Reject) and made[0].reason == "bad-signature"):
                self._keep(BidRecord(stored_bid, stored.get(stored_bid.digest, [])))
        self.prune(int(time.time() * 1000))

    def _keep(self, record: BidRecord) -> None:
        self.bids[record.digest] = record
        self.by_block.setdefault(record.bid.block_number, []).append(record.digest)

    def prune(self, now: int) -> None:
        """Drop from memory every block ``PRUNE_AFTER_MS`` past its time (its rows stay)."""
        past = [b for b in self.by_block if self.block_time_ms(b) + PRUNE_AFTER_MS <= now]
        for block_number in past:
            for digest in self.by_block.pop(block_number):
                del self.bids[digest]
        horizon = min((b for b in self.engine.books if self.block_time_ms(b) + PRUNE_AFTER_MS > now), default=None)
        self.engine.prune(horizon if horizon is not None else max(self.engine.books, default=-1) + 1)

    async def lookup(self, digest: str) -> BidRecord | None:
        """The received bid with this digest (hex): in memory, or stored if its block was pruned."""
        record = self.bids.get(digest)
        if record is not None:
            return record

        def read(db: Db) -> BidRecord | None:
            stored = [b for b in dao.preconf_bids_with_digest(db, digest) if b.bidder]
            if not stored:
                return None
            return BidRecord(stored[-1], [m.message for m in dao.preconf_messages_about(db, digest)])
        return await self.store.read(read)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick_loop(), name="preconf-auctions")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    # -- the bidder API -----------------------------------------------------------------
    def _arrival(self, sb: SignedBid, now: int, peer: str | None) -> Arrival:
        gas = GAS_PER_TX * max(1, len(tx_hash_list(sb.bid.txn_hash)))
        return Arrival(sb, self.signer.address, gas, now, peer)

    def parse(self, params: Any) -> SignedBid:
        require(isinstance(params, list) and len(params) == 1 and isinstance(params[0], dict),
                "params", "preconf_sendBid takes [signed bid object]")
        return SignedBid.from_json(params[0], self.engine.params.chain_id, self.engine.params.contract, "params[0]")

    def bidder_of(self, sb: SignedBid, peer: str | None) -> str:
        """The funded bidder who signed ``sb``; anything else is refused here, before the
        engine, so it is neither signed nor stored nor remembered."""
        try:
            bidder = sb.bidder()
        except ValueError:
            self._refuse("bad-signature")
            raise InputError("params[0].signature", "does not verify; the bid is refused unsigned") from None
        if peer is not None and peer.lower() != bidder.lower():
            self._refuse("bad-signature")
            raise InputError("params[0].signature", f"signed by {bidder}, but the request is signed by {peer}")
        provider = self.signer.address
        if self.ledger.available(bidder, provider) + self.ledger.escrowed(bidder, provider) == 0:
            self._refuse("unfunded")
            raise InputError("params[0].signature", f"bidder {bidder} has no deposit with this provider "
                                                    f"(preconf_getDeposit); the bid is refused unsigned")
        return bidder

    def _refuse(self, reason: str) -> None:
        self.metrics.inc("mevauction_preconf_refused_total", help="Preconfirmation bids refused unsigned",
                         reason=reason)

    async def send_bid(self, sb: SignedBid, bidder: str) -> BidRecord:
        """Admit one signed bid from ``bidder`` (:meth:`bidder_of`); returns its record once
        it and its first decisions are durable."""
        digest, signature = sb.digest.hex(), sb.signature.hex()
        if digest in self.bids:
            self.metrics.inc("mevauction_preconf_replays_total", help="Preconfirmation bids refused as replays")
            raise InputError("params[0].signature", f"bid {digest} was already received (replay); "
                                                    f"its outcome: preconf_getBid")
        now = int(time.time() * 1000)
        if self.block_time_ms(sb.bid.block_number) - now < self.engine.params.final_offset:
            self._refuse("past")
            raise InputError("params[0].blockNumber", f"block {sb.bid.block_number}'s last auction has passed")
        made = self.engine.on_bid(self._arrival(sb, now, bidder))
        self.metrics.inc("mevauction_preconf_bids_total", help="Preconfirmation bids received")
        self.seq += 1
        stored = PreconfBidRecord(self.seq, digest, signature, bidder, sb.bid.block_number, now, sb.to_json())
        record = BidRecord(stored)
        self._keep(record)

        def write(db: Db) -> None:
            dao.insert_preconf_bid(db, stored)
        await self._deliver(made, write)
        return record

    async def _store(self, extra, messages: list[tuple[str, dict]]) -> None:
        def write(db: Db) -> None:
            if extra is not None:
                extra(db)
            dao.insert_preconf_messages(db, [PreconfMessageRecord(d, m["kind"], m) for d, m in messages])
        await asyncio.shield(self.store.write(write))

    async def _deliver(self, made: list[Commitment | Reject], extra=None) -> None:
        """Store the engine's messages (with ``extra``'s write), then hand each to its bid."""
        if not made and extra is None:
            return
        pairs = [(message_bid_digest(m), message_json(m)) for m in made]
        await self._store(extra, pairs)
        for digest, message in pairs:
            record = self.bids.get(digest)
            if record is None:
                continue
            record.messages.append(message)
            self.metrics.inc("mevauction_preconf_messages_total", help="Signed preconfirmation messages",
                             kind=message["kind"])
            for queue in record.listeners:
                queue.put_nowait(message)

    async def _tick_loop(self) -> None:
        """Run the auctions that fall due (scheduled rounds, reject deadlines, last calls)."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                now = int(time.time() * 1000)
                await self._deliver(self.engine.tick(now))
                self.prune(now)
            except Exception as exc:  # storage down: the messages are made again by nobody; log it
                log.error("preconfirmation round failed: %s", exc)

    async def wait(self, record: BidRecord, timeout: float) -> None:
        """Return when ``record`` is decided or ``timeout`` seconds have passed."""
        if record.status != "pending":
            return
        queue: asyncio.Queue = asyncio.Queue()
        record.listeners.append(queue)
        try:
            with contextlib.suppress(TimeoutError):  # undecided when the wait ends: the caller sees "pending"
                await asyncio.wait_for(queue.get(), timeout)
        finally:
            record.listeners.remove(queue)

    async def stream(self, record: BidRecord, timeout: float, skip: int = 0):
        """The record's messages as they are made: those so far (after the first ``skip``),
        then new ones until the bid is decided or ``timeout`` seconds have passed."""
        queue: asyncio.Queue = asyncio.Queue()
        record.listeners.append(queue)
        try:
            for message in record.messages[skip:]:
                yield message
            if record.status != "pending":
                return
            give_up = time.monotonic() + timeout
            while record.status == "pending":
                left = give_up - time.monotonic()
                if left <= 0:
                    return
                try:
                    message = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    return
                yield message
        finally:
            record.listeners.remove(queue)

    def stream_timeout(self, record: BidRecord) -> float:
        """A bid is decided by its block's last auction; streams end a little after it."""
        return max(0.0, self.block_time_ms(record.bid.block_number) / 1000 - time.time()) + 2.0

    def deposit(self, bidder: str) -> dict:
        """The bidder's deposit with this provider: available and held in escrow (wei)."""
        address, provider = checksummed(bidder, "params[0]"), self.signer.address
        return {"bidder": address, "provider": provider,
                "available": str(self.ledger.available(address, provider)),
                "escrowed": str(self.ledger.escrowed(address, provider))}
