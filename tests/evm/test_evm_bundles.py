"""Bundle semantics, read/write sets and the paper's Example 1 on real contracts."""

from eth_hash.auto import keccak

from conftest import ETHER, GWEI, address_of, scenario, signed, user_key
from mevauction.intake.workloads.evm import key_for
from mevauction.worlds.evm.contracts import calldata
from mevauction.worlds.evm.world import from_scenario

PAYEE = "0x" + "ab" * 20


def hashmap_slot(slot: int, key: str) -> int:
    """Vyper's HashMap layout: keccak256(slot ‖ key)."""
    return int.from_bytes(keccak(slot.to_bytes(32, "big") + bytes.fromhex(key[2:]).rjust(32, b"\0")), "big")


def swap_raw(genesis, user: int, amount: int, min_out: int = 0, nonce: int = 0) -> str:
    pool_a = genesis.pools[0][0]
    data = calldata("swap(address,address,uint256,uint256,address)", pool_a, genesis.weth, amount, min_out,
                    address_of(user_key(user)))
    return signed(user_key(user), genesis.router, data=data, nonce=nonce, gas=200_000, tip=2 * GWEI)


def arb_raw(genesis, bot: int, share_bps: int = 8000, required: str = "0x" + "00" * 20) -> str:
    pool_a, pool_b = genesis.pools[0]
    # After a victim buys the token on A, it is cheap on B: buy on B, sell on A.
    data = calldata("arb(address,address,uint256,address)", pool_b, pool_a, share_bps, required)
    return signed(key_for(7, "searcher", bot), genesis.bots[bot][1], data=data, nonce=1, gas=400_000, tip=GWEI)


def transfer_raw(genesis, user: int, to: str, amount: int = ETHER, nonce: int = 0) -> str:
    return signed(user_key(user), genesis.tokens[0], data=calldata("transfer(address,uint256)", to, amount),
                  nonce=nonce, gas=100_000)


def tx_hash(raw: str) -> str:
    return "0x" + keccak(bytes.fromhex(raw[2:])).hex()


def weth_balance(world, weth: str, holder: str) -> int:
    return world.executor.storage(weth, hashmap_slot(0, holder))


def test_bundle_is_all_or_nothing_unless_reverting_allowed(genesis):
    good = transfer_raw(genesis, 0, PAYEE)
    bad = swap_raw(genesis, 1, ETHER, min_out=10**40)  # slippage bound cannot be met: reverts
    orders = [
        {"id": "strict", "raw_txs": [good, bad]},
        {"id": "lenient", "raw_txs": [good, bad], "revertingTxHashes": [tx_hash(bad)]},
        {"id": "alone", "raw_txs": [good]},
    ]
    world = from_scenario(scenario(genesis, orders))
    strict, lenient, alone = world.top["strict"], world.top["lenient"], world.top["alone"]
    assert not strict.success and "reverted: slippage" in strict.error and strict.coinbase_delta == 0
    assert lenient.success and lenient.txs[1].status == "reverted"
    # The reverted swap still pays its priority fee for the gas it burned.
    assert lenient.coinbase_delta == alone.coinbase_delta + lenient.txs[1].gas_used * 2 * GWEI
    cur = world.cursor()
    assert not cur.push("strict").success
    assert cur.push("alone").bid == alone.coinbase_delta  # the failed bundle left no trace


def test_dropping_tx_hashes_leave_failing_txs_out(genesis):
    good = transfer_raw(genesis, 0, PAYEE)
    gap = transfer_raw(genesis, 2, PAYEE, nonce=7)
    orders = [{"id": "b", "bundle": {"txs": [gap, good], "droppingTxHashes": [tx_hash(gap)],
                                     "blockNumber": "0x1"}},
              {"id": "late", "bundle": {"txs": [good], "blockNumber": "0x2"}}]
    world = from_scenario(scenario(genesis, orders))
    result = world.top["b"]
    assert result.success and [t.status for t in result.txs] == ["invalid", "ok"]
    assert result.gas_used == result.txs[1].gas_used
    assert "targets block 2" in world.top["late"].error


