"""The amm world's exact speed-ups (issue 15, amm) change no result.

Each speed-up is compared with the plain code it replaces, on seeded and
Hypothesis-drawn amm slots: the default block o* (orders and bids), every refund r_i
and every counterfactual block o_{-i} must be identical.

- ``large.SeededShuffles`` draws the large groups' seeded shuffles without the
  standard library's per-draw method calls: plain is ``random.Random(s).shuffle`` on
  one generator.
- Conflict-free orders run on one cursor (``search.one_order_each``), pushed and
  popped: plain is ``fixed_order`` of each on a fresh cursor.
- The exhaustive search keeps o*'s bids from the walk: plain executes o* again.
- ``AmmWorld.conflict_access`` is made once per order when the world is built:
  plain is ``World.conflict_access`` on every call.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mevauction.building import large, search
from mevauction.building.conflicts import conflict_groups
from mevauction.building.default import DefaultBuilder
from mevauction.intake import workloads
from mevauction.worlds import build_world
from mevauction.worlds.amm.world import AmmWorld
from mevauction.worlds.base import World
from property_settings import examples

SETTINGS = settings(max_examples=examples(12), deadline=None, suppress_health_check=[HealthCheck.too_slow])


class LibraryShuffles:
    """The plain shuffles: the standard library's ``shuffle`` on a fresh generator."""

    def __init__(self, size):
        self.size = size

    def many(self, items, seed, count):
        rng = random.Random(seed)
        out = []
        for _ in range(count):
            one = list(items)
            rng.shuffle(one)
            out.append(one)
        return out


def solution(world, seed):
    sol = DefaultBuilder(8, seed).solve(world, list(world.orders))
    return sol.block.orders, dict(sol.block.bids), sol.refunds, sol.counterfactual


def plain_solution(world, seed, monkeypatch):
    """The default algorithm + refunds with every speed-up off (issue 15's earlier
    ones too), restored afterwards."""
    with monkeypatch.context() as patch:
        patch.setattr(large, "SeededShuffles", LibraryShuffles)
        patch.setattr(AmmWorld, "conflict_access", World.conflict_access)
        patch.setattr(search, "one_order_each",
                      lambda world, ids: {oid: search.fixed_order(world, [oid]) for oid in ids})
        patch.setattr(search, "BRANCH_AND_BOUND", False)
        patch.setattr(large, "FAST_SEQUENCES", False)
        patch.setattr(large, "PREFIX_SHARING", False)
        return solution(world, seed)


def slot(seed, orders, profile):
    return build_world(workloads.generate("amm", orders, seed, **workloads.profile_options("amm", profile)))


@pytest.mark.parametrize(("seed", "profile"), [(11, "mainnet"), (23, "mainnet"), (4, "contested")])
def test_default_and_refunds_equal_plain_on_seeded_slots(seed, profile, monkeypatch):
    world = slot(seed, 160, profile)
    fast = solution(world, seed)
    assert fast == plain_solution(world, seed, monkeypatch)
    assert fast[2]  # refunds were computed, so the comparison covers them


@SETTINGS
@given(st.integers(0, 10**6), st.integers(20, 90), st.sampled_from(["mainnet", "contested"]))
def test_default_and_refunds_equal_plain_on_random_slots(seed, orders, profile):
    world = slot(seed, orders, profile)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert solution(world, seed) == plain_solution(world, seed, monkeypatch)


@SETTINGS
@given(st.integers(0, 2**64), st.integers(0, 140))
def test_seeded_shuffles_are_the_librarys(seed, size):
    items = [f"o{k}" for k in range(size)]
    assert large.SeededShuffles(size).many(items, seed, 3) == LibraryShuffles(size).many(items, seed, 3)


class OffByOneShuffles(LibraryShuffles):
    """A shuffle that drops the library's last draw: a different family."""

    def many(self, items, seed, count):
        rng = random.Random(seed)
        out = []
        for _ in range(count):
            one = list(items)
            for i in reversed(range(2, len(one))):
                j = rng.randrange(i + 1)
                one[i], one[j] = one[j], one[i]
            out.append(one)
        return out


def test_the_comparison_can_fail(monkeypatch):
    """A different shuffle changes some large group's result on these slots."""
    worlds = [(seed, slot(seed, 160, "contested")) for seed in (4, 5)]
    fast = [solution(world, seed) for seed, world in worlds]
    with monkeypatch.context() as patch:
        patch.setattr(large, "SeededShuffles", OffByOneShuffles)
        assert [solution(world, seed) for seed, world in worlds] != fast


@SETTINGS
@given(st.integers(0, 10**6), st.sampled_from(["mainnet", "contested"]))
def test_conflict_free_orders_on_one_cursor_equal_each_alone(seed, profile):
    """``search.one_order_each`` gives what ``fixed_order`` of each order alone gives
    (successful and failing orders both occur on these slots)."""
    world = slot(seed, 80, profile)
    ids = list(world.orders)
    together = search.one_order_each(world, ids)
    assert [together[oid] for oid in ids] == [search.fixed_order(world, [oid]) for oid in ids]


@SETTINGS
@given(st.integers(0, 10**6))
def test_exhaustive_block_equals_its_execution_afresh(seed):
    """o* of every small group carries the bids its orders pay when the block is
    executed again on a fresh cursor (what ``world_block`` did at the end)."""
    world = slot(seed, 120, "mainnet")
    for group in conflict_groups(list(world.orders), world.conflict_access):
        if 2 <= len(group) < 8:
            block = search.exhaustive(world, group).block
            assert block == world.evaluate(block.orders)


def test_conflict_access_made_once_equals_the_worlds_rule():
    """The amm world's conflict access, made when the world is built, is
    ``World.conflict_access`` (its keys plus each transaction as a written key)."""
    world = slot(7, 200, "mainnet")
    assert all(world.conflict_access(oid) == World.conflict_access(world, oid) for oid in world.orders)
