"""Conflict-group statistics of generated amm slots vs Boost+ paper § 5.2 / Fig. 5.

    PYTHONPATH=src python benchmarks/amm_calibration.py [--slots 30] [--orders 100 400 1000]

Per slot size: distribution of the number of groups of ≥ 8 orders per slot, the share
of slots with 1–3 and with exactly one such group, the median and largest group, the
share of groups of ≤ 3 orders, and groups per slot.
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter

from mevauction.building.conflicts import conflict_groups
from mevauction.intake.workloads.amm import generate
from mevauction.worlds.amm import from_scenario


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slots", type=int, default=30)
    ap.add_argument("--orders", type=int, nargs="+", default=[100, 400, 1000])
    args = ap.parse_args()
    for n in args.orders:
        large, largest, small, total = [], [], 0, 0
        for seed in range(args.slots):
            world = from_scenario(generate(n, seed))
            sizes = [len(g) for g in conflict_groups(list(world.orders), world.conflict_access)]
            large.append(sum(1 for s in sizes if s >= 8))
            largest.append(max(sizes))
            small += sum(1 for s in sizes if s <= 3)
            total += len(sizes)
        dist = Counter(large)
        print(f"{n} orders, {args.slots} slots: large groups per slot {dict(sorted(dist.items()))}; "
              f"1-3: {sum(v for k, v in dist.items() if 1 <= k <= 3) / args.slots:.0%}, "
              f"exactly 1: {dist[1] / args.slots:.0%}; largest group median {statistics.median(largest)}, "
              f"max {max(largest)}; groups <= 3 orders: {small / total:.0%}; groups/slot {total / args.slots:.0f}")


if __name__ == "__main__":
    main()
