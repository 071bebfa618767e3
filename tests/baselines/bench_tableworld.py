"""A random ``table``-world workload for harness tests (the ``amm`` generator is
the real one): orders touch one or two keys from a small pool, so conflict groups
of all sizes appear, and each bid depends on a few predecessor sequences."""

from __future__ import annotations

import random

from mevauction.worlds.table import from_scenario  # noqa: F401  (the world module API)


def generate(orders: int, seed: int, **_options) -> dict:
    rng = random.Random(seed)
    pool = [f"k{j}" for j in range(max(1, orders // 2))]
    keys = {f"o{i:03d}": rng.sample(pool, rng.choice((1, 1, 1, 1, 1, 2))) for i in range(orders)}
    docs = []
    for oid, ks in keys.items():
        rivals = [o for o, other in keys.items() if o != oid and set(other) & set(ks)]
        after = {}
        for _ in range(min(3, len(rivals))):
            seq = rng.sample(rivals, rng.randint(1, min(2, len(rivals))))
            after[",".join(sorted(seq))] = rng.randint(0, 200) * 10**9
        docs.append({"id": oid, "gas": rng.choice((21_000, 90_000, 150_000)), "reads": ks, "writes": ks,
                     "bid": {"default": rng.randint(1, 100) * 10**9, "after": after}})
    return {"format": "mevauction.scenario/1", "world": {"kind": "bench-table"}, "orders": docs}
