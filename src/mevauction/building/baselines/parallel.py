"""rbuilder's parallel builder (``parallel``).

flashbots/rbuilder ``building/builders/parallel_builder`` (docs/building.md, "rbuilder's
builders"), re-derived for one block:

1. simulate every order at the top of the block (failed ones are left out);
2. group them with rbuilder's conflict definition — two orders conflict when the
   keys one reads meet the keys the other writes, in either direction (two orders
   that only write a key do not conflict). A transaction shared by two bundles
   counts as read and written by both: its sender's nonce is;
3. resolve each group on its own, from the parent state: try the candidate
   sequences below, execute each (failed orders skipped) and keep the sequence with
   the highest total profit (the first one found on ties);
   - greedy by profit and greedy by mev-gas-price, always;
   - all permutations when the group has at most 3 orders;
   - otherwise 50 seeded random shuffles, longest-bundle-first, and the two
     greedy orders reversed;
4. sort the groups' best sequences by their profit, highest first, and commit them
   one after another on one block (orders that now fail or do not fit are skipped).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mevauction.building.baselines.simulation import (
    DEFAULT_BLOCK_GAS_LIMIT,
    PartialBlock,
    SimValue,
    simulate_top_of_block,
)
from mevauction.building.conflicts import UnionFind
from mevauction.worlds.base import Access, Block, World

MAX_LENGTH_FOR_ALL_PERMUTATIONS = 3
NUMBER_OF_RANDOM_SEQUENCES = 50


def parallel_access(world: World, order_id: str) -> Access:
    """The read/write set the parallel builder groups by: the world's, plus each
    transaction hash as both read and written (a shared nonce)."""
    base = world.access(order_id)
    txs = frozenset(f"tx:{h}" for h in world.orders[order_id].txs)
    return Access(base.reads | txs, base.writes | txs)


def parallel_conflict_groups(world: World, order_ids: Sequence[str]) -> list[list[str]]:
    """Groups under rbuilder's read-meets-write rule, each in input order.

    For one key with readers R and writers W, every reader conflicts with every
    other writer and vice versa; when both are non-empty all of R ∪ W end up
    connected, so uniting them per key is exact and linear.
    """
    readers: dict[str, list[str]] = {}
    writers: dict[str, list[str]] = {}
    for oid in order_ids:
        access = parallel_access(world, oid)
        for key in access.reads:
            readers.setdefault(key, []).append(oid)
        for key in access.writes:
            writers.setdefault(key, []).append(oid)
    uf = UnionFind(order_ids)
    for key, ws in writers.items():
        members = readers.get(key)
        if not members:
            continue
        first = members[0]
        for other in itertools.chain(members[1:], ws):
            uf.union(first, other)
    groups: dict[str, list[str]] = {}
    for oid in order_ids:
        groups.setdefault(uf.find(oid), []).append(oid)
    return list(groups.values())


@dataclass(frozen=True, slots=True)
class Resolution:
    """A group's best sequence (the orders that executed) and its total profit."""

    profit: int
    orders: tuple[str, ...]


def greedy(orders: list[str], key: Callable[[str], int], reverse: bool = False) -> list[str]:
    """Highest key first (lowest first if ``reverse``); stable, so ties keep id order."""
    return sorted(orders, key=key) if reverse else sorted(orders, key=lambda o: -key(o))


def candidate_sequences(world: World, group: list[str], sims: dict[str, SimValue],
                        seed: int) -> list[list[str]]:
    """The sequences rbuilder's conflict tasks try for one group, in a fixed order."""
    orders = sorted(group)

    def profit(oid: str) -> int:
        return sims[oid].profit

    def mgp(oid: str) -> int:
        return sims[oid].mev_gas_price

    sequences = [greedy(orders, profit), greedy(orders, mgp)]
    if len(orders) <= MAX_LENGTH_FOR_ALL_PERMUTATIONS:
        sequences.extend(list(p) for p in itertools.permutations(orders))
        return sequences
    rng = random.Random(seed)
    shuffled = list(orders)
    for _ in range(NUMBER_OF_RANDOM_SEQUENCES):
        rng.shuffle(shuffled)
        sequences.append(list(shuffled))
    sequences.append(sorted(orders, key=lambda o: (-len(world.orders[o].txs), -profit(o))))
    sequences.append(greedy(orders, profit, reverse=True))
    sequences.append(greedy(orders, mgp, reverse=True))
    return sequences


def execute_sequence(world: World, sequence: Sequence[str], gas_limit: int) -> Resolution:
    """Run a sequence from the parent state, skipping orders that fail."""
    block = PartialBlock(world, gas_limit)
    for oid in sequence:
        block.try_commit(oid)
    return Resolution(sum(block.bids.values()), tuple(block.orders))


def resolve_group(world: World, group: list[str], sims: dict[str, SimValue],
                  seed: int, gas_limit: int) -> Resolution:
    if len(group) == 1:
        return Resolution(sims[group[0]].profit, (group[0],))
    sequences = candidate_sequences(world, group, sims, seed)
    best = execute_sequence(world, sequences[0], gas_limit)
    for sequence in sequences[1:]:
        result = execute_sequence(world, sequence, gas_limit)
        if result.profit > best.profit:
            best = result
    return best


class ParallelBuilder:
    """``parallel``: rbuilder's conflict-group builder."""

    name = "parallel"
    OPTIONS = ("block_gas_limit", "seed")

    def __init__(self, block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT, seed: int = 0):
        self.block_gas_limit = block_gas_limit
        self.seed = seed

    def build(self, world: World, order_ids: Sequence[str]) -> Block:
        sims = simulate_top_of_block(world, order_ids)
        groups = parallel_conflict_groups(world, [o for o in order_ids if o in sims])
        # rbuilder seeds each group's shuffles with the group's id; ours is its index.
        resolutions = [
            resolve_group(world, group, sims, self.seed * 1_000_003 + index, self.block_gas_limit)
            for index, group in enumerate(groups)
        ]
        resolutions.sort(key=lambda r: -r.profit)
        block = PartialBlock(world, self.block_gas_limit)
        for resolution in resolutions:
            for oid in resolution.orders:
                block.try_commit(oid)
        return block.block()
