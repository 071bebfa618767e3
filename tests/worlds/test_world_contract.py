"""The World/Cursor contract of mevauction.worlds.base (rules 1–8), checked on every world.

Worlds come from the registry (``WORLD_MODULES``): a world that registers is
covered here without being named, on a slot made by its own ``generate``. Each
check compares a world against itself along another path — a fresh cursor, a
second instance of the world, the other order of a pair — so none depends on the
world's bids being known in advance.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import pytest
import table_slots
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mevauction.building.conflicts import conflict_groups
from mevauction.intake import workloads
from mevauction.intake.workloads import GENERATORS
from mevauction.worlds import WORLD_MODULES, StaleCursor, build_world, world_module
from mevauction.worlds.base import GasMetering, Outcome, World

ORDERS = 32
SEED = 11
SETTINGS = settings(max_examples=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@dataclass
class Slot:
    """One generated slot of one world, with two independent instances of the world."""

    kind: str
    doc: dict[str, Any]
    world: World
    reference: World  # built from the same document: the "fresh" side of comparisons
    ids: list[str]
    conflicts: dict[str, frozenset[str]]  # order → orders it conflicts with (conflict_access)
    affecting: list[tuple[str, str]]  # (a, b): b's outcome after a differs from b's alone

    def affected_by(self, oid: str) -> list[str]:
        return [b for a, b in self.affecting if a == oid]

    @property
    def lively(self) -> list[str]:
        """Orders in some pair that affect each other: where a wrong state would show."""
        return sorted({o for pair in self.affecting for o in pair}) or self.ids

    def shares_tx(self, a: str, b: str) -> bool:
        return not set(self.world.orders[a].txs).isdisjoint(self.world.orders[b].txs)


# Worlds with no workload generator in mevauction.intake.workloads (the CLI refuses to
# generate them).
TEST_GENERATORS: dict[str, Callable[[int, int], dict[str, Any]]] = {"table": table_slots.generate}


def generated(kind: str) -> dict[str, Any]:
    generate = TEST_GENERATORS.get(kind)
    if generate is None:
        assert kind in GENERATORS, f"world {kind!r} has no generator, here or in mevauction.intake.workloads"
        generate = workloads.generator_for(kind)
    return json.loads(json.dumps(generate(ORDERS, SEED)))  # through JSON, as a file


# The evm generator starts an anvil and deploys the real contracts on it: slow.
@pytest.fixture(scope="module", params=[pytest.param(k, marks=pytest.mark.slow) if k == "evm" else k
                                        for k in sorted(WORLD_MODULES)])
def slot(request: pytest.FixtureRequest) -> Slot:
    doc = generated(request.param)
    world, reference = build_world(doc), build_world(doc)
    ids = list(world.orders)
    access = {oid: world.conflict_access(oid) for oid in ids}
    conflicts = {a: frozenset(b for b in ids if b != a and access[a].conflicts_with(access[b])) for a in ids}
    return Slot(request.param, doc, world, reference, ids, conflicts, affecting_pairs(reference, conflicts))


def affecting_pairs(world: World, conflicts: dict[str, frozenset[str]]) -> list[tuple[str, str]]:
    """Pairs of orders that succeed alone, share no transaction, and where the first
    changes the second's outcome (only conflicting orders can: rule 7)."""
    alone = {oid: walk(world, [oid])[0] for oid in conflicts}
    return [(a, b) for a in conflicts for b in sorted(conflicts[a])
            if alone[a].success and alone[b].success
            and set(world.orders[a].txs).isdisjoint(world.orders[b].txs)
            and walk(world, [a, b])[1] != alone[b]]


# --- walks ------------------------------------------------------------------------------
def walk(world: World, sequence: Sequence[str]) -> list[Outcome]:
    """Push each order on one fresh cursor, popping the failed ones: each one's outcome."""
    return after_walk(world, sequence, ())[0]


