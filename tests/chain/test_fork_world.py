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

from mevauction.chain.contracts import calldata
from mevauction.chain.deploy import DeploymentError, Layout, deploy, read_deployment
from mevauction.chain.node import Anvil
from mevauction.chain.rpc import as_int, quantity
from mevauction.chain.state import dump_accounts, next_block
from mevauction.errors import InputError
from mevauction.eth.transactions import DYNAMIC_FEE, bundle_hash, decode, sign
from mevauction.intake.workloads.uniswap import SWAP, _generate
from mevauction.worlds.evm.callbundle import BundleInvalid, CallBundleRequest, parse_call_bundle
from mevauction.worlds.evm.fork import StateCache, call_bundle_on_node, fork_world, world_json
from mevauction.worlds.evm.state import AccountState, parse_state
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


def test_state_cache_kept_by_block_diffs_equals_a_fresh_dump(node):
    _, rpc, _, doc = node
    snapshot = rpc.call("evm_snapshot")
    try:
        cache = StateCache()
        first = fork_world(rpc, doc["orders"], prefetch=cache)
        assert cache.dumps == 1
        sent: set[str] = set()
        for order in doc["orders"]:  # a block of real swaps, backruns and transfers (some revert)
            for raw in order["raw_txs"]:
                if raw not in sent:
                    sent.add(raw)
                    rpc.call("eth_sendRawTransaction", raw)
        rpc.call("evm_mine")
        rpc.call("evm_mine")  # and an empty one
        again = fork_world(rpc, doc["orders"], prefetch=cache)
        assert (cache.dumps, cache.diffs) == (1, 2), "kept by the two blocks' diffs, not dumped again"
        fresh = from_scenario({"world": world_json(rpc, prefetch="dump"), "orders": doc["orders"]})
        dumped = dump_accounts(rpc)
        assert dumped is not None
        empty = AccountState()
        state = parse_state(dumped[1])
        differ = {a for a in set(state) | set(cache.accounts) if state.get(a, empty) != cache.accounts.get(a, empty)}
        assert not differ, f"cache and dump differ at {sorted(differ)[:3]}"
        assert again.block.number == first.block.number + 2
        for oid in again.orders:
            assert again.top[oid] == fresh.top[oid], oid
        assert not all(r.success for r in again.top.values()), "the nonces were used: orders are now invalid"
    finally:
        rpc.call("evm_revert", snapshot)


def test_call_bundle_on_the_head_is_what_anvil_mines(node):
    _, rpc, _, doc = node
    backrun = next(o for o in doc["orders"] if o["kind"] == "backrun")
    coinbase = "0x" + "c0" * 20
    head = rpc.block_number()
    request = parse_call_bundle([{"txs": backrun["raw_txs"], "blockNumber": hex(head + 1),
                                  "stateBlockNumber": "latest", "coinbase": coinbase}])
    answer = call_bundle_on_node(rpc, request, StateCache())
    lazy = call_bundle_on_node(rpc, request)  # the lazy fork gives the same answer
    assert answer == lazy
    assert answer["stateBlockNumber"] == head and answer["totalGasUsed"] > 0
    snapshot = rpc.call("evm_snapshot")
    try:
        nxt = next_block(rpc)
        rpc.call("anvil_setCoinbase", coinbase)
        rpc.call("evm_setNextBlockTimestamp", quantity(nxt.timestamp))
        hashes = [rpc.call("eth_sendRawTransaction", raw) for raw in backrun["raw_txs"]]
        rpc.call("evm_mine")
        receipts = [rpc.call("eth_getTransactionReceipt", h) for h in hashes]
        assert [r["gasUsed"] for r in receipts] == [hex(x["gasUsed"]) for x in answer["results"]]
        assert int(answer["coinbaseDiff"]) == rpc.balance(coinbase, head + 1)
        tips = [as_int(r["effectiveGasPrice"]) - nxt.base_fee for r in receipts]
        assert [int(x["gasFees"]) for x in answer["results"]] == [
            t * as_int(r["gasUsed"]) for t, r in zip(tips, receipts)]
    finally:
        rpc.call("evm_revert", snapshot)
    arb = answer["results"][1]
    assert int(arb["ethSentToCoinbase"]) > 0, "the searcher contract pays the coinbase directly"
    assert answer["bundleHash"] == backrun_hash(backrun["raw_txs"])
    assert int(answer["bundleGasPrice"]) == int(answer["coinbaseDiff"]) // answer["totalGasUsed"]


def test_call_bundle_reports_reverts_and_refuses_invalid_transactions(node):
    _, rpc, deployment, doc = node
    swap = next(o for o in doc["orders"] if o["kind"] == "swap")
    head = rpc.block_number()
    # The same swap twice: its second copy has a used nonce -> the whole call fails, naming it.
    twice = CallBundleRequest((_tx(swap["raw_txs"][0]),) * 2, head + 1, None)
    with pytest.raises(BundleInvalid, match=r"txs\[1\].*nonce"):
        call_bundle_on_node(rpc, twice)
    with pytest.raises(InputError, match="repeats"):
        parse_call_bundle([{"txs": swap["raw_txs"] * 2, "blockNumber": hex(head + 1)}])
    user = deployment.users[-1]
    pool = deployment.pools[0][0]
    greedy = sign(bytes.fromhex(user.key[2:]), DYNAMIC_FEE, chain_id=31337, nonce=rpc.nonce(user.address),
                  gas_limit=300_000, to=deployment.routers["A"], max_priority_fee=10**9, max_fee=10**11,
                  data=calldata(SWAP, 10**18, 10**40, [deployment.weth, pool.token], user.address, 2**40))
    answer = call_bundle_on_node(rpc, parse_call_bundle([{"txs": ["0x" + greedy.hex()], "blockNumber": hex(head + 1)}]))
    (result,) = answer["results"]
    assert result["error"] == "execution reverted" and "INSUFFICIENT_OUTPUT_AMOUNT" in result["revert"]
    assert result["gasUsed"] > 21_000 and int(result["coinbaseDiff"]) == result["gasUsed"] * 10**9


def _tx(raw: str):
    return decode(bytes.fromhex(raw[2:]))


def backrun_hash(raws: list[str]) -> str:
    return bundle_hash([_tx(r) for r in raws])


def test_deploy_refuses_a_router_whose_pair_hash_does_not_match(node, monkeypatch):
    _, rpc, _, _ = node
    from mevauction.chain import deploy as deploy_module

    monkeypatch.setattr(deploy_module, "router_pair_hash_matches", lambda: False)
    head = rpc.block_number()
    with pytest.raises(DeploymentError, match="init-code hash"):
        deploy(rpc, Layout(seed=77, tokens=1, users=1, searchers=1))
    assert rpc.block_number() == head, "nothing sent"
