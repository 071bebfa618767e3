"""The partial-order reduction of ``search.exhaustive`` changes nothing: o*, every
counterfactual maximum and the blocks attaining them equal those of the plain
depth-first walk over all orderings of all subsets (written out here, unreduced)."""

from __future__ import annotations

import random

import pytest

from mevauction.building import large, search
from mevauction.building.conflicts import conflict_groups
from mevauction.intake import workloads
from mevauction.worlds import build_world
from mevauction.worlds.table import from_scenario


def unreduced(world, members):
    """Every ordered subset, depth first in index order; failed orders skip the branch."""
    n = len(members)
    txs = [set(world.orders[m].txs) for m in members]
    best = [0, ()]
    without = [0] * n
    without_path = [()] * n
    cursor = world.cursor()
    path, bids = [], {}

    def visit(total):
        for idx in range(n):
            if idx in bids or any(txs[idx] & txs[j] for j in bids):
                continue
            out = cursor.push(members[idx])
            if out.success:
                path.append(idx)
                bids[idx] = out.bid
                value = total + out.bid
                if value > best[0]:
                    best[:] = [value, tuple(path)]
                for j in range(n):
                    if value - bids.get(j, 0) > without[j]:
                        without[j] = value - bids.get(j, 0)
                        without_path[j] = tuple(path)
                visit(value)
                path.pop()
                del bids[idx]
            cursor.pop()

    visit(0)
    name = lambda p: tuple(members[i] for i in p)
    return best[0], name(best[1]), without, [name(p) for p in without_path]


def assert_same(world, members):
    value, orders, without, paths = unreduced(world, members)
    result = search.exhaustive(world, members)
    assert result.value == value
    assert result.block.orders == world.evaluate(orders).orders
    assert [result.best_without[m] for m in members] == without
    assert [result.counterfactual[m] for m in members] == paths


def sparse_table(seed: int, n: int):
    """n orders on few keys, so some pairs commute and some conflict."""
    rng = random.Random(seed)
    keys = ["a", "b", "c", "d"]
    ids = [f"o{i}" for i in range(n)]
    docs = []
    for oid in ids:
        own = rng.sample(keys, rng.randint(1, 2))
        txs = [f"0x{oid}"] + (["0xvictim"] if rng.random() < 0.25 else [])
        after = {}
        for _ in range(rng.randint(0, 4)):
            seq = rng.sample([x for x in ids if x != oid], rng.randint(1, 2))
            after[",".join(seq)] = rng.randint(0, 90)
        docs.append({"id": oid, "reads": own, "writes": own[:1], "txs": txs,
                     "bid": {"default": rng.randint(0, 60), "after": after}})
    return from_scenario({"world": {"kind": "table"}, "orders": docs}), ids


@pytest.mark.parametrize("seed", range(12))
def test_reduction_is_exact_on_random_table_groups(seed):
    world, ids = sparse_table(seed, 6)
    assert_same(world, ids)


@pytest.mark.parametrize("seed", [3, 11])
def test_reduction_is_exact_on_amm_groups(seed):
    world = build_world(workloads.generate("amm", 150, seed))
    groups = [g for g in conflict_groups(list(world.orders), world.conflict_access) if len(g) > 2]
    checked = 0
    for group in groups:
        members = group if len(group) < 7 else large.select(group, 6, seed)
        assert_same(world, members)
        checked += 1
    assert checked >= 3
