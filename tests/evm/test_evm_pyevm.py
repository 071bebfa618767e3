"""Read/write sets, gas and bids of the evm world checked against py-evm.

The world captures read/write sets from revm's journal (through pyrevm),
charges gas itself and finalises each transaction into pyrevm's database;
py-evm is an unrelated EVM implementation. The same signed transactions run from the same parent state must
touch the same accounts and storage slots, write the same slots, balances and
nonces, use the same gas and pay the fee recipient the same amount.
"""

import json

import pytest
import rlp
from eth_hash.auto import keccak
from pyevm_oracle import PyEvmChain
from test_evm_bundles import PAYEE, arb_raw, swap_raw, transfer_raw, tx_hash

from conftest import ETHER, GWEI, address_of, scenario, signed, user_key
from mevauction.eth.transactions import ACCESS_LIST, LEGACY
from mevauction.intake.workloads.evm import generate
from mevauction.worlds import build_world
from mevauction.worlds.evm.contracts import calldata
from mevauction.worlds.evm.world import from_scenario


def kinds(keys, prefix: str) -> set[str]:
    return {k for k in keys if k.startswith(prefix)}


def assert_same_as_pyevm(world, chain: PyEvmChain, order_id: str, raws: list[str]) -> None:
    """The world's top-of-block result and access set for ``order_id`` equal py-evm's."""
    traces = chain.run(raws)
    top, acc = world.top[order_id], world.access(order_id)
    assert top.success, top.error
    assert [t.gas_used for t in top.txs] == [t.gas_used for t in traces], order_id
    assert [t.status == "ok" for t in top.txs] == [t.success for t in traces], order_id
    assert top.coinbase_delta == sum(t.coinbase_delta for t in traces), order_id
    touched = set().union(*(t.slots for t in traces))
    written = set().union(*(t.writes for t in traces))
    accounts = set().union(*(t.accounts for t in traces))
    assert kinds(acc.reads | acc.writes, "slot:") == touched, order_id
    assert acc.writes == written, order_id  # slots, balances and nonces changed
    assert {k.removeprefix("code:") for k in kinds(acc.reads, "code:")} == accounts, order_id
    assert set().union(*(t.balance_reads for t in traces)) <= acc.reads, order_id


@pytest.fixture(scope="module")
def known_calls(genesis):
    """Known calls on the project's contracts, each an order of its own."""
    weth, token = genesis.weth, genesis.tokens[0]
    pool_a = genesis.pools[0][0]
    u = [user_key(i) for i in range(4)]
    victim = swap_raw(genesis, 3, 40 * ETHER)
    failing = swap_raw(genesis, 2, ETHER, min_out=10**40)
    listed = signed(u[2], genesis.router, tx_type=ACCESS_LIST, tip=GWEI, gas=200_000, nonce=0,
                    max_fee=11 * GWEI, access_list=((pool_a, (2, 3, 9)), (PAYEE, ())),
                    data=calldata("swap(address,address,uint256,uint256,address)", pool_a, token, 1000 * ETHER,
                                  0, address_of(u[2])))
    return {
        "erc20-transfer": [transfer_raw(genesis, 0, PAYEE)],
        "weth-deposit": [signed(u[1], weth, value=3 * ETHER, data=calldata("deposit()"), gas=80_000)],
        "weth-withdraw": [signed(u[1], weth, data=calldata("withdraw(uint256)", ETHER), gas=80_000, nonce=0)],
        "weth-total-supply": [signed(u[0], weth, data=calldata("totalSupply()"), gas=60_000, tx_type=LEGACY,
                                     max_fee=11 * GWEI)],
        "pair-swap": [swap_raw(genesis, 1, 2 * ETHER)],
        "swap-with-access-list": [listed],
        "ether-transfer": [signed(u[0], PAYEE, value=ETHER, gas=21_000)],
        "reverting-swap": [failing],
        "backrun-arbitrage": [victim, arb_raw(genesis, 0)],
        "arbitrage-alone": [arb_raw(genesis, 1)],
    }


def test_known_calls_match_pyevm(genesis, known_calls):
    failing = known_calls["reverting-swap"][0]
    orders = [{"id": oid, "raw_txs": raws} for oid, raws in known_calls.items()]
    orders[list(known_calls).index("reverting-swap")]["revertingTxHashes"] = [tx_hash(failing)]
    world = from_scenario(scenario(genesis, orders))
    chain = PyEvmChain(genesis.accounts, world.block)
    for oid, raws in known_calls.items():
        if oid == "arbitrage-alone" and not world.top[oid].success:
            continue  # pools in line at the top of the block: nothing to compare
        assert_same_as_pyevm(world, chain, oid, raws)
    assert world.top["reverting-swap"].txs[0].status == "reverted"
    assert f"balance:{genesis.weth}" in world.access("weth-total-supply").reads  # SELFBALANCE


