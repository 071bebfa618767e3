"""Feasible families for large conflict groups (Boost+ paper Alg. 1, lines 26–29).

A group of at least k_cutoff orders is too large for exhaustive search. Alg. 1
first checks for structure that makes the search simple (``IsFeasible`` /
``AlgFor``), and otherwise searches exhaustively over k_cutoff − 1 orders chosen by
a deterministic, seeded ``Select``. The Boost+ paper § 5.4 finds that this last resort is
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
3. a few *template* blocks: every order, sorted by kind and then by seeded rank;
4. ``shuffle_count`` seeded shuffles of every order (like the random orders of
   rbuilder's parallel builder, but drawn from the slot seed only, one generator
   per group). Every other one is executed as drawn; in the rest, within each
   exclusive set the bundles take the set's earliest places and the victim's bare
   swap the last. (That rule alone never offers a victim's bare swap while one of
   its bundles would run earlier, nor a bundle late in the block, after the user
   swaps that widen its arbitrage: rbuilder's shuffles found such blocks);
5. the *parts family* (:mod:`mevauction.building.parts`): the orders that fail
   alone at the top of the block set aside, the rest falls apart into smaller
   groups, each searched on its own, the blocks concatenated.

In 3 an order sharing a transaction with an earlier one is left out, so the first
of a victim's bundles in the sequence is the one that runs. In 4 the sequence is
executed as ``World.evaluate`` does: an order repeating a transaction already
included is refused, so when a victim's first bundle reverts at its place, its
next bundle may run.

Why this keeps Prop. 1: every rule looks only at the orders' structure — their
transactions, kind and accessed keys — the group size and the slot seed; none
reads a bid, so Ω is the same whatever anybody bids (Prop. 1 (i)); in 5, whether
an order fails alone at the top of the block is decided by its program and the
parent state, not by its bid. Which bundle of
a victim runs in 4 depends on which ones revert — a property of the orders'
programs and the state, not of their bids: an order's bid never decides whether it reverts, and where
one order's bid could decide another's (one amm sender's payment and its other
order spending from the same balance) the two are exclusive in every family,
like orders sharing a transaction (``World.exclusive_keys``) — so the executed
blocks are bid-independent too. Kinds are the world-verified ones
(``World.verified_kind``), never a sender's label. The maximum over
Ω is exact (Prop. 1 (ii)): each family is enumerated completely and the maximum of a
union is the maximum of the families' maxima. The counterfactual maxima
max_{o∈Ω} Σ_{j≠i} b_j(o) are taken over the same union, so refunds stay exact for Ω.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from mevauction.building import forked, parts, search
from mevauction.building.conflicts import UnionFind
from mevauction.building.sequences import SequenceRunner
from mevauction.worlds.base import World

# Largest number of blocks the choice family enumerates for one group.
CHOICE_BUDGET = 384
# Seeded shuffles of the whole group offered as blocks (rbuilder's parallel builder
# tries 50 random orders; these are drawn from the slot seed, never from bids).
# 300: best share 83 % → 94 % over 150 at about the same runtime as 150 before the
# exhaustive search's reduction (docs/building.md, "Decisions and measurements").
SHUFFLES = 300
# ... or, per world kind, this many per order of the group where that is more: the
# orderings to sample grow with the group. Only where a push is cheap: the amm world's
# compiled core (≈ 0.1 µs a push; 60 per order from one generator cost what 300
# reseeded shuffles did), not evm (30–100 µs a push: its p99 would exceed 1 s).
# docs/building.md, "Decisions and measurements".
PER_ORDER = {"amm": 60}
# ... but at most PUSH_BUDGET pushes (shuffles × size: 1,200 shuffles of 40 orders, 530
# of the contested profile's ≈ 90): the largest groups set the runtime's tail; half
# this budget lost contested blocks (best 97.5 → 92.5 %, docs/building.md).
PUSH_BUDGET = 48_000
# Kinds of user orders (not searchers' bundles).
PLAIN_KINDS = frozenset({"swap", "transfer"})
# Number of layouts of the choice family (see ``layouts``).
LAYOUTS = 3
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
    common = set(world.exclusive_keys(members[0]))
    for oid in members[1:]:
        common &= world.exclusive_keys(oid)
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
        # min over members of ``without``: a block worth no more cannot improve any
        # counterfactual, since value − b_i ≤ value (bids are never negative).
        self.floor = 0

    def offer(self, value: int, orders: tuple[str, ...], bids: dict[str, int], counterfactuals: bool) -> None:
        if value > self.value:
            self.value, self.orders = value, orders
        if counterfactuals and value > self.floor:
            without = self.without
            for oid in self.members:
                v = value - bids.get(oid, 0)
                if v > without[oid]:
                    without[oid] = v
                    self.without_orders[oid] = orders
            self.floor = min(without.values())

    def merge(self, later: UnionMaximum, counterfactuals: bool) -> None:
        """What offering ``later``'s candidates one by one after these would give: each
        maximum is taken from ``later`` only when strictly greater (first offered wins)."""
        if later.value > self.value:
            self.value, self.orders = later.value, later.orders
        if counterfactuals:
            for oid in self.members:
                if later.without[oid] > self.without[oid]:
                    self.without[oid] = later.without[oid]
                    self.without_orders[oid] = later.without_orders[oid]
            self.floor = min(self.without.values(), default=0)

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
            self.floor = min(self.without.values())

    def result(self, world: World, counterfactuals: bool) -> search.GroupResult:
        out = search.GroupResult(search.world_block(world, self.orders))
        if counterfactuals:
            out.best_without = dict(self.without)
            out.counterfactual = dict(self.without_orders)
        return out


def choice_sets(world: World, members: Sequence[str], seed: int) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """Split a group by structure: exclusive sets, arbitrage routes, plain orders.

    Orders sharing a transaction are united into one *exclusive set* (at most one of
    them can be in a block: a victim's sandwiches, its backruns and its own swap).
    Remaining arbitrages are grouped into *routes* by the exact set of keys they
    touch (competitors for one dislocation). Everything is in seeded order.
    """
    uf = UnionFind(members)
    owner: dict[str, str] = {}
    for oid in members:
        for tx in world.exclusive_keys(oid):
            if tx in owner:
                uf.union(owner[tx], oid)
            else:
                owner[tx] = oid
    clusters: dict[str, list[str]] = {}
    for oid in members:
        clusters.setdefault(uf.find(oid), []).append(oid)
    exclusive: list[list[str]] = []
    plain: list[str] = []
    routes: dict[frozenset[str], list[str]] = {}
    for cluster in clusters.values():
        if len(cluster) > 1:
            exclusive.append(cluster)
        elif world.verified_kind(cluster[0]) == "arbitrage":
            routes.setdefault(world.access(cluster[0]).keys, []).append(cluster[0])
        else:
            plain.append(cluster[0])

    def ordered(sets: list[list[str]]) -> list[list[str]]:
        # Within a set, searchers' bundles before bare user orders, then seeded: a set
        # the budget cannot enumerate contributes its first member.
        sets = [sorted(s, key=lambda o: (world.verified_kind(o) in PLAIN_KINDS, seeded_rank(seed, o))) for s in sets]
        return sorted(sets, key=lambda s: seeded_rank(seed, s[0]))

    return ordered(exclusive), ordered(list(routes.values())), seeded_order(plain, seed)


def option_lists(sets: list[list[str]], budget: int) -> tuple[list[list[str | None]], int]:
    """What each set may contribute: any one member or none, while the number of
    combinations stays within ``budget`` — sets with more members first, then in
    the given order; a set beyond the budget contributes its first member."""
    combinations = 1
    options: list[list[str | None]] = [[s[0]] for s in sets]
    for index in sorted(range(len(sets)), key=lambda i: -len(sets[i])):
        width = len(sets[index]) + 1
        if combinations * width <= budget:
            combinations *= width
            options[index] = [*sets[index], None]
    return options, combinations


Level = list[str | None]  # one pick from the list; None = pick nothing


class ChoiceWalk:
    """Depth-first enumeration of every block a layout allows, on one cursor.

    A layout is a sequence of levels; a level lists what may stand at that place
    (one pick). Every complete pick is offered as a block. Orders that fail where
    they stand have no effect and pay nothing, as in any block.
    """

    def __init__(self, world: World, levels: list[Level], best: UnionMaximum, counterfactuals: bool):
        self.cursor = world.cursor()
        self.levels = levels
        self.best = best
        self.counterfactuals = counterfactuals
        self.path: list[str] = []
        self.bids: dict[str, int] = {}

    def push(self, oid: str) -> bool:
        out = self.cursor.push(oid)
        if not out.success:
            self.cursor.pop()
            return False
        self.path.append(oid)
        self.bids[oid] = out.bid
        return True

    def pop_to(self, depth: int) -> None:
        while len(self.path) > depth:
            self.cursor.pop()
            del self.bids[self.path.pop()]

    def walk(self, level: int = 0) -> None:
        # Runs of single-choice levels are executed in a loop, not by recursion.
        depth = len(self.path)
        while level < len(self.levels) and len(self.levels[level]) == 1:
            only = self.levels[level][0]
            if only is not None:
                self.push(only)
            level += 1
        if level == len(self.levels):
            self.best.offer(sum(self.bids.values()), tuple(self.path), self.bids, self.counterfactuals)
        else:
            inner = len(self.path)
            for choice in self.levels[level]:
                if choice is None:
                    self.walk(level + 1)
                elif self.push(choice):
                    self.walk(level + 1)
                    self.pop_to(inner)
        self.pop_to(depth)


def layouts(exclusive: list[Level], plain: list[str], routes: list[Level], seed: int) -> list[list[Level]]:
    """Where the exclusive sets stand among the plain orders, arbitrage routes last.

    Victims of one pool trade in the same direction, so their bundles can push each
    other past their slippage limits; user swaps in between move prices back. So
    besides "all bundles at the top" (where searchers simulated them), the sets are
    also spread evenly through the plain orders, in two seeded orders.
    """
    singles: list[Level] = [[p] for p in plain]
    first: list[Level] = [*exclusive, *singles, *routes]
    out = [first]
    for shift in range(1, LAYOUTS):
        shuffled = seeded_order(plain, seed + shift)
        levels: list[Level] = []
        step = len(shuffled) / (len(exclusive) + 1)
        cursor = 0
        for index, level in enumerate(exclusive):
            until = round(step * (index + 1))
            levels.extend([p] for p in shuffled[cursor:until])
            cursor = until
            levels.append(level)
        levels.extend([p] for p in shuffled[cursor:])
        out.append(levels + routes)
    return out


def choice_family(world: World, members: Sequence[str], seed: int, best: UnionMaximum,
                  counterfactuals: bool) -> None:
    """The choice family (module docstring): one pick per exclusive set and per
    arbitrage route, in each layout; the plain orders fill the rest."""
    exclusive, routes, plain = choice_sets(world, members, seed)
    budget = max(1, CHOICE_BUDGET // LAYOUTS)
    before, used = option_lists(exclusive, budget)
    after, _ = option_lists(routes, max(1, budget // used))
    for levels in layouts(before, plain, after, seed):
        ChoiceWalk(world, levels, best, counterfactuals).walk()


def without_shared_transactions(world: World, sequence: Sequence[str]) -> list[str]:
    """Keep an order only if no earlier kept order contains one of its transactions."""
    seen: set[str] = set()
    kept = []
    for oid in sequence:
        txs = world.exclusive_keys(oid)
        if seen.isdisjoint(txs):
            kept.append(oid)
            seen.update(txs)
    return kept


def offer_sequence(world: World, sequence: Sequence[str], best: UnionMaximum, counterfactuals: bool) -> None:
    """Execute a sequence as ``World.evaluate`` does and offer the block.

    Failed orders have no effect and are left out; an order repeating a
    transaction already included is refused (its nonce is used up), so when a
    victim's first bundle in the sequence reverts, the next one may run.
    """
    cursor = world.cursor()
    push, pop = cursor.push, cursor.pop
    exclusive_keys = world.exclusive_keys
    included: list[str] = []
    bids: dict[str, int] = {}
    seen: set[str] = set()
    value = 0
    for oid in sequence:
        txs = exclusive_keys(oid)
        if not seen.isdisjoint(txs):
            continue
        out = push(oid)
        if out.success:
            included.append(oid)
            bids[oid] = out.bid
            value += out.bid
            seen.update(txs)
        else:
            pop()
    best.offer(value, tuple(included), bids, counterfactuals)


def bundles_before_bare_swaps(world: World, sequence: list[str], set_of: dict[str, int]) -> list[str]:
    """Within each exclusive set, the members' places in the sequence are kept but
    its searchers' bundles take the earliest of them and the victim's bare swap the
    last: a bundle carries the victim's swap and tip too, and once any member runs,
    the rest are refused. Decided by kind and position, never by bids."""
    places: dict[int, list[int]] = {}
    for pos, oid in enumerate(sequence):
        k = set_of.get(oid)
        if k is not None:
            places.setdefault(k, []).append(pos)
    out = list(sequence)
    for positions in places.values():
        members = sorted((sequence[p] for p in positions), key=lambda o: world.verified_kind(o) in PLAIN_KINDS)
        for pos, oid in zip(positions, members):
            out[pos] = oid
    return out


# False: every sequence through ``offer_sequence`` on a fresh cursor, as before the
# runner existed; kept so tests can check both offer the same blocks.
FAST_SEQUENCES = True
# With FAST_SEQUENCES: the shuffles share their common prefixes (``SequenceRunner.blocks``).
PREFIX_SHARING = True


def template_blocks(world: World, members: Sequence[str], seed: int, best: UnionMaximum,
                    counterfactuals: bool) -> None:
    """Every order of the group sorted by a kind template, then seeded shuffles."""
    exclusive, _, _ = choice_sets(world, members, seed)
    set_of = {oid: k for k, group in enumerate(exclusive) for oid in group}
    plain = {oid for oid in set_of if world.verified_kind(oid) in PLAIN_KINDS}
    runner = SequenceRunner(world, members, set_of, plain) if FAST_SEQUENCES else None
    for template in TEMPLATES:
        rank = {kind: pos for pos, kind in enumerate(template)}
        sequence = sorted(members, key=lambda o: (rank.get(world.verified_kind(o), len(template)),
                                                  seeded_rank(seed, o)))
        if runner is None:
            offer_sequence(world, without_shared_transactions(world, sequence), best, counterfactuals)
        else:
            runner.offer(without_shared_transactions(world, sequence), best, counterfactuals)
    base = seeded_order(members, seed)
    sequences = []
    drawn = SeededShuffles(len(base)).many(base, seed * 7919, shuffle_count(world, len(base)))
    for shift, shuffled in enumerate(drawn):
        raw = shift % 2 == 1  # every other shuffle as drawn (module docstring, 4)
        if runner is None:
            sequence = shuffled if raw else bundles_before_bare_swaps(world, shuffled, set_of)
            offer_sequence(world, sequence, best, counterfactuals)
        elif not PREFIX_SHARING:
            runner.offer(shuffled if raw else runner.bundles_first(shuffled), best, counterfactuals)
        else:
            sequences.append(shuffled if raw else runner.bundles_first(shuffled))
    if runner is not None:
        forked.offer_blocks(runner, sequences, best, counterfactuals)


class SeededShuffles:
    """Successive ``random.Random(s).shuffle`` calls on fresh copies of a list of
    ``size`` items.

    The same Fisher–Yates draws as the standard library's ``shuffle`` (each
    j < i + 1 drawn from ``getrandbits`` of (i + 1)'s bit length, redrawn while too
    large), written out so that a draw is not two method calls; the draws' bit
    lengths are computed once (tested equal to ``random.Random(s).shuffle``).
    """

    def __init__(self, size: int):
        self.rng = random.Random()
        self.draws = [(i, (i + 1).bit_length()) for i in range(size - 1, 0, -1)]

    def many(self, items: Sequence[str], seed: int, count: int) -> list[list[str]]:
        """``count`` shuffles of ``items``: ``random.Random(seed)`` shuffling a fresh
        copy of ``items`` each time (one generator: seeding one costs more than
        drawing a shuffle)."""
        self.rng.seed(seed)
        getrandbits = self.rng.getrandbits
        draws = self.draws
        shuffles = []
        for _ in range(count):
            out = list(items)
            for i, bits in draws:
                j = getrandbits(bits)
                while j > i:
                    j = getrandbits(bits)
                out[i], out[j] = out[j], out[i]
            shuffles.append(out)
        return shuffles


def shuffle_count(world: World, size: int) -> int:
    """Seeded shuffles for a group of ``size`` orders: SHUFFLES, or the world kind's
    PER_ORDER per order, within PUSH_BUDGET pushes, where that is more (structure
    only: never a bid)."""
    return max(SHUFFLES, min(PER_ORDER.get(world.kind, 0) * size, PUSH_BUDGET // max(size, 1)))


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
    def solve(part_world: World, part: Sequence[str]) -> search.GroupResult:
        return solve_group(part_world, part, k_cutoff, seed, counterfactuals)
    found = parts.parts_family(world, members, solve, counterfactuals)
    if found is not None:
        best.offer_result(found, counterfactuals)
    return best.result(world, counterfactuals)


def solve_group(world: World, members: Sequence[str], k_cutoff: int, seed: int,
                counterfactuals: bool = True) -> search.GroupResult:
    """Alg. 1 on one conflict group: alone, exhaustive below ``k_cutoff``, else the
    large-group union."""
    if len(members) == 1:
        return search.fixed_order(world, members)
    if len(members) < k_cutoff:
        return search.exhaustive(world, members, counterfactuals)
    return solve_large_group(world, members, k_cutoff, seed, counterfactuals)
