"""The amm world: state-dependent bids, slippage, bundles sharing a victim, conflicts, undo.

Every test that executes orders runs twice, on the compiled core and on the pure-Python
cursor (the ``load`` fixture); the compiled run is skipped, saying why, when the core is
not built or ``MEVAUCTION_PURE_AMM`` is set.
"""

from __future__ import annotations

import json
import random

import pytest
from amm_fixtures import ETH, two_venues

from mevauction.building.conflicts import conflict_groups
from mevauction.building.large import share_one_transaction
from mevauction.worlds.amm import compiled, from_scenario
from mevauction.worlds.amm.uniswap import cycle_output, get_amount_out, optimal_cycle_input

P0 = (100 * ETH, 200_000 * ETH)  # (WETH, USDC) reserves of p0
P1 = (100 * ETH, 204_000 * ETH)


@pytest.fixture(params=["compiled", "pure"])
def load(request):
    """``from_scenario`` on one execution path: the compiled core or ``AmmCursor``."""
    if request.param == "compiled" and not compiled.available():
        pytest.skip(f"amm world runs {compiled.PATH}")

    def make(doc):
        world = from_scenario(doc)
        if request.param == "pure":
            world.use_pure_cursor()
        assert (type(world.cursor()).__name__ == "AmmCursor") == (request.param == "pure")
        return world
    return make


def arb_profit(p1_weth_usdc, p0_weth_usdc):
    """Independent computation of the cycle WETH →(p1) USDC →(p0) WETH."""
    hops = [p1_weth_usdc, (p0_weth_usdc[1], p0_weth_usdc[0])]
    x = optimal_cycle_input(hops)
    return cycle_output(x, hops) - x


def test_user_swap_pays_its_tip_and_moves_reserves(load):
    world = load(two_venues())
    cur = world.cursor()
    out = cur.push("victim")
    assert out.success and out.bid == 10**15
    usdc = get_amount_out(5 * ETH, *P0)
    reserves, balances = cur.snapshot()
    assert reserves[0:2] == [P0[0] + 5 * ETH, P0[1] - usdc]
    assert balances["USDC:0xa11ce"] == usdc and balances["WETH:0xa11ce"] == 5 * ETH


def test_arbitrage_bid_is_share_of_realised_profit_example_1(load):
    world = load(two_venues())
    profit = arb_profit(P1, P0)
    assert profit > 0
    assert world.evaluate(["arb"]).bids["arb"] == profit * 8000 // 10_000
    # After the victim's swap p0 is cheaper still: the same bundle pays more there.
    usdc = get_amount_out(5 * ETH, *P0)
    later = arb_profit(P1, (P0[0] + 5 * ETH, P0[1] - usdc))
    in_order = world.evaluate(["victim", "arb"])
    assert in_order.bids["arb"] == later * 8000 // 10_000 > profit * 8000 // 10_000
    # Example 1: different bids in different blocks, from the same bid function.
    assert world.evaluate(["arb", "victim"]).bids["arb"] != in_order.bids["arb"]


def test_unprofitable_arbitrage_pays_nothing_and_has_no_effect(load):
    doc = two_venues()
    doc["orders"].append({"id": "arb2", "kind": "arbitrage", "searcher": "0x2", "path": ["p1", "p0"],
                          "share_bps": 9900})
    world = load(doc)
    cur = world.cursor()
    assert cur.push("arb").success
    before = cur.snapshot()
    out = cur.push("arb2")  # the first searcher took the opportunity
    assert (out.success, out.bid, out.error) == (False, 0, "unprofitable")
    assert cur.snapshot() == before
    assert world.evaluate(["arb", "arb2"]).orders == ("arb",)