@pytest.mark.slow  # > 1 s CPU (py-evm replay of a generated slot)
def test_generated_slot_matches_pyevm_at_the_top_of_the_block():
    doc = json.loads(json.dumps(generate(30, seed=5)))
    world = build_world(doc)
    chain = PyEvmChain(world.accounts, world.block)
    for order in doc["orders"]:
        assert_same_as_pyevm(world, chain, order["id"], order["raw_txs"])


@pytest.mark.slow  # > 1 s CPU (py-evm replay)
def test_block_of_orders_matches_pyevm_gas_and_bids():
    """A whole block: later transactions see earlier ones' state but start cold (EIP-2929)."""
    doc = json.loads(json.dumps(generate(30, seed=6)))
    world = build_world(doc)
    raws = {o["id"]: o["raw_txs"] for o in doc["orders"]}
    sequence = sorted(raws, key=lambda oid: -world.top[oid].coinbase_delta)  # greedy by top-of-block bid
    cur = world.cursor()
    included, outcomes = [], []
    for oid in sequence:
        out = cur.push(oid)
        if out.success:
            included.append(oid)
            outcomes.append(out)
        else:
            cur.pop()
    assert len(included) >= 6 and sum(len(raws[oid]) > 1 for oid in included) >= 3
    # Later orders touch state earlier ones warmed: where an unfinalised journal undercharges.
    touched = [world.access(oid).reads for oid in included]  # contracts called by several orders
    assert any(keys & set().union(*touched[:i]) - {f"code:{world.block.coinbase}"} for i, keys in enumerate(touched))
    chain = PyEvmChain(world.accounts, world.block)
    traces = iter(chain.run([raw for oid in included for raw in raws[oid]]))
    for oid, out in zip(included, outcomes):
        mine = [next(traces) for _ in raws[oid]]
        assert out.gas_used == sum(t.gas_used for t in mine), oid
        assert out.bid == sum(t.coinbase_delta for t in mine), oid


def test_block_sharing_slots_matches_pyevm(genesis, known_calls):
    """Orders writing the same pool and token slots one after another, then popped and redone."""
    second = transfer_raw(genesis, 2, PAYEE)  # writes PAYEE's token balance again
    plan = {"swap": known_calls["pair-swap"], "backrun": known_calls["backrun-arbitrage"],
            "t0": known_calls["erc20-transfer"], "t2": [second]}
    world = from_scenario(scenario(genesis, [{"id": oid, "raw_txs": raws} for oid, raws in plan.items()]))
    assert world.access("swap").conflicts_with(world.access("backrun"))
    assert world.access("t0").conflicts_with(world.access("t2"))
    cur = world.cursor()
    first = [cur.push(oid) for oid in plan]
    cur.pop()
    cur.pop()
    again = [cur.push(oid) for oid in ("t0", "t2")]
    assert first[2:] == again  # pop undid the database writes exactly
    traces = PyEvmChain(genesis.accounts, world.block).run([raw for raws in plan.values() for raw in raws])
    gas = [t.gas_used for t in traces]
    bids = [t.coinbase_delta for t in traces]
    assert [o.gas_used for o in first] == [gas[0], gas[1] + gas[2], gas[3], gas[4]]
    assert [o.bid for o in first] == [bids[0], bids[1] + bids[2], bids[3], bids[4]]
    assert all(o.success for o in first) and all(t.success for t in traces)


# A factory: CREATE a contract whose code is one STOP byte, store its address in slot 0.
INIT = bytes.fromhex("6000600053" "60016000f3")
FACTORY = bytes.fromhex("69") + INIT + bytes.fromhex("600052" "600a60166000f0" "600055" "00")


def created_address(creator: str, nonce: int) -> str:
    return "0x" + keccak(rlp.encode([bytes.fromhex(creator[2:]), nonce]))[12:].hex()


def test_contract_creation_inside_a_call_matches_pyevm(genesis):
    """CREATE writes code and two nonces; finalising must carry them into the next order."""
    factory = "0x" + "fa" * 20
    first = signed(user_key(0), factory, gas=100_000)
    second = signed(user_key(1), factory, gas=100_000)
    doc = scenario(genesis, [{"id": "c0", "raw_txs": [first]}, {"id": "c1", "raw_txs": [second]}])
    doc["world"]["state"][factory] = {"nonce": 1, "code": "0x" + FACTORY.hex()}
    world = from_scenario(doc)
    chain = PyEvmChain(world.accounts, world.block)
    assert_same_as_pyevm(world, chain, "c0", [first])
    one, two = created_address(factory, 1), created_address(factory, 2)
    assert {f"code:{one}", f"nonce:{one}", f"nonce:{factory}"} <= world.access("c0").writes
    cur = world.cursor()
    outs = [cur.push("c0"), cur.push("c1")]
    assert f"0x{world.executor.storage(factory, 0):040x}" == two  # c1 saw the nonce c0 left
    cur.pop()
    assert cur.push("c1") == outs[1] and world.executor.nonce(factory) == 3
    traces = chain.run([first, second])
    assert [o.gas_used for o in outs] == [t.gas_used for t in traces]
    assert [o.bid for o in outs] == [t.coinbase_delta for t in traces]
