"""The exact speed-ups of issue 15 item 4 change nothing.

Branch and bound in ``search.exhaustive``: with bounds on, o*, every counterfactual
value and the blocks attaining them equal those of the walk without bounds and of
the plain unreduced enumeration. The bounds must be admissible (no executed bid
exceeds its order's bound), and they must actually prune. The large-group sequence
runner (``large.SequenceRunner``) offers the same blocks as ``offer_sequence``. The
whole default algorithm, with both on or both off, gives the same o*, refunds r_i
and counterfactual blocks o_{-i} on random amm slots.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_search_reduction import sparse_table, unreduced

from mevauction.building import large, search
from mevauction.building.conflicts import conflict_groups
from mevauction.building.default import DefaultBuilder
from mevauction.building.gas import capped
from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario
from mevauction.worlds import build_world
from property_settings import examples

SETTINGS = settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(result, members):
    return (result.value, result.block.orders, result.block.bids,
            [result.best_without[m] for m in members], [result.counterfactual[m] for m in members])


def assert_bound_exact(world, members):
    bounded = search.exhaustive(world, members, bound=True)
    plain = search.exhaustive(world, members, bound=False)
    assert outcome(bounded, members) == outcome(plain, members)
    value, orders, without, paths = unreduced(world, members)
    assert bounded.value == value and bounded.block.orders == world.evaluate(orders).orders
    assert [bounded.best_without[m] for m in members] == without
    assert [bounded.counterfactual[m] for m in members] == paths


@SETTINGS
@given(st.integers(0, 10**6), st.integers(3, 7), st.booleans())
def test_bound_is_exact_on_random_table_groups(seed, n, tight_gas):
    world, members = sparse_table(seed, n)
    assert_bound_exact(capped(world, 3 * 21_000) if tight_gas else world, members)


def all_solutions(world, ids, seed, flag, monkeypatch):
    monkeypatch.setattr(search, "BRANCH_AND_BOUND", flag)
    monkeypatch.setattr(large, "FAST_SEQUENCES", flag)
    monkeypatch.setattr(large, "PREFIX_SHARING", flag)
    sol = DefaultBuilder(8, seed).solve(world, ids)
    return sol.block.orders, sol.block.bids, sol.refunds, sol.counterfactual


@pytest.mark.parametrize(("seed", "profile"), [(5, "mainnet"), (17, "mainnet"), (29, "mainnet"), (2, "contested")])
def test_default_and_refunds_equal_with_and_without_speedups(seed, profile, monkeypatch):
    """Whole default algorithm + every refund on an amm slot."""
    world = build_world(workloads.generate("amm", 160, seed, **workloads.profile_options("amm", profile)))
    ids = list(world.orders)
    assert all_solutions(world, ids, seed, True, monkeypatch) == all_solutions(world, ids, seed, False, monkeypatch)


@pytest.mark.parametrize("seed", [3, 8])
def test_bids_never_exceed_bounds_on_amm(seed):
    """Admissibility: every order with a bound pays at most it, wherever it stands."""
    world = build_world(workloads.generate("amm", 150, seed))
    for group in conflict_groups(list(world.orders), world.conflict_access):
        for order in (group, group[::-1]):
            block = world.evaluate(order)
            for oid, bid in block.bids.items():
                bound = world.bid_bound(oid)
                assert bound is None or bid <= bound


def test_table_bound_covers_every_entry():
    world, ids = sparse_table(4, 6)
    for oid in ids:
        assert world.bid_bound(oid) == max([world.defaults[oid], *world.after[oid].values()])


class CountingWorld:
    """Counts pushes through a world's cursor (to see the bound prune)."""

    def __init__(self, inner):
        self.inner, self.pushes = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def cursor(self):
        cur, outer = self.inner.cursor(), self

        class Counting:
            def push(self, oid):
                outer.pushes += 1
                return cur.push(oid)

            def pop(self):
                cur.pop()
        return Counting()


