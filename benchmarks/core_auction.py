"""Time the auction command's work on generated amm slots, and the refunds/o* ratio.

    python benchmarks/core_auction.py [--sizes 100,500,2000] [--seeds 5] [--k-cutoff 8]

For each slot size and seed: parse the generated scenario, then time (a) the
default algorithm's o* alone, (b) o* with every counterfactual refund (one pass),
and (c) the whole mechanism (`run_auction`, what `mevauction auction` runs).
Prints medians; the ratio (b)/(a) is the cost of all m refunds relative to o*.
"""

from __future__ import annotations

import argparse
import statistics
import time

from rich.console import Console
from rich.progress import track
from rich.table import Table

from mevauction.building.conflicts import conflict_groups
from mevauction.building.default import DefaultBuilder
from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,500,2000")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--k-cutoff", type=int, default=8)
    ap.add_argument("--world", default="amm")
    args = ap.parse_args()
    table = Table(title=f"auction on generated {args.world} slots (median over {args.seeds} seeds)")
    for col in ("orders", "groups≥2", "max group", "o* ms", "o*+refunds ms", "ratio", "run_auction ms"):
        table.add_column(col, justify="right")
    gen = workloads.generator_for(args.world)
    for size in [int(s) for s in args.sizes.split(",")]:
        rows = []
        for seed in track(range(args.seeds), description=f"{size} orders"):
            scenario = parse_scenario(gen(size, seed))
            world = scenario.world
            ids = list(world.orders)
            groups = conflict_groups(ids, world.conflict_access)
            rest = [i for g in groups if len(g) > 1 for i in g]
            builder = DefaultBuilder(args.k_cutoff, scenario.seed)
            _, t_opt = timed(lambda: builder.solve(world, rest, counterfactuals=False))
            _, t_all = timed(lambda: builder.solve(world, rest, counterfactuals=True))
            _, t_mech = timed(lambda: scenario.run_auction(k_cutoff=args.k_cutoff))
            rows.append((sum(len(g) > 1 for g in groups), max(map(len, groups)), t_opt, t_all, t_mech))
        med = lambda k: statistics.median(r[k] for r in rows)
        table.add_row(str(size), f"{med(0):.0f}", f"{med(1):.0f}", f"{med(2)*1e3:.1f}", f"{med(3)*1e3:.1f}",
                      f"{statistics.median(r[3] / r[2] for r in rows):.2f}", f"{med(4)*1e3:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
