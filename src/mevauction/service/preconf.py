"""The service's preconfirmation provider: the bidder API over the provider engine.

The service sells preconfirmations for its own blocks (block number = slot) with
:class:`mevauction.preconf.provider.ProviderEngine` — mev-commit's provider node
``handleBid`` flow: a bid in mev-commit's field layout, signed by the bidder, is
admitted (chain, fields, signature, replay, deposit) or answered with a signed reject;
admitted bids are auctioned (continuous or at the published times) and each is decided
by a signed commitment or a signed ``not-selected`` reject by its reject deadline.

What the service adds:

- the provider's key, NIKE key, chain, contract, capacity, reserve, stake and the
  bidders' deposits (a snapshot standing in for mev-commit's BidderRegistry) come from
  config;
- mev-commit's input rules (:mod:`mevauction.preconf.rules`) before anything is signed;
- a bid and every message the engine makes about it are stored durably before the
  bidder hears of them (acknowledged only after the commit, like orders), each message
  with the signed bid it answers (digest + signature) and the time it was stored;
- a signed bid is identified by its digest *and* signature: the exact bytes sent again
  get the stored record back (a retry is answered, never re-decided), while a copy of
  the fields signed by someone else is that signer's own bid and blocks nobody;
- what no bidder can be held to is refused with a JSON-RPC error, unsigned and not
  stored: a signature that does not verify, a bid relayed under another request
  signature (X-Flashbots-Signature of someone else: refused, so it blocks nothing), an
  address with no deposit with this provider, a block whose last auction has passed or
  beyond the horizon. Rate limits apply to the request's authenticated identity (the
  request signer, else the bid signer);
- per-block state is dropped from memory ``PRUNE_AFTER_MS`` after the block's time, once
  its commitments (if any) are settled; a pruned bid is read from the database;
- decisions are pushed to the bidder as they are made (server-sent events on the
  JSON-RPC request or on ``POST /v1/bidder/bid``, or a long poll with ``preconf_getBid``);
- on restart each stored bid is put back with its stored decision
  (:meth:`ProviderEngine.restore`): committed bids hold escrow until settled, rejected
  ones hold nothing, undecided ones are pending again; nothing is re-decided;
- at delivery, :meth:`PreconfDesk.settle_block` settles the block's commitments against
  the mined block's transactions by mev-commit's oracle rule and stores the outcomes and
  the ledger (``preconf_getSettlement``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mevauction.errors import InputError, as_wei, require
from mevauction.eth.keccak import keccak
from mevauction.eth.transactions import decode as decode_tx
from mevauction.eth.transactions import refuse_unexecutable
from mevauction.preconf import bidoptions, rules
from mevauction.preconf.capacity import GAS_PER_TX
from mevauction.preconf.deposits import DepositLedger, InsufficientDeposit
from mevauction.preconf.evidence import REJECT_FORMAT, Reject
from mevauction.preconf.keys import Signer
from mevauction.preconf.messages import Commitment, SignedBid, tx_hash_list
from mevauction.preconf.nike import GROUP_R
from mevauction.preconf.params import AuctionParameters, SignedParameters
from mevauction.preconf.policy import ReservePolicy
from mevauction.preconf.provider import Arrival, ProviderEngine, Refusal
from mevauction.service import dao, preconf_settle
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

PUBLIC_KEPT = 10_000  # public transactions kept for hash-only commitments (a few slots' worth)
TICK_SECONDS = 0.05
# Rejects are signed this long before their deadline at the latest: two ticks, so one
# late tick still sends them in time.
REJECT_LEAD_MS = 100
# A block's state leaves memory this long after the block's time: its last auction ran
# ``preconf_final_ms`` before, and its streams end 2 s after (stream_timeout).
PRUNE_AFTER_MS = 5_000


@dataclass(slots=True)
class BidRecord:
    """One received signed bid: the stored bid and every message the provider signed about it."""

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

    @property
    def key(self) -> str:
        return self.bid.digest + self.bid.signature

    def to_json(self) -> dict:
        return {"bidDigest": self.bid.digest, "bidSignature": self.bid.signature, "bidder": self.bid.bidder,
                "blockNumber": self.bid.block_number, "status": self.status, "receivedMs": self.bid.received_ms,
                "messages": list(self.messages)}


def message_json(message: Commitment | Reject) -> dict:
    if isinstance(message, Commitment):
        return {"kind": "commitment", **message.to_json()}
    return {"kind": "reject", **message.to_json()}


def message_bid_key(message: Commitment | Reject) -> str:
    if isinstance(message, Commitment):
        return message.signed_bid.key
    return message.bid_digest.hex() + message.bid_signature.hex()


def stored_decision(messages: list[dict]) -> Commitment | Reject | str | None:
    """The decision among a bid's stored messages: a commitment wins (a superseded or
    not-selected reject never follows one); a reject of an older format, which does not
    parse as today's, still decides the bid ("rejected")."""
    for m in messages:
        if m["kind"] == "commitment":
            return Commitment.from_json(m)
    for m in messages:
        if m["kind"] == "reject":
            return Reject.from_json(m) if m.get("format") == REJECT_FORMAT else "rejected"
    return None


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
    """The provider run by the service: admission, durable decisions, streams, settlement."""

    def __init__(self, config: ServiceConfig, clock: SlotClock | Callable[[], SlotClock], store: Store,
                 metrics: Metrics):
        self.store = store
        self.metrics = metrics
        # On a chain the auctioneer's clock is replaced whenever the next block is postponed
        # or the chain moves: the service passes a callable so the desk reads the current one.
        self._clock = clock
        signer, nike_secret, params = provider_from_config(config)
        self.signer = signer
        self.signed_params: SignedParameters = params.sign(signer)
        self.horizon = config.preconf_horizon_blocks
        self.dispatch_window_ms = config.preconf_dispatch_window_ms
        self.stake = as_wei(config.preconf_stake, "preconf_stake")
        self.ledger = DepositLedger()
        for bidder, amount in preconf_deposits(config).items():
            self.ledger.deposit(bidder, signer.address, amount)
        self.engine = ProviderEngine(signer, nike_secret, params, self.ledger, self.block_time_ms, history=False,
                                     reject_lead_ms=REJECT_LEAD_MS, block_gas_limit=config.block_gas_limit,
                                     holds=self.holds if config.preconf_hash_only == "held" else None)
        self.bids: dict[str, BidRecord] = {}  # bid key (digest + signature) → record, for blocks not yet pruned
        self.by_digest: dict[str, list[str]] = {}  # digest → keys in self.bids
        self.by_block: dict[int, list[str]] = {}  # block number → keys in self.bids
        self.settled: set[int] = set()  # blocks whose commitments are settled
        self.abandoned: set[int] = set()  # blocks given up, their commitments still to void (preconf_block.py)
        self.settled_hash: dict[int, str] = {}  # ... against the block with this hash (on a chain)
        self.seq = 0
        # Public transactions seen (hash → raw hex), newest last: a hash-only commitment is
        # matched against them at its block's deadline (service/preconf_block.py).
        self.public: OrderedDict[str, str] = OrderedDict()
        self._task: asyncio.Task | None = None
        self._settling = asyncio.Lock()

    @property
    def clock(self) -> SlotClock:
        return self._clock() if callable(self._clock) else self._clock

    def block_time_ms(self, block_number: int) -> int:
        """Blocks are slots; a block is due at its slot's intake deadline."""
        return int(self.clock.deadline(block_number) * 1000)

    # -- recovery ---------------------------------------------------------------------
    def load(self) -> None:
        """Put every stored bid back with its stored decision (nothing is re-decided or
        re-signed): the pools, escrows, sold gas, replay set and records are as they were;
        settled commitments hold no escrow and their payments stay paid."""
        def read(db: Db):
            return (dao.preconf_bids_in_order(db), dao.preconf_messages_in_order(db),
                    dao.preconf_outcomes_all(db))
        bids, messages, outcomes = self.store.read_now(read)
        by_key: dict[str, list[dict]] = {}
        legacy: dict[str, list[dict]] = {}  # stored before messages named their bid key
        last_at: dict[str, int] = {}
        for m in messages:
            (by_key.setdefault(m.bid_key, []) if m.bid_key else legacy.setdefault(m.digest, [])).append(m.message)
            made_at = m.message.get("dispatchTimestamp", m.message.get("rejectTimeStamp", 0))
            last_at[m.digest] = max(last_at.get(m.digest, 0), int(made_at))
        settled = {o["bidKey"]: o for o in outcomes}
        self.settled = {o["blockNumber"] for o in outcomes}
        self.settled_hash = {o["blockNumber"]: o["blockHash"] for o in outcomes if "blockHash" in o}
        provider = self.signer.address
        for stored_bid in bids:
            self.seq = max(self.seq, stored_bid.seq)
            if not stored_bid.bidder:  # rows with a bad signature, stored by early versions: nobody's bid
                continue
            sb = SignedBid.from_json(stored_bid.signed_bid, self.engine.params.chain_id, self.engine.params.contract)
            msgs = by_key.get(sb.key) or legacy.get(stored_bid.digest, [])
            record = BidRecord(stored_bid, list(msgs))
            outcome = settled.get(sb.key)
            try:
                self.engine.restore(sb, stored_bid.bidder, self._gas(sb), stored_bid.received_ms,
                                    stored_decision(msgs), escrow_open=outcome is None)
            except InsufficientDeposit as exc:  # the deposits configured now no longer cover it
                log.error("preconfirmation bid %s not restored: %s", sb.key[:16], exc)
            if outcome is not None:
                self.ledger.charge(stored_bid.bidder, provider, int(outcome["provider_payout"])
                                   + int(outcome["protocol_fee"]))
                self.stake -= int(outcome["stake_taken"])
            self._keep(record)
            self.engine.mark_rounds_done(stored_bid.block_number, last_at.get(stored_bid.digest, 0))
        self.prune(int(time.time() * 1000))

    def _keep(self, record: BidRecord) -> None:
        self.bids[record.key] = record
        self.by_digest.setdefault(record.digest, []).append(record.key)
        self.by_block.setdefault(record.bid.block_number, []).append(record.key)

    def prune(self, now: int) -> None:
        """Drop from memory every block ``PRUNE_AFTER_MS`` past its time (its rows stay)."""
        # A block whose commitments are not settled yet stays: its slot may still run (late,
        # after a restart, or retried), and its block must carry them.
        past = [b for b in self.by_block if self.block_time_ms(b) + PRUNE_AFTER_MS <= now
                and (b in self.settled or b in self.abandoned or not self.committed(b))]
        for block_number in past:
            for key in self.by_block.pop(block_number):
                record = self.bids.pop(key)
                keys = self.by_digest[record.digest]
                keys.remove(key)
                if not keys:
                    del self.by_digest[record.digest]
        horizon = min((b for b in self.engine.books if self.block_time_ms(b) + PRUNE_AFTER_MS > now), default=None)
        self.engine.prune(horizon if horizon is not None else max(self.engine.books, default=-1) + 1)

    async def lookup(self, digest: str, bidder: str | None = None) -> BidRecord | None:
        """The received bid with this digest (hex) — ``bidder``'s when given, else the first
        received: in memory, or stored if its block was pruned."""
        def mine(records: list[BidRecord]) -> BidRecord | None:
            for r in records:
                if bidder is None or r.bid.bidder.lower() == bidder.lower():
                    return r
            return None
        found = mine([self.bids[k] for k in self.by_digest.get(digest, [])])
        if found is not None:
            return found

        def read(db: Db) -> BidRecord | None:
            stored = mine([BidRecord(b) for b in dao.preconf_bids_with_digest(db, digest) if b.bidder])
            if stored is None:
                return None
            about = dao.preconf_messages_about(db, digest)
            stored.messages = [m.message for m in about if m.bid_key in (None, stored.key)]
            return stored
        return await self.store.read(read)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick_loop(), name="preconf-auctions")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    # -- the bidder API -----------------------------------------------------------------
    @staticmethod
    def _gas(sb: SignedBid) -> int:
        return GAS_PER_TX * max(1, len(tx_hash_list(sb.bid.txn_hash)))

    def _arrival(self, sb: SignedBid, now: int, peer: str | None) -> Arrival:
        return Arrival(sb, self.signer.address, self._gas(sb), now, peer)

    def parse(self, params: Any) -> SignedBid:
        require(isinstance(params, list) and len(params) == 1 and isinstance(params[0], dict),
                "params", "preconf_sendBid takes [signed bid object]")
        return self.parse_bid(params[0], "params[0]")

    def parse_bid(self, doc: object, where: str) -> SignedBid:
        """A signed bid in mev-commit's field layout, checked by mev-commit's input rules."""
        sb = SignedBid.from_json(doc, self.engine.params.chain_id, self.engine.params.contract, where)
        rules.check(sb.bid, where, self.clock.current(), self.horizon)
        # The block will have to execute them (service/preconf_block.py): a type it cannot
        # run would be committed, then left out and slashed, so it is refused here.
        for i, raw in enumerate(sb.raw_transactions):
            at = f"{where}.rawTransactions[{i}]"
            refuse_unexecutable(decode_tx(raw, at), at)
        refuse_bottom_anchor(sb.bid.bid_options, f"{where}.bidOptions")
        return sb

    def known(self, sb: SignedBid) -> BidRecord | None:
        """The record of exactly this signed bid, if it was received: a retry is answered
        with it (and its decision), never decided again."""
        return self.bids.get(sb.key)

    def bidder_of(self, sb: SignedBid, peer: str | None, where: str = "params[0]") -> str:
        """The funded bidder who signed ``sb``; anything else is refused here, before the
        engine, so it is neither signed nor stored nor remembered."""
        try:
            bidder = sb.bidder()
        except ValueError:
            self._refuse("bad-signature")
            raise InputError(f"{where}.signature", "does not verify; the bid is refused unsigned") from None
        if peer is not None and peer.lower() != bidder.lower():
            self._refuse("wrong-sender")
            raise InputError(f"{where}.signature", f"signed by {bidder}, but the request is signed by {peer}; "
                                                   "refused unsigned (it does not block the bidder's own send)")
        provider = self.signer.address
        if self.ledger.available(bidder, provider) + self.ledger.escrowed(bidder, provider) == 0:
            self._refuse("unfunded")
            raise InputError(f"{where}.signature", f"bidder {bidder} has no deposit with this provider "
                                                   f"(preconf_getDeposit); the bid is refused unsigned")
        return bidder

    def _refuse(self, reason: str) -> None:
        self.metrics.inc("mevauction_preconf_refused_total", help="Preconfirmation bids refused unsigned",
                         reason=reason)

    async def send_bid(self, sb: SignedBid, bidder: str, where: str = "params[0]") -> BidRecord:
        """Admit one signed bid from ``bidder`` (:meth:`bidder_of`); returns its record once
        it and its first decisions are durable."""
        record = self.known(sb)
        if record is not None:
            return record
        now = int(time.time() * 1000)
        try:
            made = self.engine.on_bid(self._arrival(sb, now, bidder))
        except Refusal as refused:
            self._refuse(refused.reason)
            name = "blockNumber" if refused.reason == "expired" else "signature"
            raise InputError(f"{where}.{name}", f"{refused.detail}; refused unsigned") from None
        self.metrics.inc("mevauction_preconf_bids_total", help="Preconfirmation bids received")
        self.seq += 1
        stored = PreconfBidRecord(self.seq, sb.digest.hex(), sb.signature.hex(), bidder, sb.bid.block_number, now,
                                  sb.to_json())
        record = BidRecord(stored)
        self._keep(record)

        def write(db: Db) -> None:
            dao.insert_preconf_bid(db, stored)
        await self._deliver(made, write)
        return record

    async def _store(self, extra, messages: list[tuple[str, dict]]) -> None:
        now = int(time.time() * 1000)

        def write(db: Db) -> None:
            if extra is not None:
                extra(db)
            dao.insert_preconf_messages(db, [PreconfMessageRecord(k[:64], m["kind"], m, k, now)
                                             for k, m in messages])
        await asyncio.shield(self.store.write(write))

    async def _deliver(self, made: list[Commitment | Reject], extra=None) -> None:
        """Store the engine's messages (with ``extra``'s write), then hand each to its bid."""
        if not made and extra is None:
            return
        pairs = [(message_bid_key(m), message_json(m)) for m in made]
        await self._store(extra, pairs)
        for key, message in pairs:
            record = self.bids.get(key)
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

    async def settle_block(self, block_number: int, block_txs: list, winner: str | None = None,
                           block_hash: str | None = None) -> dict:
        """The delivery hook: settle ``block_number``'s commitments against the mined block
        (service/preconf_settle.py); with its hash, re-settled if that block was replaced."""
        return await preconf_settle.settle_block(self, block_number, block_txs, winner, block_hash)

    async def settlement(self, block_number: int) -> dict | None:
        return await preconf_settle.settlement_report(self, block_number)

    def sold_gas(self, block_number: int) -> int:
        """Gas sold as preconfirmations for a block so far: what its block must reserve."""
        book = self.engine.books.get(block_number)
        return book.sold_gas if book is not None else 0

    def holds(self, sb: SignedBid) -> bool:
        """Whether every transaction a hash-only bid names reached the service publicly."""
        hashes = [h for h in sb.bid.txn_hash.split(",") if h]
        return bool(hashes) and all("0x" + h.lower() in self.public for h in hashes)

    def remember_public(self, tx_hash: str, raw: str) -> None:
        """Keep a public transaction (bounded: the oldest go first) for hash-only commitments."""
        self.public[tx_hash] = raw
        self.public.move_to_end(tx_hash)
        while len(self.public) > PUBLIC_KEPT:
            self.public.popitem(last=False)

    def committed(self, block_number: int) -> list[dict]:
        """The commitments signed so far for a block (in memory), for the block builder."""
        return [m for k in self.by_block.get(block_number, []) for m in self.bids[k].messages
                if m["kind"] == "commitment"]

    def deposit(self, bidder: str) -> dict:
        """The bidder's deposit with this provider: available and held in escrow (wei)."""
        address, provider = checksummed(bidder, "params[0]"), self.signer.address
        return {"bidder": address, "provider": provider,
                "available": str(self.ledger.available(address, provider)),
                "escrowed": str(self.ledger.escrowed(address, provider))}


def refuse_bottom_anchor(options: bytes, field: str) -> None:
    """The service closes every block with its settlement transactions (refunds, builder
    refund, proposer revenue), so no committed transaction can be at the bottom: a provider
    that committed to a bottom position would be slashed by the oracle for a block it built
    as promised. Such bids are refused before anything is signed."""
    for option in bidoptions.decode(options, field):
        if isinstance(option, bidoptions.PositionConstraint) and option.anchor == 2:
            raise InputError(field, "ANCHOR_BOTTOM is not offered: settlement transactions close every block")