def without_shared_txs(slot: Slot, sequence: Sequence[str]) -> list[str]:
    """Rule 3: callers never place two orders that share a transaction."""
    kept: list[str] = []
    for oid in sequence:
        if not any(slot.shares_tx(oid, k) for k in kept):
            kept.append(oid)
    return kept


def after_walk(world: World, sequence: Sequence[str], probes: Sequence[str]) -> tuple[list[Outcome], list[Outcome]]:
    """Outcomes of ``sequence`` and then, on the state it leaves, of each probe pushed and popped."""
    cursor = world.cursor()
    outcomes = []
    for oid in sequence:
        out = cursor.push(oid)
        outcomes.append(out)
        if not out.success:
            cursor.pop()
    probed = []
    for oid in probes:
        probed.append(cursor.push(oid))
        cursor.pop()
    return outcomes, probed


def orders_of(slot: Slot) -> st.SearchStrategy[list[str]]:
    """Sequences of distinct orders of the slot, any length."""
    return st.permutations(slot.ids).flatmap(lambda p: st.integers(0, len(p)).map(lambda n: list(p[:n])))


# --- the declarations ---------------------------------------------------------------------
def test_registered_world_declares_its_contract(slot: Slot) -> None:
    world = slot.world
    assert callable(world_module(slot.kind).from_scenario)
    assert world.kind == slot.kind
    assert isinstance(world.disjoint_orders_commute, bool)
    assert world.max_live_cursors is None or (isinstance(world.max_live_cursors, int) and world.max_live_cursors >= 1)
    assert world.gas_metering in get_args(GasMetering)
    if world.gas_metering == "executed":
        assert isinstance(world.block_gas_limit, int) and world.block_gas_limit > 0
    else:
        assert world.block_gas_limit is None  # a declared-gas world enforces no limit


# --- rules 1 and 2: the stack, determinism -------------------------------------------------
@settings(SETTINGS, max_examples=100)
@given(data=st.data())
def test_pop_restores_exactly_and_failed_pushes_change_nothing(slot: Slot, data: st.DataObject) -> None:
    """Any program of pushes and pops: each push gives what a fresh cursor of another
    instance gives after pushing only the successful orders below it (rules 1, 2).
    Pushes are drawn from orders that affect others, so a state left wrong shows."""
    ops = data.draw(st.lists(st.one_of(st.none(), st.sampled_from(slot.lively)), min_size=1, max_size=14))
    cursor = slot.world.cursor()
    stack: list[tuple[str, bool]] = []

    def placed() -> list[str]:
        return [oid for oid, ok in stack if ok]

    def check_push(oid: str) -> Outcome:
        out = cursor.push(oid)
        assert out == walk(slot.reference, [*placed(), oid])[-1], (stack, oid)
        return out

    def probe_what(oid: str) -> None:
        """Orders that ``oid`` is known to affect see no trace of it (pushed and popped)."""
        for other in slot.affected_by(oid):
            if other not in placed() and not any(slot.shares_tx(other, p) for p in placed()):
                check_push(other)
                cursor.pop()

    for op in ops:
        if op is None:
            if stack:
                cursor.pop()
                probe_what(stack.pop()[0])
            continue
        if op in placed() or any(slot.shares_tx(op, p) for p in placed()):
            continue  # rule 3
        out = check_push(op)
        stack.append((op, out.success))
        if not out.success:
            probe_what(op)


def test_same_scenario_same_world(slot: Slot) -> None:
    """Rule 2: generate is a function of its seed; one scenario gives one world."""
    assert generated(slot.kind) == slot.doc
    world, again = slot.world, build_world(slot.doc)
    assert world.orders == again.orders
    assert all(world.access(o) == again.access(o) for o in slot.ids)
    sequence = list(slot.ids)
    random.Random(SEED).shuffle(sequence)
    block = world.evaluate(sequence)
    assert block.orders, "the generated slot should have includable orders"
    assert again.evaluate(sequence) == block == world.evaluate(sequence)


