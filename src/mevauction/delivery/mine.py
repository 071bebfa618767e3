"""Mine a planned block on a node, exactly, and check what was mined.

The node runs with mining off and FIFO order (``mevauction.chain.node``): the pool is
emptied of anything else (``anvil_dropAllTransactions``), the coinbase, timestamp and
base fee of the next block are set, the transactions are sent one by one in the plan's
order and one ``evm_mine`` makes the block. Every step can be repeated: a delivery cut
short (the service killed, the node gone) is done again from the start with the same
signed transactions, and a settlement transaction can only ever execute once (its nonce).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mevauction.chain.rpc import NodeUnavailable, RpcClient, RpcError, as_int, quantity
from mevauction.delivery.plan import BlockPlan

# What the one-time coinbase holds when the slot's world forks the chain: not empty
# (EIP-161), so a first payment to it costs the same gas in the auction and on chain.
PREFUND = 1
KNOWN = ("already known", "already imported", "known transaction")


@dataclass(frozen=True, slots=True)
class Parent:
    """The head the next block builds on, and what the next block will be."""

    number: int
    hash: str
    timestamp: int
    gas_limit: int
    base_fee: int  # of the next block (EIP-1559 from the head)


@dataclass(slots=True)
class Mined:
    number: int
    hash: str
    mismatches: list[str] = field(default_factory=list)


def parent_of_next(rpc: RpcClient) -> Parent:
    head, pending = rpc.batch([("eth_getBlockByNumber", ["latest", False]),
                               ("eth_getBlockByNumber", ["pending", False])])
    if not isinstance(head, dict):
        raise NodeUnavailable("node has no head block")
    base_fee = as_int((pending or head).get("baseFeePerGas", "0x0"), "base fee")
    return Parent(as_int(head["number"]), head["hash"], as_int(head["timestamp"]), as_int(head["gasLimit"]), base_fee)


def prepare_coinbase(rpc: RpcClient, coinbase: str) -> None:
    """Make the slot's coinbase exist before its world forks the chain (see PREFUND)."""
    rpc.call("anvil_setBalance", coinbase, quantity(PREFUND))


def mine(rpc: RpcClient, plan: BlockPlan) -> Mined:
    """Mine ``plan`` as the next block; the mined block with every way it differs from the plan.

    NodeUnavailable: the node stopped answering (the caller may try again);
    RpcError from a control method: the node is not an anvil-like dev node."""
    head = parent_of_next(rpc)
    if head.number != plan.number - 1:
        return Mined(head.number, head.hash, [f"the chain's head is {head.number}, not {plan.number - 1}: "
                                              f"block {plan.number} cannot be mined"])
    rpc.call("anvil_dropAllTransactions")
    rpc.call("anvil_setCoinbase", plan.coinbase)
    # The pool admits a transaction only if its sender can pay it from the state before
    # the block, while the settlements are paid from what the block's orders pay the
    # coinbase: the pool sees the settlements' total, the block starts without it.
    owed = sum(p.amount for p in plan.payouts)
    rpc.call("anvil_setBalance", plan.coinbase, quantity(PREFUND + plan.funding + owed))
    rpc.call("anvil_setNextBlockBaseFeePerGas", quantity(plan.base_fee))
    if plan.timestamp > head.timestamp:
        rpc.call("evm_setNextBlockTimestamp", quantity(plan.timestamp))
    refused: list[str] = []
    for h, raw in [(t.hash, t.raw) for t in plan.txs] + [(p.hash, p.raw) for p in plan.payouts]:
        try:
            rpc.call("eth_sendRawTransaction", raw)
        except RpcError as exc:
            if not any(k in exc.message.lower() for k in KNOWN):
                refused.append(f"transaction {h} refused by the node: {exc.message[:200]}")
    rpc.call("anvil_setBalance", plan.coinbase, quantity(PREFUND + plan.funding))
    rpc.call("evm_mine")
    block = rpc.block(plan.number)
    if block is None:
        raise NodeUnavailable(f"block {plan.number} not found after evm_mine")
    return Mined(plan.number, block["hash"], refused + compare(rpc, plan, block))


def compare(rpc: RpcClient, plan: BlockPlan, block: dict[str, Any]) -> list[str]:
    """How a mined block differs from its plan: fee recipient, timestamp, transactions, payouts' success."""
    out = []
    if block["miner"].lower() != plan.coinbase.lower():
        out.append(f"fee recipient is {block['miner']}, not the slot's coinbase {plan.coinbase}")
    got = [h if isinstance(h, str) else h["hash"] for h in block["transactions"]]
    want = plan.hashes
    if got != want:
        for i in range(max(len(got), len(want))):
            g, w = (got[i] if i < len(got) else None), (want[i] if i < len(want) else None)
            if g != w:
                out.append(f"transaction {i}: mined {g}, decided {w}")
    if plan.payouts:
        receipts = rpc.batch([("eth_getTransactionReceipt", [p.hash]) for p in plan.payouts])
        for p, r in zip(plan.payouts, receipts, strict=True):
            if r is not None and as_int(r["status"]) != 1:
                out.append(f"settlement transaction {p.hash} ({p.role} {p.party}) failed")
    return out
