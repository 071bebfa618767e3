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
    """
    uf = UnionFind(order_ids)
    accessors: dict[str, list[str]] = {}
    written: set[str] = set()
    for oid in order_ids:
        acc = access(oid)
        for key in acc.reads | acc.writes:
            accessors.setdefault(key, []).append(oid)
        written.update(acc.writes)
    for key in written:
        members = accessors[key]
        first = members[0]
        for other in members[1:]:
            uf.union(first, other)
    groups: dict[str, list[str]] = {}
    for oid in order_ids:
        groups.setdefault(uf.find(oid), []).append(oid)
    return list(groups.values())


def conflict_free(order_ids: Sequence[str], access: Callable[[str], Access]) -> list[str]:
    """The set S of Fig. 3 step (0): orders alone in their conflict group."""
    return [g[0] for g in conflict_groups(order_ids, access) if len(g) == 1]
