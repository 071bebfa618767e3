"""The service on a chain (``serve --chain anvil|URL``): slots are the node's blocks.

The open slot is head + 1 (the clock is anchored so that ``clock.current()`` is the
next block's number, and it stays there while no block is mined); at a deadline the
slot's world is the evm world forked from the node at the head, with the slot's one-time
coinbase pinned; the report becomes a block plan (:mod:`mevauction.delivery.plan`),
stored with the report before anything is sent; the plan is mined
(:mod:`mevauction.delivery.mine`), checked, verified from chain data
(:mod:`mevauction.delivery.verify`) and recorded.

Faults: a node that does not answer at the deadline fails the slot for that round (the
reason is stored in ``chain_failures``) and keeps its orders: the next block is still
the same number, and the slot is open again for one more slot length. A delivery cut
short (node gone, service killed) stays ``planned`` and is finished (or found mined, or
found impossible) before any later block. A delivered block whose hash the node no
longer has at its number (``anvil_reorg``) is marked ``reorged``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass

from mevauction.chain.deploy import Deployment, Layout, deploy
from mevauction.chain.node import Anvil
from mevauction.chain.rpc import NodeUnavailable, RpcClient, RpcError
from mevauction.delivery import mine as chain_mine
from mevauction.delivery import verify as chain_verify
from mevauction.delivery.plan import BlockPlan, block_plan, coinbase_key
from mevauction.eth import secp256k1
from mevauction.service import dao, deliveries
from mevauction.service.clock import SlotClock
from mevauction.service.deliveries import DeliveryRecord
from mevauction.service.records import SettledSlot
from mevauction.service.store import Db, Store

log = logging.getLogger("mevauction.service")
SECRET_KEY = "coinbase_secret"
REORG_WINDOW = 16  # delivered blocks checked against the node at every deadline
# What ``--chain anvil`` deploys and funds: enough users and searchers that a demo slot
# of up to 120 orders gives every order a sender of its own (one nonce each per block).
CHAIN_LAYOUT = Layout(seed=0, tokens=3, users=124, searchers=120)
# Methods answered by the node itself, as the chain answers them (reads only).
NODE_READS = frozenset({
    "net_version", "eth_getBlockByNumber", "eth_getBlockByHash", "eth_getTransactionReceipt",
    "eth_getTransactionByHash", "eth_getBalance", "eth_getTransactionCount", "eth_getCode", "eth_call",
    "eth_estimateGas", "eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_feeHistory", "eth_getStorageAt",
})


class SlotNotReady(Exception):
    """The slot's block cannot be built now (the node did not answer, or an earlier
    delivery is unfinished); the slot stays open with its orders."""


class BlockTaken(Exception):
    """The chain already has a block at the slot's number (someone else mined it)."""


@dataclass(frozen=True, slots=True)
class SlotWorld:
    world: dict
    parent_hash: str
    timestamp: int
    base_fee: int


