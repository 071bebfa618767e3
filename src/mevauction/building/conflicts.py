"""Conflict groups (Boost+ paper Alg. 1, ``GetConflictGroups``).

Two orders conflict when a write of one meets a read or a write of the other.
Conflict groups are the connected components of that relation. Instead of testing
pairs, we index each key to the orders that touch it and union, per key, all
accessors of a key that somebody writes: linear in the total size of the
read/write sets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from mevauction.worlds.base import Access


class UnionFind:
    __slots__ = ("parent",)

    def __init__(self, items: Iterable[str]):
        self.parent = {x: x for x in items}

    def find(self, x: str) -> str:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def conflict_groups(order_ids: Sequence[str], access: Callable[[str], Access]) -> list[list[str]]:
    """Partition ``order_ids`` into conflict groups, each in input order.

    Groups are returned in the order of their first member, so the result is a
    deterministic function of the orders and their accesses (never of bids).

    Every accessor of a key somebody writes is joined to that key's first accessor
    (the same components as joining all of them pairwise), on a union-find over
    positions with path halving: this runs once per block for every order, and
    indexes and one pass are cheaper than per-key accessor lists (issue 15, item 4;
    tested equal to the plain pairwise rule in tests/baselines/test_conflict_groups.py).
    """
    accesses = [access(oid) for oid in order_ids]
    written: set[str] = set()
    for acc in accesses:
        written.update(acc.writes)
    parent = list(range(len(accesses)))
    first: dict[str, int] = {}
    for i, acc in enumerate(accesses):
        reads, writes = acc.reads, acc.writes
        for key in writes if reads <= writes else reads | writes:
            j = first.setdefault(key, i)
            if j == i or key not in written:
                continue
            r = i
            while parent[r] != r:
                parent[r] = r = parent[parent[r]]
            while parent[j] != j:
                parent[j] = j = parent[parent[j]]
            if r != j:
                parent[max(r, j)] = min(r, j)
    groups: dict[int, list[str]] = {}
    for i, oid in enumerate(order_ids):
        r = i
        while parent[r] != r:
            r = parent[r]
        groups.setdefault(r, []).append(oid)
    return list(groups.values())


def conflict_free(order_ids: Sequence[str], access: Callable[[str], Access]) -> list[str]:
    """The set S of Fig. 3 step (0): orders alone in their conflict group."""
    return [g[0] for g in conflict_groups(order_ids, access) if len(g) == 1]