def test_erc20_transfer_read_write_set_by_hand(genesis):
    world = from_scenario(scenario(genesis, [{"id": "t", "raw_txs": [transfer_raw(genesis, 0, PAYEE)],
                                              "kind": "transfer", "target": genesis.tokens[0]}]))
    token, user = genesis.tokens[0], address_of(user_key(0))
    acc = world.access("t")
    mine, theirs = f"slot:{token}:{hashmap_slot(0, user):x}", f"slot:{token}:{hashmap_slot(0, PAYEE):x}"
    assert acc.writes == {mine, theirs, f"nonce:{user}", f"balance:{user}"}
    assert {mine, theirs, f"code:{token}", f"balance:{user}", f"nonce:{user}"} <= acc.reads
    assert not any(k.startswith("slot:") for k in acc.reads - {mine, theirs})


def test_swap_writes_reserves_and_same_payee_transfers_commute(genesis):
    pool_a = genesis.pools[0][0]
    orders = [{"id": "s", "raw_txs": [swap_raw(genesis, 1, ETHER)], "kind": "swap", "target": pool_a},
              {"id": "t0", "raw_txs": [transfer_raw(genesis, 0, PAYEE)], "kind": "transfer",
               "target": genesis.tokens[0]},
              {"id": "t2", "raw_txs": [transfer_raw(genesis, 2, PAYEE)], "kind": "transfer",
               "target": genesis.tokens[0]}]
    world = from_scenario(scenario(genesis, orders))
    writes = world.access("s").writes
    assert {f"slot:{pool_a}:2", f"slot:{pool_a}:3"} <= writes  # reserve0, reserve1 (storage layout)
    assert world.access("t0").conflicts_with(world.access("t2"))
    assert not world.access("s").conflicts_with(world.access("t0"))
    # Labels prove nothing: to an empty payee the first transfer pays the 20,000-gas
    # zero-to-nonzero store, so the bids depend on the order and the set is refused.
    assert not world.commutative(["t0", "t2"])
    holder = address_of(user_key(1))  # already holds the token: every order costs the same
    paid = [{"id": f"h{u}", "raw_txs": [transfer_raw(genesis, u, holder)]} for u in (0, 2)]
    world = from_scenario(scenario(genesis, paid))
    assert world.commutative(["h0", "h2"])


def test_example_1_blind_arbitrage_pays_80_percent_and_depends_on_order(genesis):
    victim = swap_raw(genesis, 3, 40 * ETHER)
    orders = [{"id": "v", "raw_txs": [victim], "kind": "swap"},
              {"id": "s0", "raw_txs": [arb_raw(genesis, 0)], "kind": "arbitrage"},
              {"id": "s1", "raw_txs": [arb_raw(genesis, 1)], "kind": "arbitrage"}]
    world = from_scenario(scenario(genesis, orders))
    bot0 = genesis.bots[0][1]
    cur = world.cursor()
    cur.push("v")
    before = weth_balance(world, genesis.weth, bot0)
    out = cur.push("s0")
    profit = weth_balance(world, genesis.weth, bot0) - before
    assert out.success and profit > 0
    assert out.bid == profit * 8000 // 10000 + out.gas_used * GWEI  # 80% of realised profit + priority fee
    first = world.evaluate(["v", "s0", "s1"]).bids
    second = world.evaluate(["v", "s1", "s0"]).bids
    assert first.get("s0", 0) != second.get("s0", 0)  # b_i depends on the state it executes in
    assert first.get("s0", 0) > second.get("s0", 0)
    assert world.evaluate(["s0"]).bids.get("s0", 0) < first["s0"]  # no victim before it: little or nothing


def test_coinbase_gated_arbitrage_is_a_noop_under_the_one_time_address(genesis):
    target = "0x" + "b1" * 20
    victim = swap_raw(genesis, 3, 40 * ETHER)
    orders = [{"id": "v", "raw_txs": [victim]},
              {"id": "g", "raw_txs": [arb_raw(genesis, 2, required=target)]}]
    default_run = from_scenario(scenario(genesis, orders))
    integrated = from_scenario(scenario(genesis, orders, coinbase=target))
    assert default_run.block.coinbase != target
    plain = default_run.evaluate(["v", "g"]).bids["g"]
    paid = integrated.evaluate(["v", "g"]).bids["g"]
    assert plain < 10**15 < paid  # only the priority fee vs. a share of the arbitrage
