"""Random ``table`` slots for the world contract test.

The table world has no scenario generator of its own (``scenario generate``
refuses it: its bids are explicit tables, not a market), so its slots for
tests/worlds/test_world_contract.py are drawn here.
"""

from __future__ import annotations

import random
from typing import Any

from mevauction.intake.scenario import SCENARIO_FORMAT
from mevauction.worlds.base import Access
from mevauction.worlds.table import direct_conflicts


def generate(orders: int, seed: int) -> dict[str, Any]:
    """A random ``table`` slot of ``orders`` orders.

    Orders read or write one or two keys of a small pool, so conflict groups of
    several sizes appear, and some read-only accesses share keys without conflicting.
    Each bid has a few entries for *sequences* of direct-conflict predecessors (in
    both orders of two), and about one order in seven carries one of a few shared
    victim transactions, so some orders exclude each other.
    """
    rng = random.Random(seed)
    pool = [f"k{j}" for j in range(max(1, orders // 2))]
    victims = [f"0xv{j}" for j in range(max(1, orders // 6))]
    ids = [f"o{i:03d}" for i in range(orders)]
    accesses: dict[str, Access] = {}
    for oid in ids:
        touched = rng.sample(pool, min(len(pool), rng.choice((1, 1, 1, 1, 2))))
        writes = frozenset(k for k in touched if rng.random() < 0.7)
        accesses[oid] = Access(frozenset(touched) - writes, writes)
    direct = direct_conflicts(accesses)
    docs = []
    for oid in ids:
        rivals = sorted(direct[oid])
        after: dict[str, int] = {}
        for _ in range(min(3, len(rivals))):
            sequence = rng.sample(rivals, rng.randint(1, min(2, len(rivals))))
            after[",".join(sequence)] = rng.randint(0, 200) * 10**9
        txs = ["0x" + oid] + ([rng.choice(victims)] if rng.random() < 0.15 else [])
        docs.append({"id": oid, "txs": txs, "gas": rng.choice((21_000, 90_000, 150_000)),
                     "reads": sorted(accesses[oid].reads), "writes": sorted(accesses[oid].writes),
                     "bid": {"default": rng.randint(1, 100) * 10**9, "after": after}})
    return {"format": SCENARIO_FORMAT, "seed": seed, "world": {"kind": "table"}, "orders": docs, "builders": []}
