"""The amm workload's shape against seed 004 § 5.2 (calibration of ``--profile``).

Per block (same block seeds as the bench): the largest conflict group, the number of
groups of >= 8 orders, the share of conflict-free orders, and the block value that
mp-ordering reaches (a cheap lower bound on the best block's value). ``--set`` overrides
a profile knob for a calibration sweep, e.g. ``--set zipf=1.2 --set mev_share=0.04``.

    PYTHONPATH=src python benchmarks/workload_shape.py --profile mainnet --blocks 60 --seed 1
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

from mevauction.building.conflicts import conflict_groups
from mevauction.building.registry import make_builder
from mevauction.evaluation.harness import block_seed
from mevauction.intake.workloads import amm
from mevauction.worlds import build_world

ETH = 10**18


def shape(profile: str, blocks: int, orders: int, seed: int) -> dict:
    rows = []
    for index in range(blocks):
        scenario = amm.generate(orders, block_seed(seed, index), profile=profile)
        world = build_world(scenario)
        ids = list(world.orders)
        sizes = [len(g) for g in conflict_groups(ids, world.conflict_access)]
        value = make_builder("mp-ordering", block_gas_limit=scenario["block_gas_limit"]).build(world, ids).value
        rows.append((max(sizes), sum(1 for s in sizes if s >= 8), sum(1 for s in sizes if s == 1) / len(ids), value))
    largest = [r[0] for r in rows]
    n = len(rows)
    return {
        "largest_median": statistics.median(largest),
        "largest_le10": sum(1 for x in largest if x <= 10) / n,
        "exactly_one_ge8": sum(1 for r in rows if r[1] == 1) / n,
        "fewer_than_4_ge8": sum(1 for r in rows if r[1] < 4) / n,
        "conflict_free": statistics.median(r[2] for r in rows),
        "value_median_eth": statistics.median(r[3] for r in rows) / ETH,
        "value_gt_1eth": sum(1 for r in rows if r[3] > ETH) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="mainnet")
    parser.add_argument("--blocks", type=int, default=60)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="knob=value (Profile field)")
    args = parser.parse_args()
    base = amm.PROFILES[args.profile]
    changes: dict = {}
    for item in args.set:
        key, _, raw = item.partition("=")
        changes[key] = tuple(float(x) for x in raw.split(",")) if "," in raw else float(raw)
    amm.PROFILES[args.profile] = dataclasses.replace(base, **changes)
    out = shape(args.profile, args.blocks, args.orders, args.seed)
    print(" ".join(f"{k}={v:.3g}" for k, v in out.items()), changes)


if __name__ == "__main__":
    main()