def test_bound_prunes_fixed_tip_groups():
    """Seven table orders with fixed bids on one key: all orderings differ only in
    order, so once the full block is found nothing else can beat it."""
    docs = [{"id": f"o{i}", "reads": ["k"], "writes": ["k"], "txs": [f"0x{i}"],
             "bid": {"default": 10 + i, "after": {}}} for i in range(7)]
    world = parse_scenario({"format": "mevauction.scenario/1", "world": {"kind": "table"},
                            "orders": docs}).world
    counts = {}
    for flag in (False, True):
        counting = CountingWorld(world)
        search.exhaustive(counting, list(world.orders), bound=flag)
        counts[flag] = counting.pushes
    assert counts[True] * 100 < counts[False]


@pytest.mark.parametrize(("seed", "kind"), [(1, "amm"), (6, "amm"), (2, "table"), (9, "table")])
def test_sequence_runner_offers_what_offer_sequence_offers(seed, kind):
    """Random sequences of every large group, offered both ways, leave the same
    maxima; the runner's cursor is back at the parent state after each one. (Table
    orders never fail, so there only the refusal of a repeated transaction keeps a
    victim's second bundle out.)"""
    if kind == "amm":
        world = build_world(workloads.generate("amm", 200, seed, **workloads.profile_options("amm", "contested")))
    else:
        world, _ = sparse_table(seed, 9)
    groups = [g for g in conflict_groups(list(world.orders), world.conflict_access) if len(g) >= 8]
    assert groups
    for members in groups:
        exclusive, _, _ = large.choice_sets(world, members, seed)
        set_of = {oid: k for k, group in enumerate(exclusive) for oid in group}
        plain = {o for o in set_of if world.verified_kind(o) in large.PLAIN_KINDS}
        runner = large.SequenceRunner(world, members, set_of, plain)
        for shift in range(40):
            shuffled = list(members)
            random.Random(shift).shuffle(shuffled)
            slow, fast = large.UnionMaximum(members), large.UnionMaximum(members)
            order = large.bundles_before_bare_swaps(world, shuffled, set_of)
            assert runner.bundles_first(shuffled) == order
            large.offer_sequence(world, order, slow, True)
            runner.offer(order, fast, True)
            assert (fast.value, fast.orders, fast.without, fast.without_orders) == \
                (slow.value, slow.orders, slow.without, slow.without_orders)
        assert getattr(runner.cursor, "log", []) == [] and getattr(runner.cursor, "stack", []) == []


class Capture:
    """Stands in for UnionMaximum: keeps the block offered."""

    def offer(self, value, orders, bids, counterfactuals):
        self.offered = (value, orders, dict(bids))


@pytest.mark.parametrize(("seed", "kind"), [(3, "amm"), (2, "table"), (9, "table")])
def test_prefix_sharing_gives_each_sequence_its_own_block(seed, kind):
    """``SequenceRunner.blocks`` (sequences in lexicographic order, common prefixes
    kept on the cursor) returns, per sequence, what offering it alone gives: many
    sequences share prefixes here, some are repeated, some are prefixes of others."""
    if kind == "amm":
        world = build_world(workloads.generate("amm", 200, seed, **workloads.profile_options("amm", "contested")))
    else:
        world, _ = sparse_table(seed, 9)
    members = max(conflict_groups(list(world.orders), world.conflict_access), key=len)
    rng = random.Random(seed)
    sequences = []
    for _ in range(60):
        head = list(members[:rng.randint(0, 3)])
        tail = [m for m in members if m not in head]
        rng.shuffle(tail)
        sequences.append(head + tail[:rng.randint(0, len(tail))])
    sequences += sequences[:5]
    runner = large.SequenceRunner(world, members, {}, set())
    got = runner.blocks(sequences)
    for sequence, block in zip(sequences, got):
        alone = Capture()
        large.offer_sequence(world, sequence, alone, True)
        assert block == alone.offered
    assert getattr(runner.cursor, "log", []) == [] and getattr(runner.cursor, "stack", []) == []
