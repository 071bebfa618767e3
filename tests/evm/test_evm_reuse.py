"""Reused outcomes (worlds/evm/reuse.py) give exactly what executing again gives.

Each test runs the same work on two worlds of one scenario: one with outcome reuse
(the default) and one with it switched off (``executor.outcomes = None``, every push
executes), and requires identical outcomes, blocks, refunds and counterfactuals.
"""

import json
import random

import pytest

from conftest import ETHER, GWEI, scenario, signed, user_key
from mevauction.building.default import DefaultBuilder
from mevauction.intake.workloads.evm import generate
from mevauction.worlds import build_world

# Reverts unless the fee recipient's balance is zero: its outcome depends on what the
# block paid before it (COINBASE BALANCE PUSH1 6 JUMPI STOP JUMPDEST PUSH1 0 DUP1 REVERT).
TOP_ONLY = "0x413160065700" + "5b600080fd"
TOP_ONLY_ADDRESS = "0x" + "70" * 20


def pair(doc: dict):
    reused, plain = build_world(doc), build_world(doc)
    plain.executor.outcomes = None
    return reused, plain


def random_walk(world, ids: list[str], seed: int, steps: int) -> list:
    """Pushes and pops chosen by a seeded coin, on one cursor; every outcome, and the
    block left at the end evaluated, so writes that a reuse skipped would show."""
    rng = random.Random(seed)
    cursor = world.cursor()
    depth, seen = 0, []
    for _ in range(steps):
        if depth and rng.random() < 0.45:
            cursor.pop()
            depth -= 1
            seen.append("pop")
        else:
            out = cursor.push(rng.choice(ids))
            if out.success:
                depth += 1
            else:
                cursor.pop()  # a failed push has no effect; its frame goes as in the builders
            seen.append(out)
    seen.append(world.evaluate(ids))
    return seen


@pytest.fixture(scope="module")
def slots():
    return [json.loads(json.dumps(generate(n, seed=seed))) for n, seed in ((36, 11), (48, 12), (30, 13))]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_random_push_pop_walks_match_plain_execution(slots, index):
    reused, plain = pair(slots[index])
    ids = list(reused.orders)
    for seed in range(3):
        few = ids[seed * 9:seed * 9 + 9]  # few orders: the walk comes back to states it saw
        assert random_walk(reused, few, seed, 160) == random_walk(plain, few, seed, 160)
    assert reused.executor.reused > 50 and plain.executor.reused == 0  # the reuse path ran


@pytest.mark.slow  # default + refunds on generated slots, twice each (≈ 5 s)
@pytest.mark.parametrize("index", [0, 1, 2])
def test_default_and_refunds_match_plain_execution(slots, index):
    reused, plain = pair(slots[index])
    a = DefaultBuilder(8, index).solve(reused, list(reused.orders))
    b = DefaultBuilder(8, index).solve(plain, list(plain.orders))
    assert a.block == b.block
    assert a.refunds == b.refunds
    assert a.counterfactual == b.counterfactual


def coinbase_reader_slot(genesis) -> dict:
    doc = scenario(genesis, [])
    doc["world"]["state"][TOP_ONLY_ADDRESS] = {"balance": "0x0", "nonce": 1, "code": TOP_ONLY}
    doc["orders"] = [
        {"id": "tip", "raw_txs": [signed(user_key(0), "0x" + "71" * 20, value=1, gas=21_000, tip=GWEI)]},
        {"id": "top-only", "raw_txs": [signed(user_key(1), TOP_ONLY_ADDRESS, gas=60_000, tip=2 * GWEI)]},
        {"id": "other", "raw_txs": [signed(user_key(2), "0x" + "72" * 20, value=ETHER, gas=21_000, tip=GWEI)]},
    ]
    return doc


def test_an_order_reading_the_fee_recipients_balance_is_not_reused_across_balances(genesis):
    """The attacker's case: the same order on a state that differs only in what the
    fee recipient was paid must run again, not reuse its top-of-block success."""
    reused, plain = pair(coinbase_reader_slot(genesis))
    for world in (reused, plain):
        cursor = world.cursor()
        assert cursor.push("top-only").success  # remembered at the top
        cursor.pop()
        assert cursor.push("tip").success
        assert not cursor.push("top-only").success  # the fee recipient holds a tip now
    walks = [random_walk(w, ["tip", "top-only", "other"], 5, 120) for w in (reused, plain)]
    assert walks[0] == walks[1]


def test_a_reused_push_reaches_the_database_when_the_block_goes_on(genesis):
    reused, plain = pair(coinbase_reader_slot(genesis))
    for world in (reused, plain):
        cursor = world.cursor()
        cursor.push("other")
        cursor.pop()  # remembered while still open: its writes are not known yet
        cursor.push("other")  # reused: deferred
        assert cursor.push("tip").success  # settles it: executed again, then finalised
    assert reused.executor.balance("0x" + "72" * 20) == plain.executor.balance("0x" + "72" * 20) == ETHER
    for world in (reused, plain):
        world.cursor()  # back to the parent state
    assert reused.executor.balance("0x" + "72" * 20) == 0
    assert reused.executor.prefix == [0]