class ChainLink:
    def __init__(self, target: str, slot_seconds: float, timeout: float = 5.0):
        self.target = target
        self.slot_seconds = slot_seconds
        self.timeout = timeout
        self.node: Anvil | None = None
        self.url = "" if target == "anvil" else target
        self.rpc: RpcClient | None = None if target == "anvil" else RpcClient(target, timeout)
        self.secret = b""
        self.chain_id = 0
        self.deployment: Deployment | None = None  # what --chain anvil deployed (--chain URL: nothing)
        self.floor = 0  # the first block number not settled yet (see follow)

    # -- start-up --------------------------------------------------------------------------
    def start_node(self) -> int:
        """Start the embedded node (``anvil``) or reach the given one; its chain id."""
        if self.target == "anvil":
            self.node = Anvil().start()
            self.url = self.node.url
            self.rpc = RpcClient(self.url, self.timeout)
            # The demo's contracts (WETH9, ERC-20s, Uniswap V2) from the real artifacts.
            self.deployment = deploy(self.rpc, CHAIN_LAYOUT)
        self.chain_id = self.client.chain_id()
        return self.chain_id

    @property
    def client(self) -> RpcClient:
        assert self.rpc is not None, "start_node() first"
        return self.rpc

    def stop(self) -> None:
        if self.rpc is not None:
            self.rpc.close()
        if self.node is not None:
            self.node.stop()

    def load_secret(self, db: Db) -> None:
        """The secret the slots' coinbase keys derive from: made once, kept in the database
        (a restarted service signs the same settlement transactions)."""
        meta = dao.read_meta(db)
        if SECRET_KEY not in meta:
            meta[SECRET_KEY] = secrets.token_hex(32)
            dao.write_meta(db, {SECRET_KEY: meta[SECRET_KEY]})
        self.secret = bytes.fromhex(meta[SECRET_KEY])

    def clock(self) -> SlotClock:
        """A clock whose open slot is head + 1, its deadline one slot length from now."""
        head = self.client.block_number()
        now = time.time()
        return SlotClock(now - (head + 1) * self.slot_seconds, self.slot_seconds, head + 1)

    def follow(self, clock: SlotClock, floor: int = 0) -> SlotClock:
        """The clock kept on the chain. Its open slot never passes the next block (its
        ``ceiling``, head + 1); when the time has run past that slot without a block (a
        deadline with no orders, or a settlement that outlasted its slot), the next block
        opens again with one slot length from now; when the head moved, the ceiling
        follows it (a delivery, or a block someone else mined).

        ``floor``: the first block number this service has not settled yet. A head behind
        it (the node restarted and lost its state, or was rewound) does not reopen numbers
        already settled: the open slot stays at ``floor`` and its deadlines fail with the
        reason (:meth:`world_for`) until the chain reaches it."""
        try:
            head = self.client.block_number()
        except (NodeUnavailable, RpcError):
            return clock  # the deadline's own check reports the node
        self.floor = floor
        nxt = max(head + 1, floor)
        now = time.time()
        if clock.slot_at(now) == nxt:
            return SlotClock(clock.genesis, clock.slot_seconds, nxt)
        return SlotClock(now - nxt * self.slot_seconds, self.slot_seconds, nxt)

    @staticmethod
    def postponed(clock: SlotClock) -> SlotClock:
        """The clock after a deadline that produced no block: the same number opens again."""
        return SlotClock(clock.genesis + clock.slot_seconds, clock.slot_seconds, clock.ceiling)

    def coinbase(self, slot: int) -> str:
        return secp256k1.address_of(coinbase_key(self.secret, self.chain_id, slot))

    # -- at a deadline -----------------------------------------------------------------------
    def world_for(self, slot: int, timestamp: int) -> SlotWorld:
        """The slot's evm world: the node's state at the head (slot − 1), the slot's coinbase."""
        rpc = self.client
        try:
            parent = chain_mine.parent_of_next(rpc)
            if parent.number >= slot:
                raise BlockTaken(f"the chain already has block {slot} (head {parent.number})")
            if parent.number + 1 < self.floor:
                raise SlotNotReady(f"the chain's head {parent.number} is behind block {self.floor - 1}, which this "
                                   "service already settled: the node restarted and lost its state (or was "
                                   f"rewound); block {slot} waits until the chain reaches it")
            if parent.number != slot - 1:
                raise SlotNotReady(f"the chain's head is {parent.number}: block {slot} cannot be built yet")
            coinbase = self.coinbase(slot)
            chain_mine.prepare_coinbase(rpc, coinbase)
        except (NodeUnavailable, RpcError) as exc:
            raise SlotNotReady(f"node {self.url}: {exc}") from None
        ts = max(timestamp, parent.timestamp + 1)
        world = {"kind": "evm", "chain_id": self.chain_id,
                 "block": {"number": slot, "timestamp": ts, "base_fee": parent.base_fee,
                           "gas_limit": parent.gas_limit, "coinbase": coinbase},
                 "fork_url": self.url, "fork_block": hex(parent.number)}
        return SlotWorld(world, parent.hash, ts, parent.base_fee)

    def plan(self, slot: int, sw: SlotWorld, scenario: dict, report: dict, fee_recipient: str) -> DeliveryRecord:
        orders = {o["id"]: o for o in scenario["orders"]}
        plan = block_plan(report, orders, number=slot, timestamp=sw.timestamp, base_fee=sw.base_fee,
                          chain_id=self.chain_id, secret=self.secret, fee_recipient=fee_recipient,
                          kept=executed_txs(scenario, report))
        return DeliveryRecord(slot, slot, plan.coinbase, plan.to_json(), updated_ms=int(time.time() * 1000))

    def mine(self, record: DeliveryRecord) -> chain_mine.Mined:
        return chain_mine.mine(self.client, BlockPlan.from_json(record.plan))

    def verify(self, record: DeliveryRecord, report: dict, fee_recipient: str) -> dict:
        document = {"report": report, "delivery": record.plan, "fee_recipient": fee_recipient}
        result = chain_verify.verify(self.client, record.block_number, document)
        return {"ok": result.ok, "mismatches": result.mismatches[:20], "hash": result.hash}

    def found_mined(self, record: DeliveryRecord) -> str | None:
        """The hash of the block the plan was mined in, if it was (a restart after evm_mine)."""
        plan = BlockPlan.from_json(record.plan)
        block = self.client.block(record.block_number)
        if block is None:
            return None
        if block["miner"].lower() == plan.coinbase.lower():
            return block["hash"]
        return None


