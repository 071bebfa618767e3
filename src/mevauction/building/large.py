"""Feasible families for large conflict groups (seed 004 Alg. 1, lines 26–29).

A group of at least k_cutoff orders is too large for exhaustive search. Alg. 1
first checks for structure that makes the search simple (``IsFeasible`` /
``AlgFor``), and otherwise searches exhaustively over k_cutoff − 1 orders chosen by
a deterministic, seeded ``Select``. Seed 004 § 5.4 finds that this last resort is
why the default algorithm loses on blocks with large groups: it drops orders that
greedy builders include. So the family Ω searched for such a group here is the
*union* of

1. the paper's family: all orderings of all subsets of ``Select(CG, k_cutoff − 1)``;
2. the *choice family*: one block per combination of choices, where the group's
   orders are split by structure into **choice sets** — orders sharing a
   transaction (a victim's sandwiches and backruns, and the victim's own swap), and
   arbitrages over the same pools — and **plain orders** (everything else). A
   block takes at most one order from each choice set, in a seeded order of the
   sets, at the top (where searchers simulated them), then every plain order in a
   seeded order. All combinations are enumerated while their number stays within a
   budget; sets beyond it keep their first option (seeded order);
3. a few *template* blocks: every order, sorted by kind and then by seeded rank.

Why this keeps Prop. 1: every rule looks only at the orders' structure — their
transactions, kind and accessed keys — the group size and the slot seed; none
reads a bid, so Ω is the same whatever anybody bids (Prop. 1 (i)). The maximum over
Ω is exact (Prop. 1 (ii)): each family is enumerated completely and the maximum of a
union is the maximum of the families' maxima. The counterfactual maxima
max_{o∈Ω} Σ_{j≠i} b_j(o) are taken over the same union, so refunds stay exact for Ω.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from mevauction.building import search
from mevauction.building.conflicts import UnionFind
from mevauction.worlds.base import World

# Largest number of blocks the choice family enumerates for one group.
CHOICE_BUDGET = 256
# Kind orders of the template blocks: searchers' bundles first (they were simulated
# at the top of the block), user orders after; or user orders first.
TEMPLATES = (
    ("sandwich", "backrun", "arbitrage", "swap", "transfer"),
    ("backrun", "sandwich", "swap", "transfer", "arbitrage"),
)


def seeded_rank(seed: int, order_id: str) -> bytes:
    """A pseudo-random but reproducible rank: the slot seed hashed with the order id."""
    return hashlib.sha256(f"{seed}:{order_id}".encode()).digest()


def seeded_order(members: Sequence[str], seed: int) -> list[str]:
    return sorted(members, key=lambda oid: seeded_rank(seed, oid))


def select(members: Sequence[str], k: int, seed: int) -> list[str]:
    """Alg. 1 ``Select(CG, k)``: k orders chosen by seeded hash, blind to bids.

    The chosen orders keep their original relative order, so the exhaustive search
    that follows walks them deterministically.
    """
    chosen = set(seeded_order(members, seed)[:k])
    return [oid for oid in members if oid in chosen]


def share_one_transaction(world: World, members: Sequence[str]) -> bool:
    """Every order contains one common transaction: at most one can be included."""
    common = set(world.orders[members[0]].txs)
    for oid in members[1:]:
        common &= set(world.orders[oid].txs)
        if not common:
            return False
    return True


class UnionMaximum:
    """The best block over a union of families, and the best value without each b_i.

    Candidates are offered one by one; ties keep the first offered, so the result
    depends only on the (bid-independent) order in which families are walked.
    """

    def __init__(self, members: Sequence[str]):
        self.members = list(members)
        self.value = 0
        self.orders: tuple[str, ...] = ()
        self.without = {oid: 0 for oid in members}
        self.without_orders: dict[str, tuple[str, ...]] = {oid: () for oid in members}

    def offer(self, value: int, orders: tuple[str, ...], bids: dict[str, int], counterfactuals: bool) -> None:
        if value > self.value:
            self.value, self.orders = value, orders
        if counterfactuals:
            for oid in self.members:
                v = value - bids.get(oid, 0)
                if v > self.without[oid]:
                    self.without[oid] = v
                    self.without_orders[oid] = orders

    def offer_result(self, result: search.GroupResult, counterfactuals: bool) -> None:
        """A family already maximised elsewhere; members outside it bid 0 in all of it."""
        if result.value > self.value:
            self.value, self.orders = result.value, result.block.orders
        if counterfactuals:
            for oid in self.members:
                v = result.best_without.get(oid, result.value)
                if v > self.without[oid]:
                    self.without[oid] = v
                    self.without_orders[oid] = result.counterfactual.get(oid, result.block.orders)

    def result(self, world: World, counterfactuals: bool) -> search.GroupResult:
        out = search.GroupResult(search.world_block(world, self.orders))
        if counterfactuals:
            out.best_without = dict(self.without)
            out.counterfactual = dict(self.without_orders)
        return out


def choice_sets(world: World, members: Sequence[str], seed: int) -> tuple[list[list[str]], list[str]]:
    """Split a group by structure into choice sets and plain orders (seeded orders).

    Orders sharing a transaction are united (they exclude each other); remaining
    arbitrages are grouped by the exact set of keys they touch (competitors for one
    dislocation: after the first, the others find nothing left).
    """
    uf = UnionFind(members)
    owner: dict[str, str] = {}
    for oid in members:
        for tx in world.orders[oid].txs:
            if tx in owner:
                uf.union(owner[tx], oid)
            else:
                owner[tx] = oid
    clusters: dict[str, list[str]] = {}
    for oid in members:
        clusters.setdefault(uf.find(oid), []).append(oid)
    sets: list[list[str]] = []
    plain: list[str] = []
    routes: dict[frozenset[str], list[str]] = {}
    for cluster in clusters.values():
        if len(cluster) > 1:
            sets.append(cluster)
        elif world.orders[cluster[0]].kind == "arbitrage":
            routes.setdefault(world.access(cluster[0]).keys, []).append(cluster[0])
        else:
            plain.append(cluster[0])
    sets.extend(routes.values())
    sets = [seeded_order(s, seed) for s in sets]
    sets.sort(key=lambda s: seeded_rank(seed, s[0]))
    return sets, seeded_order(plain, seed)


def choice_family(world: World, members: Sequence[str], seed: int, best: UnionMaximum,
                  counterfactuals: bool) -> None:
    """Enumerate the choice family (see module docstring) with one cursor.

    A depth-first walk over the choice sets; each complete combination is followed
    by the plain orders and offered as a block. Orders that fail where they stand
    have no effect and pay nothing, as in any block.
    """
    sets, plain = choice_sets(world, members, seed)
    options: list[list[str | None]] = []
    combinations = 1
    for s in sets:
        if combinations * (len(s) + 1) <= CHOICE_BUDGET:
            combinations *= len(s) + 1
            options.append([*s, None])
        else:
            options.append([s[0]])
    cursor = world.cursor()
    path: list[str] = []
    bids: dict[str, int] = {}

    def push(oid: str) -> bool:
        out = cursor.push(oid)
        if not out.success:
            cursor.pop()
            return False
        path.append(oid)
        bids[oid] = out.bid
        return True

    def pop() -> None:
        cursor.pop()
        del bids[path.pop()]

    def finish() -> None:
        depth = len(path)
        for oid in plain:
            push(oid)
        best.offer(sum(bids.values()), tuple(path), bids, counterfactuals)
        while len(path) > depth:
            pop()

    def walk(level: int) -> None:
        if level == len(options):
            finish()
            return
        for choice in options[level]:
            if choice is None:
                walk(level + 1)
            elif push(choice):
                walk(level + 1)
                pop()
            elif None not in options[level]:
                # A fixed choice that fails here leaves the block as if it were absent.
                walk(level + 1)

    walk(0)


def template_blocks(world: World, members: Sequence[str], seed: int, best: UnionMaximum,
                    counterfactuals: bool) -> None:
    """Every order of the group, sorted by a kind template, then by seeded rank."""
    for template in TEMPLATES:
        rank = {kind: pos for pos, kind in enumerate(template)}
        sequence = sorted(members, key=lambda o: (rank.get(world.orders[o].kind, len(template)), seeded_rank(seed, o)))
        block = world.evaluate(sequence)
        best.offer(block.value, block.orders, dict(block.bids), counterfactuals)


def solve_large_group(world: World, members: Sequence[str], k_cutoff: int, seed: int,
                      counterfactuals: bool = True) -> search.GroupResult:
    """Best block of a group of ≥ k_cutoff orders within its bid-independent family."""
    if share_one_transaction(world, members):
        return search.singletons(world, members)
    if world.commutative(members):
        return search.fixed_order(world, seeded_order(members, seed))
    best = UnionMaximum(members)
    best.offer_result(search.exhaustive(world, select(members, k_cutoff - 1, seed), counterfactuals),
                      counterfactuals)
    choice_family(world, members, seed, best, counterfactuals)
    template_blocks(world, members, seed, best, counterfactuals)
    return best.result(world, counterfactuals)