def test_slippage_limit_fails_the_swap(load):
    doc = two_venues()
    quote = get_amount_out(5 * ETH, *P0)
    doc["orders"][0]["min_out"] = quote + 1
    world = load(doc)
    out = world.cursor().push("victim")
    assert not out.success and out.bid == 0 and "INSUFFICIENT_OUTPUT_AMOUNT" in out.error
    doc["orders"][0]["min_out"] = quote
    assert load(doc).cursor().push("victim").success


def test_exact_output_swap_uses_get_amount_in(load):
    doc = two_venues()
    doc["orders"][4] = {"id": "dai", "kind": "swap", "sender": "0xb0b", "pool": "p2", "token_in": "WETH",
                        "amount_out": 1_000 * ETH, "max_in": ETH, "tip": 7}
    cur = load(doc).cursor()
    assert cur.push("dai").bid == 7
    # 50e18·1000e18·1000 / ((100,000e18 − 1,000e18)·997) + 1
    spent = 50 * ETH * 1_000 * ETH * 1000 // ((100_000 - 1_000) * ETH * 997) + 1
    assert cur.snapshot()[1]["WETH:0xb0b"] == ETH - spent
    doc["orders"][4]["max_in"] = spent - 1
    assert not load(doc).cursor().push("dai").success


def test_sandwich_front_runs_within_the_victims_limit_and_pays_share_plus_tip(load):
    world = load(two_venues())
    out = world.cursor().push("sand")
    assert out.success
    bought = get_amount_out(2 * ETH, *P0)
    r = (P0[0] + 2 * ETH, P0[1] - bought)
    victim_out = get_amount_out(5 * ETH, *r)
    r = (r[0] + 5 * ETH, r[1] - victim_out)
    back = get_amount_out(bought, r[1], r[0])
    assert out.bid == (back - 2 * ETH) * 7000 // 10_000 + 10**15


def test_sandwich_that_breaks_the_victims_limit_fails_whole(load):
    doc = two_venues()
    doc["orders"][3]["amount_in"] = 15 * ETH
    world = load(doc)
    cur = world.cursor()
    out = cur.push("sand")
    assert not out.success and out.bid == 0
    assert cur.snapshot() == (world.initial_reserves, world.initial_balances)


def test_sandwich_and_backrun_share_the_victim_transaction(load):
    world = load(two_venues())
    assert share_one_transaction(world, ["victim", "back", "sand"])
    assert world.conflict_access("back").conflicts_with(world.conflict_access("sand"))
    # Executing both would spend the victim's WETH twice: the second one fails.
    assert world.evaluate(["sand", "back"]).orders == ("sand",)


def test_orders_on_untouched_pools_and_balances_are_conflict_free():
    world = from_scenario(two_venues())
    groups = conflict_groups(list(world.orders), world.conflict_access)
    assert sorted(map(sorted, groups)) == [["arb", "back", "sand", "victim"], ["dai"], ["pay"]]
    assert world.access("dai").writes == {"pool:p2", "bal:WETH:0xb0b", "bal:DAI:0xb0b"}
    assert world.access("pay").writes == {"bal:USDC:0xb0b", "bal:USDC:0xcafe"}


def test_kind_and_target_are_structural():
    world = from_scenario(two_venues())
    got = {oid: (o.kind, o.target) for oid, o in world.orders.items()}
    assert got == {"victim": ("swap", "p0"), "arb": ("arbitrage", "p1"), "back": ("backrun", "p0"),
                   "sand": ("sandwich", "p0"), "dai": ("swap", "p2"), "pay": ("transfer", "USDC")}


def test_transfers_commute_only_when_every_sender_is_covered(load):
    doc = two_venues()
    doc["orders"] = [{"id": f"t{k}", "kind": "transfer", "token": "USDC", "from": "0xb0b", "to": f"0x{k}",
                      "amount": 20_000 * ETH, "tip": k} for k in range(2)]
    assert load(doc).commutative(["t0", "t1"])
    doc["orders"].append({"id": "t2", "kind": "transfer", "token": "USDC", "from": "0xb0b", "to": "0x9",
                          "amount": 20_000 * ETH, "tip": 5})
    world = load(doc)
    assert not world.commutative(["t0", "t1", "t2"])  # 60,000 > Bob's 50,000: order matters
    assert world.evaluate(["t0", "t1", "t2"]).orders != world.evaluate(["t2", "t1", "t0"]).orders