# --- rule 4: live cursors -----------------------------------------------------------------
def test_live_cursors_are_independent_or_superseded_as_declared(slot: Slot) -> None:
    world = slot.world
    assert slot.affecting, "the generated slot has no pair of orders that affect each other"
    a, b = slot.affecting[0]
    b_alone, b_after_a = walk(slot.reference, [b])[0], walk(slot.reference, [a, b])[1]
    limit = world.max_live_cursors
    if limit is None:
        first, second = world.cursor(), world.cursor()
        first.push(a)
        assert second.push(b) == b_alone  # first's push is not seen by second
        world.evaluate(slot.ids)  # nor by another walk on the world
        second.pop()
        assert first.push(b) == b_after_a
        return
    live = [world.cursor() for _ in range(limit)]
    for cursor in live:
        cursor.push(a)
    newest = world.cursor()
    with pytest.raises(StaleCursor):
        live[0].push(b)
    with pytest.raises(StaleCursor):
        live[0].pop()
    if limit == 1:  # the superseded cursor's push was undone
        assert newest.push(b) == b_alone
    world.evaluate([a])  # evaluate opens a cursor too
    with pytest.raises(StaleCursor):
        newest.push(b)


# --- rule 5: gas ------------------------------------------------------------------------
@SETTINGS
@given(data=st.data())
def test_gas_is_metered_as_declared(slot: Slot, data: st.DataObject) -> None:
    world = slot.world
    sequence = without_shared_txs(slot, data.draw(orders_of(slot)))
    outcomes = walk(world, sequence)
    if world.gas_metering == "declared":
        assert [o.gas_used for o in outcomes] == [world.orders[oid].gas for oid in sequence]
        return
    for oid in sequence[:3]:
        alone = walk(world, [oid])[0]
        if alone.success:
            assert alone.gas_used == world.orders[oid].gas, oid
    assert world.block_gas_limit is not None
    assert sum(o.gas_used for o in outcomes if o.success) <= world.block_gas_limit


def with_block_gas_limit(doc: dict[str, Any], limit: int) -> dict[str, Any]:
    """The scenario with a lower block gas limit (``world.block.gas_limit``, docs/worlds/evm.md)."""
    out = json.loads(json.dumps(doc))
    out["world"].setdefault("block", {})["gas_limit"] = limit
    return out


def test_executed_gas_never_exceeds_the_block_gas_limit(slot: Slot) -> None:
    if slot.world.gas_metering != "executed":
        pytest.skip("a declared-gas world enforces no block gas limit")
    sequence = without_shared_txs(slot, slot.ids)
    limit = sum(slot.world.orders[oid].gas for oid in sequence) // 2
    tight = build_world(with_block_gas_limit(slot.doc, limit))
    assert tight.block_gas_limit == limit
    assert sum(tight.orders[oid].gas for oid in sequence) > limit  # the limit binds
    outcomes = walk(tight, sequence)
    assert any(o.success for o in outcomes)
    assert sum(o.gas_used for o in outcomes if o.success) <= limit


# --- rule 6: evaluate ---------------------------------------------------------------------
@SETTINGS
@given(data=st.data())
def test_evaluate_is_a_cursor_walk(slot: Slot, data: st.DataObject) -> None:
    world = slot.world
    sequence = data.draw(orders_of(slot))
    block = world.evaluate(sequence)
    cursor = slot.reference.cursor()
    included: list[str] = []
    bids: dict[str, int] = {}
    for oid in sequence:
        if any(slot.shares_tx(oid, k) for k in included):
            continue
        out = cursor.push(oid)
        if out.success:
            included.append(oid)
            bids[oid] = out.bid
        else:
            cursor.pop()
    assert block.orders == tuple(included)
    assert dict(block.bids) == bids
    replay = walk(slot.reference, block.orders)
    assert all(o.success for o in replay)
    assert [o.bid for o in replay] == [block.bids[oid] for oid in block.orders]


