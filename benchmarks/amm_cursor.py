"""Pushes per second of the amm world's cursor.

The default algorithm walks every ordering of every subset of up to k_cutoff − 1 = 7
orders with push/pop (Boost+ paper Alg. 1), so the cursor's push+pop is its inner loop.
This script takes the largest conflict group of a generated slot, picks 7 of its
orders with the default algorithm's seeded ``Select``, and times (1) the full walk
over all ordered subsets (13,699 pushes when nothing fails; a failed push is counted
and its subtree skipped, as the default algorithm does)
and (2) push+pop of single orders per kind at the top of the block.

    PYTHONPATH=src python benchmarks/amm_cursor.py [--orders 400] [--seed 1] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

from mevauction.building.conflicts import conflict_groups
from mevauction.building.large import select
from mevauction.intake.workloads import amm as amm_workload
from mevauction.worlds import amm


def walk(cursor, members: list[str]) -> int:
    """All orderings of all subsets, depth first; returns the number of pushes."""
    n = len(members)
    pushes = 0

    def visit(used: int) -> None:
        nonlocal pushes
        for idx in range(n):
            bit = 1 << idx
            if used & bit:
                continue
            pushes += 1
            if cursor.push(members[idx]).success:
                visit(used | bit)
            cursor.pop()

    visit(0)
    return pushes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    world = amm.from_scenario(amm_workload.generate(args.orders, args.seed))
    group = max(conflict_groups(list(world.orders), world.conflict_access), key=len)
    members = select(group, 7, args.seed)
    kinds = ", ".join(world.orders[m].kind for m in members)
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        pushes = walk(world.cursor(), members)
        best = min(best, time.perf_counter() - t0)
    print(f"walk of 7 orders ({kinds}) from the largest group ({len(group)} orders):")
    print(f"  {pushes} pushes in {best * 1000:.1f} ms (best of {args.repeat}) = {pushes / best:,.0f} pushes/s")

    per_kind: dict[str, list[str]] = defaultdict(list)
    for oid, order in world.orders.items():
        per_kind[order.kind].append(oid)
    cursor = world.cursor()
    print("push+pop at the top of the block, per order kind:")
    for kind, ids in sorted(per_kind.items()):
        ids = ids[:50]
        rounds = max(1, 20_000 // len(ids))
        t0 = time.perf_counter()
        for _ in range(rounds):
            for oid in ids:
                cursor.push(oid)
                cursor.pop()
        elapsed = time.perf_counter() - t0
        print(f"  {kind:10s} {rounds * len(ids) / elapsed:>12,.0f} push+pop/s")


if __name__ == "__main__":
    main()