def test_push_pop_restores_the_parent_state_exactly(load):
    world = load(two_venues())
    cur = world.cursor()
    rng = random.Random(4)
    ids = list(world.orders)
    depth = 0
    for _ in range(300):
        if depth and rng.random() < 0.45:
            cur.pop()
            depth -= 1
        else:
            cur.push(rng.choice(ids))  # failed pushes push a frame too
            depth += 1
    for _ in range(depth):
        cur.pop()
    # A balance first written inside a popped frame is restored to 0 (= absent).
    assert cur.snapshot() == (world.initial_reserves, world.initial_balances) and cur.depth() == (0, 0)


def test_scenario_round_trips_through_to_json():
    world = from_scenario(two_venues())
    doc = json.loads(json.dumps({"format": "mevauction.scenario/1", "world": world.to_json(),
                                 "orders": world.orders_json()}))
    again = from_scenario(doc)
    assert again.to_json() == world.to_json() and again.orders_json() == world.orders_json()
    for seq in (["victim", "arb", "sand", "back", "dai", "pay"], ["arb", "sand", "victim"]):
        assert again.evaluate(seq) == world.evaluate(seq)


def _set(path, value):
    def mutate(doc):
        *head, last = path
        obj = doc
        for key in head:
            obj = obj[key]
        if value is KeyError:
            del obj[last]
        else:
            obj[last] = value
    return mutate


@pytest.mark.parametrize("mutate, field", [
    (_set(["world", "pools"], []), "world.pools"),
    (_set(["world", "pools", 1, "id"], "p0"), "world.pools[1].id"),
    (_set(["world", "pools", 0, "reserve0"], -1), "world.pools[0].reserve0"),
    (_set(["world", "pools", 0, "reserve1"], 2**112), "world.pools[0].reserve1"),
    (_set(["world", "pools", 2, "token1"], "WETH"), "world.pools[2].token1"),
    (_set(["world", "balances", "WETH", "0xa11ce"], 1.5), "world.balances.WETH.0xa11ce"),
    (_set(["orders", 0, "pool"], "p9"), "orders[0].pool"),
    (_set(["orders", 0, "token_in"], "DAI"), "orders[0].token_in"),
    (_set(["orders", 0, "min_out"], KeyError), "orders[0].min_out"),
    (_set(["orders", 0, "tip"], "lots"), "orders[0].tip"),
    (_set(["orders", 1, "share_bps"], 12_000), "orders[1].share_bps"),
    (_set(["orders", 1, "path"], ["p1"]), "orders[1].path"),
    (_set(["orders", 1, "path"], ["p1", "p2"]), "orders[1].path[1]"),
    (_set(["orders", 1, "path", 0], "nope"), "orders[1].path[0]"),
    (_set(["orders", 2, "victim"], "arb"), "orders[2].victim"),
    (_set(["orders", 3, "txs"], ["0xf1", "0xother", "0xf2"]), "orders[3].txs[1]"),
    (_set(["orders", 3, "amount_in"], 0), "orders[3].amount_in"),
    (_set(["orders", 4, "kind"], "bundle"), "orders[4].kind"),
    (_set(["orders", 4, "target"], "p0"), "orders[4].target"),
    (_set(["orders", 5, "from"], KeyError), "orders[5].from"),
])
def test_bad_fields_raise_input_error_naming_the_field(mutate, field):
    from mevauction.errors import InputError

    doc = two_venues()
    mutate(doc)
    with pytest.raises(InputError) as info:
        from_scenario(doc)
    assert info.value.field == field
