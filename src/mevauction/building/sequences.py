"""Many sequences of one large group, executed fast and exactly (issue 15, item 4).

:class:`SequenceRunner` does what :func:`mevauction.building.large.offer_sequence` and
:func:`~mevauction.building.large.bundles_before_bare_swaps` do for the templates and
the seeded shuffles of a large group, with less work per sequence; the results are
the same (``tests/baselines/test_branch_and_bound.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mevauction.worlds.base import World

if TYPE_CHECKING:
    from mevauction.building.large import UnionMaximum


# False: the loop in ``SequenceRunner.blocks`` even where the cursor offers it compiled
# (``sequence_blocks``); kept so tests can check both give the same blocks.
FAST_CURSOR_LOOP = True


class SequenceRunner:
    """``offer_sequence`` and ``bundles_before_bare_swaps`` for many sequences of one
    group, with what they look up per order computed once (issue 15, item 4).

    One cursor serves every sequence: after a sequence is offered, its orders are
    popped, which restores the parent state exactly (the cursor's undo log), instead
    of copying the world's whole state for a fresh cursor each time. An order whose
    exclusive keys no other member holds can never be refused, so its check is
    skipped. Executes the same orders at the same places as the two functions, so
    it offers the same blocks with the same bids (tested equal).
    """

    def __init__(self, world: World, members: Sequence[str], set_of: dict[str, int], plain: set[str]):
        self.cursor = world.cursor()
        keys = {oid: world.exclusive_keys(oid) for oid in members}
        holders: dict[str, int] = {}
        for txs in keys.values():
            for tx in txs:
                holders[tx] = holders.get(tx, 0) + 1
        # Only orders sharing a key with another member need the "already included" check.
        self.shared = {oid: txs for oid, txs in keys.items() if any(holders[tx] > 1 for tx in txs)}
        self.set_of = set_of
        self.plain = plain  # members of exclusive sets that are bare user orders
        self.index = {oid: i for i, oid in enumerate(members)}

    def bundles_first(self, sequence: list[str]) -> list[str]:
        """:func:`bundles_before_bare_swaps` (a stable sort of each set by "is plain")."""
        set_of, plain = self.set_of, self.plain
        places: dict[int, list[int]] = {}
        bundles: dict[int, list[str]] = {}
        bare: dict[int, list[str]] = {}
        for pos, oid in enumerate(sequence):
            k = set_of.get(oid)
            if k is not None:
                if k not in places:
                    places[k], bundles[k], bare[k] = [], [], []
                places[k].append(pos)
                (bare if oid in plain else bundles)[k].append(oid)
        out = list(sequence)
        for k, positions in places.items():
            for pos, oid in zip(positions, bundles[k] + bare[k]):
                out[pos] = oid
        return out

    def offer(self, sequence: Sequence[str], best: UnionMaximum, counterfactuals: bool) -> None:
        """:func:`offer_sequence` on the shared cursor, which is left empty again."""
        cursor = self.cursor
        push, pop = cursor.push, cursor.pop
        # A world's cursor may offer ``try_push`` (bid, or None with nothing to pop):
        # the same execution without building an Outcome per order.
        try_push = getattr(cursor, "try_push", None)
        shared = self.shared
        included: list[str] = []
        bids: dict[str, int] = {}
        seen: set[str] = set()
        value = 0
        for oid in sequence:
            txs = shared.get(oid)
            if txs is not None and not seen.isdisjoint(txs):
                continue
            if try_push is not None:
                bid = try_push(oid)
                if bid is None:
                    continue
            else:
                out = push(oid)
                if not out.success:
                    pop()
                    continue
                bid = out.bid
            included.append(oid)
            bids[oid] = bid
            value += bid
            if txs is not None:
                seen.update(txs)
        for _ in included:
            pop()
        best.offer(value, tuple(included), bids, counterfactuals)


    def blocks(self, sequences: Sequence[Sequence[str]]) -> list[tuple[int, tuple[str, ...], dict[str, int]]]:
        """Per sequence, the block ``offer`` would offer: (value, included, bids).

        The sequences are executed in lexicographic order, so a sequence keeps the
        prefix it shares with the one before on the cursor (popped back only to
        where they differ). An order's outcome depends only on the orders before it,
        so every block is the one its own sequence gives; the caller offers them in
        the original order, which keeps the tie-breaking.
        """
        cursor = self.cursor
        push, pop = cursor.push, cursor.pop
        try_push = getattr(cursor, "try_push", None)
        shared, index = self.shared, self.index
        out: list[tuple[int, tuple[str, ...], dict[str, int]]] = [(0, (), {})] * len(sequences)
        ordered = sorted(range(len(sequences)), key=lambda k: [index[o] for o in sequences[k]])
        # A cursor may run this very loop itself (the compiled amm core: no Python call
        # per order; tests/amm/test_amm_core.py checks it gives what the loop below gives).
        fast = getattr(cursor, "sequence_blocks", None)
        if fast is not None and FAST_CURSOR_LOOP:
            for s, block in zip(ordered, fast([list(sequences[k]) for k in ordered], shared)):
                out[s] = block
            return out
        current: Sequence[str] = ()
        frames: list[int | None] = []  # per position of ``current``: its bid, None if not in the block
        included: list[str] = []
        bids: dict[str, int] = {}
        seen: set[str] = set()
        value = 0
        for s in ordered:
            sequence = sequences[s]
            common, limit = 0, min(len(sequence), len(current))
            while common < limit and sequence[common] == current[common]:
                common += 1
            while len(frames) > common:
                bid = frames.pop()
                if bid is not None:
                    oid = included.pop()
                    pop()
                    del bids[oid]
                    value -= bid
                    txs = shared.get(oid)
                    if txs is not None:
                        seen.difference_update(txs)  # exactly what it added: they were new
            for oid in sequence[common:]:
                txs = shared.get(oid)
                if txs is not None and not seen.isdisjoint(txs):
                    frames.append(None)
                    continue
                if try_push is not None:
                    got = try_push(oid)
                else:
                    outcome = push(oid)
                    got = outcome.bid if outcome.success else None
                    if got is None:
                        pop()
                frames.append(got)
                if got is None:
                    continue
                included.append(oid)
                bids[oid] = got
                value += got
                if txs is not None:
                    seen.update(txs)
            current = sequence
            out[s] = (value, tuple(included), dict(bids))
        for _ in included:
            pop()
        return out
