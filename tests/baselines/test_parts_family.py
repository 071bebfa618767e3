"""The parts family of the large-group union (``building/parts.py``, issue 15): the
parts do not depend on bids, the family's maximum and every counterfactual value are
exact over the concatenations of the parts' blocks, and a gas budget still binds."""

from __future__ import annotations

import random

from mevauction.building import large, parts
from mevauction.building.conflicts import conflict_groups
from mevauction.building.gas import GasCappedWorld, declared_gas
from mevauction.intake import workloads
from mevauction.worlds import build_world


def contested(seed: int, shares: list[int] | None = None):
    doc = workloads.generate("amm", 120, seed, **workloads.profile_options("amm", "contested"))
    if shares:
        doc = {**doc, "orders": [dict(o) for o in doc["orders"]]}
        for index, obj in enumerate(doc["orders"]):
            if "share_bps" in obj:
                obj["share_bps"] = shares[index % len(shares)]
    return build_world(doc)


def split_group(world):
    """The largest group that falls apart into two or more parts."""
    for group in sorted(conflict_groups(list(world.orders), world.conflict_access), key=len, reverse=True):
        found = parts.top_of_block_parts(world, group)
        if len(group) >= 8 and found and len(found) >= 2:
            return group, found
    raise AssertionError("no large group with parts on this slot")


def solver(seed: int):
    return lambda w, part: large.solve_group(w, part, 8, seed)


def test_parts_do_not_depend_on_shares():
    for seed in (1, 11, 36):
        group, found = split_group(contested(seed))
        again = parts.top_of_block_parts(contested(seed, [100, 5_000, 10_000]), group)
        assert again == found


def test_maximum_and_counterfactuals_are_exact_over_the_concatenations():
    world = contested(11)  # a group of 12: parts of 4 and 2, both searched exhaustively
    group, found = split_group(world)
    assert all(len(p) < 8 for p in found)
    result = parts.parts_family(world, group, solver(11), True)
    assert result is not None
    executed = world.evaluate(result.block.orders)
    assert executed.value == result.value and executed.bids == result.block.bids
    for oid in group:  # each counterfactual block is worth what the family says
        blk = world.evaluate(result.counterfactual[oid])
        assert blk.value - blk.bids.get(oid, 0) == result.best_without[oid]
    rng = random.Random(0)
    for _ in range(300):  # no concatenation of ordered subsets of the parts beats them
        order = [o for p in found for o in rng.sample(p, rng.randint(0, len(p)))]
        blk = world.evaluate(order)
        assert blk.value <= result.value
        for oid in group:
            assert blk.value - blk.bids.get(oid, 0) <= result.best_without[oid]


def test_every_block_of_the_family_keeps_the_group_budget():
    world = contested(1)
    group, _ = split_group(world)
    budget = declared_gas(world, group) // 3
    capped = GasCappedWorld(world, budget)
    result = parts.parts_family(capped, group, solver(1), True)
    assert result is not None
    assert declared_gas(world, result.block.orders) <= budget
    # Each part given the whole budget would not keep it: the split is what binds.
    unsplit = [o for p in parts.top_of_block_parts(capped, group) or []
               for o in large.solve_group(capped, p, 8, 1, False).block.orders]
    assert declared_gas(world, unsplit) > budget