# --- rules 7 and 8: swapping orders that do not conflict ---------------------------------
def non_conflicting_pairs(slot: Slot) -> list[tuple[str, str]]:
    """Pairs that do not conflict, those with a common conflicting order first (where a
    swap could show), then those of orders that conflict with others."""
    pairs = [(a, b) for i, a in enumerate(slot.ids) for b in slot.ids[i + 1:] if b not in slot.conflicts[a]]
    close = [(a, b) for a, b in pairs if slot.conflicts[a] & slot.conflicts[b]]
    return close or [(a, b) for a, b in pairs if slot.conflicts[a] and slot.conflicts[b]] or pairs


def check_swap(slot: Slot, data: st.DataObject, strong: bool) -> None:
    """P + [x, y] + S and P + [y, x] + S: the same outcome for every order and every probe.

    P and S are drawn mostly from orders conflicting with x or y (where a swap
    could show). Without ``strong`` (rule 7) no order conflicting with both is used.
    """
    x, y = data.draw(st.sampled_from(non_conflicting_pairs(slot)))
    near = slot.conflicts[x] | slot.conflicts[y]
    if not strong:
        near = near - (slot.conflicts[x] & slot.conflicts[y])
    others = [
        o for o in slot.ids if o not in (x, y) and (strong or not (o in slot.conflicts[x] and o in slot.conflicts[y]))
    ]
    candidates = sorted(near - {x, y}) + [o for o in others if o not in near][:4]
    if not candidates:
        candidates = others
    prefix = data.draw(st.lists(st.sampled_from(candidates), max_size=4, unique=True)) if candidates else []
    suffix = data.draw(st.lists(st.sampled_from(candidates), max_size=3, unique=True)) if candidates else []
    common = sorted(slot.conflicts[x] & slot.conflicts[y])
    if strong and common:  # an order conflicting with both: the case rule 8 adds
        suffix.insert(0, data.draw(st.sampled_from(common)))
    rest = without_shared_txs(slot, [x, y, *prefix, *[s for s in suffix if s not in prefix]])[2:]
    before = [o for o in prefix if o in rest]
    after = [o for o in rest if o not in before]
    probes = [o for o in others if o not in rest and not any(slot.shares_tx(o, k) for k in (x, y, *rest))]
    one, probed_one = after_walk(slot.world, [*before, x, y, *after], probes)
    two, probed_two = after_walk(slot.reference, [*before, y, x, *after], probes)
    by_order_one = dict(zip([*before, x, y, *after], one))
    by_order_two = dict(zip([*before, y, x, *after], two))
    assert by_order_one == by_order_two, (before, x, y, after)
    assert probed_one == probed_two, (before, x, y, after)


@settings(SETTINGS, max_examples=80)
@given(data=st.data())
def test_adjacent_orders_without_a_common_conflict_commute(slot: Slot, data: st.DataObject) -> None:
    check_swap(slot, data, strong=False)


@settings(SETTINGS, max_examples=80)
@given(data=st.data())
def test_disjoint_orders_commute_when_declared(slot: Slot, data: st.DataObject) -> None:
    if not slot.world.disjoint_orders_commute:
        pytest.skip("the world does not declare disjoint_orders_commute")
    check_swap(slot, data, strong=True)


def test_commutative_sets_give_one_block_in_every_order(slot: Slot) -> None:
    """Rule 8, ``commutative``: every set the world calls commutative, in three orders."""
    world = slot.world
    by_structure: dict[tuple[str, str | None], list[str]] = {}
    for oid, order in world.orders.items():
        by_structure.setdefault((order.kind, order.target), []).append(oid)
    candidates = conflict_groups(slot.ids, world.conflict_access) + list(by_structure.values())
    for members in candidates:
        if len(members) < 2 or not world.commutative(members):
            continue
        shuffled = list(members)
        random.Random(SEED).shuffle(shuffled)
        blocks = [world.evaluate(seq) for seq in (members, members[::-1], shuffled)]
        assert len({frozenset(b.orders) for b in blocks}) == 1, members
        assert all(dict(b.bids) == dict(blocks[0].bids) for b in blocks), members
