"""The evm world on a real anvil with the real Uniswap V2 deployment, checked against the node.

pyrevm's results for an order (status and gas of every transaction, the fee
recipient's gain, the storage slots read and written) must be what anvil computes
when it mines the same transactions on the same parent state (``evm_snapshot`` /
``evm_revert`` around each check): receipts, the coinbase's balance, and
``debug_traceTransaction`` with the prestate tracer (every slot touched; in diff
mode, every slot changed).
"""

from __future__ import annotations

import pytest

from mevauction.chain.deploy import DeploymentError, Layout, deploy, read_deployment
from mevauction.chain.node import Anvil
from mevauction.chain.rpc import as_int, quantity
from mevauction.intake.workloads.uniswap import _generate
from mevauction.worlds.evm.fork import fork_world
from mevauction.worlds.evm.world import from_scenario

pytestmark = pytest.mark.slow
LAYOUT = Layout(seed=5, tokens=2, users=40, searchers=36)
ORDERS = 36


@pytest.fixture(scope="module")
def node():
    with Anvil() as anvil:
        rpc = anvil.client()
        deployment = deploy(rpc, LAYOUT)
        doc = _generate(rpc, deployment, ORDERS, 5, [], 3)
        yield anvil, rpc, deployment, doc


def test_deploy_is_idempotent_and_read_back_without_a_record(node):
    _, rpc, deployment, _ = node
    head = rpc.block_number()
    assert deploy(rpc, LAYOUT) == deployment, "a second deploy returns what is there"
    assert rpc.block_number() == head, "and sends nothing"
    assert read_deployment(rpc, LAYOUT) == deployment
    assert read_deployment(rpc, Layout(seed=99)) is None, "another layout: nothing there"
    with pytest.raises(DeploymentError, match="part of a deployment"):
        read_deployment(rpc, Layout(seed=5, tokens=3, users=40, searchers=36))


def test_the_slot_has_every_kind_of_order_and_all_succeed_at_the_top(node):
    doc = node[3]
    world = from_scenario(doc)
    kinds = {o["kind"] for o in doc["orders"]}
    assert {"swap", "backrun", "transfer"} <= kinds
    assert kinds & {"sandwich", "arbitrage"}
    assert all(r.success for r in world.top.values()), {o: r.error for o, r in world.top.items() if not r.success}
    assert world.parent is not None and world.parent["number"] == world.block.number - 1


def test_lazy_fork_and_dumped_state_agree(node):
    _, rpc, _, doc = node
    dumped = from_scenario(doc)
    lazy = fork_world(rpc, doc["orders"], prefetch="lazy", timestamp=dumped.block.timestamp)
    assert lazy.fork_url == rpc.url and not lazy.to_json()["state"], "nothing prefetched"
    assert lazy.block == dumped.block.__class__(**{**_fields(dumped.block), "coinbase": lazy.block.coinbase})
    for oid in dumped.orders:
        assert lazy.top[oid] == dumped.top[oid], oid
        assert lazy.access(oid) == dumped.access(oid), oid


def _fields(block) -> dict:
    return {name: getattr(block, name) for name in block.__slots__}


def _mine(rpc, world, raws: list[str]) -> tuple[list[dict], int]:
    """Mine ``raws`` in one block under the world's block context; (receipts, coinbase gain)."""
    block = world.block
    rpc.call("anvil_setCoinbase", block.coinbase)
    rpc.call("anvil_setNonce", block.coinbase, "0x1")  # as the world's fee recipient (with_fee_recipient)
    rpc.call("anvil_setBalance", block.coinbase, "0x0")
    rpc.call("evm_setNextBlockTimestamp", quantity(block.timestamp))
    rpc.call("anvil_setNextBlockBaseFeePerGas", quantity(block.base_fee))
    hashes = [rpc.call("eth_sendRawTransaction", raw) for raw in raws]
    rpc.call("evm_mine")
    receipts = [rpc.call("eth_getTransactionReceipt", h) for h in hashes]
    mined = as_int(receipts[0]["blockNumber"])
    assert all(as_int(r["blockNumber"]) == mined for r in receipts), "one block"
    assert mined == block.number
    return receipts, rpc.balance(block.coinbase, mined)


def _slots(trace: dict) -> set[str]:
    return {f"slot:{addr.lower()}:{int(key, 16):x}" for addr, acc in trace.items() for key in acc.get("storage", {})}


def test_each_order_at_the_top_is_what_anvil_mines(node):
    _, rpc, _, doc = node
    world = from_scenario(doc)
    for order in doc["orders"]:
        oid = order["id"]
        snapshot = rpc.call("evm_snapshot")
        try:
            receipts, gain = _mine(rpc, world, order["raw_txs"])
            top = world.top[oid]
            assert [as_int(r["status"]) for r in receipts] == [1 if t.status == "ok" else 0 for t in top.txs], oid
            assert [as_int(r["gasUsed"]) for r in receipts] == [t.gas_used for t in top.txs], oid
            assert gain == top.coinbase_delta, f"{oid}: the bid is the fee recipient's gain on the node"
            touched: set[str] = set()
            changed: set[str] = set()
            for r in receipts:
                tracer = {"tracer": "prestateTracer"}
                touched |= _slots(rpc.call("debug_traceTransaction", r["transactionHash"], tracer))
                diff = rpc.call("debug_traceTransaction", r["transactionHash"],
                                {**tracer, "tracerConfig": {"diffMode": True}})
                changed |= _slots(diff["post"])
            access = world.access(oid)
            ours = {k for k in access.reads | access.writes if k.startswith("slot:")}
            assert ours == touched, f"{oid}: slots touched (ours - node {ours - touched}, node - ours {touched - ours})"
            assert changed <= access.writes, f"{oid}: slots the node changed that we did not record as written"
        finally:
            assert rpc.call("evm_revert", snapshot) is True


def test_a_whole_block_built_on_the_cursor_is_what_anvil_mines(node):
    _, rpc, _, doc = node
    world = from_scenario(doc)
    cursor = world.cursor()
    kept, outcomes = [], []
    for order in doc["orders"]:
        outcome = cursor.push(order["id"])
        if outcome.success:
            kept.append(order)
            outcomes.append(outcome)
        else:
            cursor.pop()
    assert len(kept) >= len(doc["orders"]) // 2, "most orders fit in one block"
    assert len(kept) < len(doc["orders"]), "conflicting orders (shared victims) fail behind each other"
    snapshot = rpc.call("evm_snapshot")
    try:
        receipts, gain = _mine(rpc, world, [raw for order in kept for raw in order["raw_txs"]])
        at = 0
        for order, outcome in zip(kept, outcomes):
            mine = receipts[at:at + len(order["raw_txs"])]
            at += len(mine)
            assert sum(as_int(r["gasUsed"]) for r in mine) == outcome.gas_used, order["id"]
        assert gain == sum(o.bid for o in outcomes), "the block's value is the sum of the bids in place"
    finally:
        rpc.call("evm_revert", snapshot)