def executed_txs(scenario: dict, report: dict) -> dict[str, frozenset[str]] | None:
    """The transactions the final block executes, per order that may drop some
    (``droppingTxHashes``): the block is run once more on the slot's world, in the report's
    order, and a dropped transaction is left out of what is sent — the node would
    otherwise mine it, or keep it pending, where the auction did not. None when no
    order in the block can drop anything (the common case: nothing is run again)."""
    block = report.get("block") or []
    orders = {o["id"]: o for o in scenario["orders"]}
    if "error" in report or not any(orders[o].get("droppingTxHashes") for o in block if o in orders):
        return None
    from mevauction.worlds.evm.world import from_scenario  # pyrevm: only on a chain

    world = from_scenario({"world": scenario["world"], "orders": [orders[o] for o in block]})
    kept: dict[str, frozenset[str]] = {}
    gas_left = scenario.get("block_gas_limit") or world.block.gas_limit
    for oid in block:
        result, _ = world._execute(oid, gas_left)
        reverting = world.orders[oid].reverting_tx_hashes
        kept[oid] = frozenset(r.hash for r in result.txs
                              if r.status == "ok" or (r.status == "reverted" and r.hash in reverting))
        gas_left -= result.gas_used if result.success else 0
    return kept


async def deliver(link: ChainLink, store: Store, record: DeliveryRecord, report: dict, fee_recipient: str,
                  winner: str | None) -> DeliveryRecord:
    """Mine a planned delivery (or recognise it as mined), check and verify it, record the outcome.

    NodeUnavailable/RpcError propagate: the delivery stays planned and is retried."""
    found = await asyncio.to_thread(link.found_mined, record)
    if found is not None:
        status, block_hash, reason = deliveries.MINED, found, None
    else:
        head = await asyncio.to_thread(link.client.block_number)
        if head >= record.block_number:
            status, block_hash = deliveries.FAILED, None
            reason = f"block {record.block_number} was mined without this delivery (head {head})"
        else:
            mined = await asyncio.to_thread(link.mine, record)
            block_hash = mined.hash
            status = deliveries.MINED if not mined.mismatches else deliveries.MISMATCH
            reason = "; ".join(mined.mismatches)[:1000] or None
    now = int(time.time() * 1000)
    await store.write(lambda db: deliveries.mark(db, record.slot, status, block_hash, reason, now, winner))
    verification = None
    if status != deliveries.FAILED:
        verification = await asyncio.to_thread(link.verify, record, report, fee_recipient)
        await store.write(lambda db: deliveries.verified(db, record.slot, verification))
        if not verification["ok"]:
            log.error("slot %d: block %s does not verify: %s", record.slot, block_hash, verification["mismatches"])
    log.info("slot %d: block %d %s (%s)", record.slot, record.block_number, status, block_hash)
    return DeliveryRecord(record.slot, record.block_number, record.coinbase, record.plan, status, block_hash,
                          reason, verification, now)


async def check_reorgs(link: ChainLink, store: Store) -> list[int]:
    """Delivered blocks the node no longer has at their number: marked ``reorged``."""
    recent = await store.read(lambda db: deliveries.recent(db, REORG_WINDOW))
    gone = []
    for record in recent:
        if record.status not in (deliveries.MINED, deliveries.MISMATCH) or not record.block_hash:
            continue
        block = await asyncio.to_thread(link.client.block, record.block_number)
        if block is None or block["hash"] != record.block_hash:
            gone.append(record.slot)
            now = int(time.time() * 1000)
            reason = (f"reorganised away: block {record.block_number} is now "
                      f"{block['hash'] if block else 'missing'}, was {record.block_hash}")
            log.error("slot %d: %s", record.slot, reason)

            def mark(db: Db, r: DeliveryRecord = record, why: str = reason, t: int = now) -> None:
                deliveries.mark(db, r.slot, deliveries.REORGED, r.block_hash, why, t)
            await store.write(mark)
    return gone


# -- what the auctioneer's slot loop calls on a chain ------------------------------------------
def insert_settled(db: Db, settled: SettledSlot) -> None:
    """The slot's records and, on a chain, its block plan: one transaction, before any
    transaction is sent, so a restart finds the plan whatever happened after."""
    dao.insert_settled_slot(db, settled)
    if settled.delivery is not None:
        deliveries.insert(db, settled.delivery)


async def record_not_ready(store: Store, slot: int, reason: str) -> None:
    """A deadline at which the node could not build the slot's block, kept with its reason."""
    log.error("slot %d: %s; its orders are kept for the next block", slot, reason)
    at = int(time.time() * 1000)
    await store.write(lambda db: deliveries.failure(db, slot, at, reason[:500]))


async def turn(link: ChainLink, store: Store) -> None:
    """Finish deliveries cut short (oldest first) and look for reorganised blocks."""
    try:
        for record in await store.read(deliveries.unfinished):
            n = record.slot

            def read(db: Db, n: int = n) -> tuple[dict | None, str]:
                return dao.slot_report(db, n), deliveries.fee_recipient(db, n)
            doc, fee_recipient = await store.read(read)
            winner = doc.get("winner") if doc else None
            await deliver(link, store, record, doc or {}, fee_recipient, winner)
        await check_reorgs(link, store)
    except (NodeUnavailable, RpcError) as exc:
        log.error("chain: node unavailable while finishing deliveries: %s", exc)
